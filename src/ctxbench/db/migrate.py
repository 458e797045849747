"""Apply the Kubernaut schema (``migrations/NNN_*.sql``) and optional variants, idempotently.

Applied files are recorded with their SHA-256 in ``ctxbench.schema_migrations``; that record
is also ctxbench's proof of ownership: tables with the workload's names but no record were
made by someone else, and ctxbench refuses to touch them.

A variant (``migrations/variants/NAME.sql``) has an "up" part and, after a line
``-- ctxbench:down``, a "down" part, so a scenario can switch it on and off again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ctxbench.db.connect import scalar
from ctxbench.errors import NotOwnedError, UsageError

WORKLOAD_TABLES = ("resource_references", "action_histories", "resource_action_traces")
DOWN_MARKER = "-- ctxbench:down"

CATALOG_DDL = """
CREATE SCHEMA IF NOT EXISTS ctxbench;
CREATE TABLE IF NOT EXISTS ctxbench.schema_migrations (
    version    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""


def migrations_dir() -> Path:
    """``$CTXBENCH_MIGRATIONS``, else the repository's ``migrations/`` next to ``src/``."""
    env = os.environ.get("CTXBENCH_MIGRATIONS")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "migrations"
    if not path.is_dir():
        raise UsageError(f"migrations folder not found at {path}; set CTXBENCH_MIGRATIONS "
                         "or install ctxbench from its repository (pip install -e .)")
    return path


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_dir()
    found = []
    for path in sorted(folder.glob("[0-9][0-9][0-9]_*.sql")):
        version, _, rest = path.stem.partition("_")
        found.append(Migration(version, rest, path))
    return found


def available_variants(folder: Path | None = None) -> dict[str, Path]:
    folder = (folder or migrations_dir()) / "variants"
    return {p.stem: p for p in sorted(folder.glob("*.sql"))}


def existing_workload_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY(%s) ORDER BY 1",
        (list(WORKLOAD_TABLES),),
    ).fetchall()
    return [r[0] for r in rows]


def applied(conn: psycopg.Connection) -> dict[str, str]:
    """version -> sha256 of what ctxbench applied here; empty if ctxbench never migrated."""
    exists = scalar(conn, "SELECT to_regclass('ctxbench.schema_migrations')")
    if exists is None:
        return {}
    return dict(conn.execute("SELECT version, sha256 FROM ctxbench.schema_migrations").fetchall())


def owns_schema(conn: psycopg.Connection) -> bool:
    return "001" in applied(conn)


def guard_foreign_tables(conn: psycopg.Connection, where: str) -> None:
    """Refuse to work on workload tables that ctxbench did not create."""
    tables = existing_workload_tables(conn)
    if tables and not owns_schema(conn):
        raise NotOwnedError(
            f"{where} already has table(s) {', '.join(tables)} that ctxbench did not create; "
            "ctxbench will not modify or drop them. Point ctxbench at another database "
            "(--database NAME, or a DSN naming an empty database)."
        )


def migrate(conn: psycopg.Connection, *, where: str = "the database",
            variants: list[str] | None = None) -> list[str]:
    """Apply pending migrations, then bring variants to exactly ``variants``. Returns what ran."""
    guard_foreign_tables(conn, where)
    ran: list[str] = []
    with conn.transaction():
        conn.execute(CATALOG_DDL)
    done = applied(conn)
    for mig in discover():
        if mig.version in done:
            if done[mig.version] != mig.sha256:
                raise UsageError(
                    f"migration {mig.path.name} changed after it was applied to {where}; "
                    "re-create the database (ctxbench db reset) instead of editing applied files"
                )
            continue
        with conn.transaction():
            conn.execute(mig.text)
            conn.execute("INSERT INTO ctxbench.schema_migrations (version, name, sha256) "
                         "VALUES (%s, %s, %s)", (mig.version, mig.name, mig.sha256))
        ran.append(mig.path.name)
    if variants is not None:
        ran += set_variants(conn, variants)
    return ran


def _split_variant(path: Path) -> tuple[str, str]:
    up, marker, down = path.read_text().partition(DOWN_MARKER)
    if not marker:
        raise UsageError(f"variant {path} has no '{DOWN_MARKER}' section")
    return up, down


def set_variants(conn: psycopg.Connection, wanted: list[str]) -> list[str]:
    """Apply wanted variants not yet applied and revert applied ones not wanted."""
    known = available_variants()
    unknown = [v for v in wanted if v not in known]
    if unknown:
        raise UsageError(f"unknown schema variant(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(known) or '(none)'}")
    done = {k.removeprefix("variant:") for k in applied(conn) if k.startswith("variant:")}
    ran = []
    for name in sorted(done - set(wanted)):
        _, down = _split_variant(known[name]) if name in known else ("", "")
        with conn.transaction():
            if down.strip():
                conn.execute(down)
            conn.execute("DELETE FROM ctxbench.schema_migrations WHERE version = %s",
                         (f"variant:{name}",))
        ran.append(f"-{name}")
    for name in wanted:
        if name in done:
            continue
        up, _ = _split_variant(known[name])
        with conn.transaction():
            conn.execute(up)
            conn.execute("INSERT INTO ctxbench.schema_migrations (version, name, sha256) "
                         "VALUES (%s, %s, %s)",
                         (f"variant:{name}", name, hashlib.sha256(known[name].read_bytes()).hexdigest()))
        ran.append(f"+{name}")
    return ran


def applied_variants(conn: psycopg.Connection) -> list[str]:
    return sorted(k.removeprefix("variant:") for k in applied(conn) if k.startswith("variant:"))
