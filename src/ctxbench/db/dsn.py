"""DSN helpers: masking secrets and switching databases without losing other options."""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ctxbench.errors import UsageError

_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@]*:)([^@]*)(@)")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"']+)", re.IGNORECASE)


def mask_password(text: str) -> str:
    """Replace any password in a DSN (URL or key=value form) or in free text with ``***``."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    return _KV_PASSWORD.sub(r"\1***", text)


def parse(dsn: str) -> dict[str, str]:
    """Parse a DSN, turning libpq's complaint into a usage error that hides the password."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception as exc:  # psycopg raises ProgrammingError with libpq's text
        raise UsageError(f"invalid DSN {mask_password(dsn)!r}: {mask_password(str(exc))}") from exc
    port = params.get("port", "")
    if port and not all(p.strip().isdigit() and 0 < int(p) < 65536 for p in port.split(",")):
        raise UsageError(f"invalid DSN {mask_password(dsn)!r}: port {port!r} is not a TCP port "
                         "(1 .. 65535)")
    return params


def with_database(dsn: str, dbname: str) -> str:
    """The same connection options pointed at another database."""
    return make_conninfo(dsn, dbname=dbname)


def database_of(dsn: str) -> str | None:
    return parse(dsn).get("dbname")


def for_child_process(dsn: str) -> tuple[str, dict[str, str]]:
    """(DSN without its password, environment carrying it): what a child process such as
    pgbench gets, so no password ever appears on a command line (visible in ``ps``)."""
    params = parse(dsn)
    password = params.pop("password", None)
    env = {"PGPASSWORD": password} if password else {}
    return make_conninfo("", **params), env
