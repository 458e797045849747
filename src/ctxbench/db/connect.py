"""Opening connections with errors a user can act on, and reading what the server is."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import psycopg

from ctxbench.db.dsn import mask_password
from ctxbench.errors import InfraError

if TYPE_CHECKING:  # psycopg >= 3.3 names the query types Connection.execute takes
    from psycopg.abc import Params
    from psycopg.abc import QueryNoTemplate as Query

MIN_SERVER_VERSION = 140000  # partitioned-table features used by the schema
MIN_PGVECTOR = (0, 5, 0)


def connect(dsn: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection:
    """psycopg.connect, but a failure is an InfraError naming the (masked) target."""
    kwargs.setdefault("connect_timeout", 10)
    try:
        return psycopg.connect(dsn, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        raise InfraError(f"cannot connect to {mask_password(dsn)}: "
                         f"{mask_password(str(exc)).strip()}") from exc


def one_row(conn: psycopg.Connection, query: Query, params: Params | None = None) -> tuple[Any, ...]:
    """The row of a statement that always returns exactly one (SHOW, an aggregate without GROUP BY,
    ``SELECT f(...)``); a missing row is an InfraError naming the statement, not a TypeError."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise InfraError(f"the server returned no row for {query!r}")
    return row


def scalar(conn: psycopg.Connection, query: Query, params: Params | None = None) -> Any:
    """The first column of :func:`one_row`."""
    return one_row(conn, query, params)[0]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-")[0].split(".") if p.isdigit())


def check_server(conn: psycopg.Connection) -> dict[str, Any]:
    """Verify the server can host the workload; say exactly what is missing if not."""
    num = int(scalar(conn, "SHOW server_version_num"))
    version = scalar(conn, "SHOW server_version")
    if num < MIN_SERVER_VERSION:
        raise InfraError(f"PostgreSQL {version} is too old: ctxbench needs 14 or newer "
                         "(the Context API shipped against 16)")
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if row is None:
        raise InfraError(
            f"pgvector is not available on this server (PostgreSQL {version}): "
            "pg_available_extensions has no 'vector'. Install pgvector >= 0.5 for this "
            "PostgreSQL version, or use the embedded default (no --dsn)."
        )
    available = row[1] or row[0]
    if _version_tuple(available) < MIN_PGVECTOR:
        raise InfraError(f"pgvector {available} is too old: ctxbench needs 0.5 or newer")
    return {"server_version": version, "server_version_num": num, "pgvector_available": available,
            "pgvector_installed": row[1]}


def server_facts(conn: psycopg.Connection) -> dict[str, Any]:
    """Versions and every setting that differs from its default: what reproduces a run."""
    facts: dict[str, Any] = {
        "server_version": scalar(conn, "SHOW server_version"),
    }
    exts = conn.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall()
    facts["extensions"] = {name: ver for name, ver in exts}
    rows = conn.execute(
        "SELECT name, setting, unit FROM pg_settings "
        "WHERE source NOT IN ('default', 'override', 'client') ORDER BY name"
    ).fetchall()
    facts["settings"] = {n: with_unit(s, u) for n, s, u in rows}
    return facts


def with_unit(setting: str, unit: str | None) -> str:
    """pg_settings' value in its unit: ``1800`` s → ``1800s``; a unit of several base units
    (``8kB`` pages) multiplies: shared_buffers ``262144`` × ``8kB`` → ``2097152kB``; ``-1``
    ("set automatically") stays ``-1``."""
    if not unit or setting.startswith("-"):
        return setting
    m = re.fullmatch(r"(\d+)(\D+)", unit)
    if m and setting.isdigit():
        return f"{int(setting) * int(m.group(1))}{m.group(2)}"
    return f"{setting}{unit}"
