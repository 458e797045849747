"""Where a command works: a server (embedded, DSN or container) plus one database on it.

On servers ctxbench runs itself, it creates its own database and marks it with a comment,
so that ``db reset`` can prove ownership before dropping anything. With ``--dsn`` the
database named in the DSN is used as is and never dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

from ctxbench import __version__
from ctxbench.db import settings as server_settings
from ctxbench.db.connect import check_server, connect
from ctxbench.db.containers import ContainerServer
from ctxbench.db.dsn import mask_password
from ctxbench.db.embedded import EmbeddedServer, default_home
from ctxbench.db.external import ExternalServer
from ctxbench.errors import NotOwnedError, UsageError

DEFAULT_DATABASE = "ctxbench"
OWNER_COMMENT = "ctxbench:owned"
BACKENDS = ("embedded", "dsn", "testcontainers")


class Server(Protocol):
    kind: str

    def up(self) -> bool: ...
    def down(self) -> bool: ...
    def restart(self) -> None: ...
    def is_running(self) -> bool: ...
    def status(self) -> dict: ...
    def dsn(self, dbname: str = ...) -> str: ...


@dataclass
class Target:
    server: Server
    database: str

    @property
    def kind(self) -> str:
        return self.server.kind

    @property
    def can_restart(self) -> bool:
        return self.server.kind in ("embedded", "testcontainers")

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.database)

    @property
    def masked_dsn(self) -> str:
        return mask_password(self.dsn)

    def connect(self, **kwargs) -> psycopg.Connection:
        return connect(self.dsn, **kwargs)

    def admin_connect(self) -> psycopg.Connection:
        if self.server.kind == "dsn":
            return connect(self.dsn)
        return connect(self.server.dsn("postgres"))


def make_server(backend: str | None = None, *, dsn: str | None = None, home: Path | None = None,
                settings: Mapping[str, object] | None = None, image: str | None = None) -> Server:
    if dsn is not None and not dsn.strip():
        raise UsageError("--dsn is empty; give a connection string such as "
                         "'postgresql://user@host:5432/db', or leave --dsn out for the embedded server")
    dsn = dsn or os.environ.get("CTXBENCH_DSN") or None
    backend = backend or ("dsn" if dsn else "embedded")
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r} is not allowed; allowed: {', '.join(BACKENDS)}")
    if backend == "dsn":
        if not dsn:
            raise UsageError("--backend dsn needs --dsn or CTXBENCH_DSN")
        return ExternalServer(dsn)
    if dsn:
        raise UsageError(f"--dsn was given together with --backend {backend}; pick one")
    if backend == "testcontainers":
        return ContainerServer(image) if image else ContainerServer()
    return EmbeddedServer(home or default_home(), server_settings.merged(settings))


def open_target(server: Server, database: str | None = None, *, create: bool = True) -> Target:
    """Bring the server up (a no-op if it runs), check it, and make sure the database exists."""
    server.up()
    if server.kind == "dsn":
        db = database or getattr(server, "database", None) or "postgres"
        target = Target(server, db)
        with target.connect() as conn:
            check_server(conn)
        return target
    target = Target(server, database or DEFAULT_DATABASE)
    with target.admin_connect() as conn:
        check_server(conn)
        if create and not database_exists(conn, target.database):
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateDatabase):
                return target  # created meanwhile by a parallel command, which marks it
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(target.database), sql.Literal(f"{OWNER_COMMENT} {__version__}")))
    return target


def database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def database_owned(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    return bool(row and row[0] and row[0].startswith(OWNER_COMMENT))


def drop_database(target: Target) -> bool:
    """Drop the target database, but only one ctxbench created and marked. False if there was
    no such database."""
    if target.kind == "dsn":
        raise NotOwnedError("ctxbench never drops a database given by --dsn")
    with target.admin_connect() as conn:
        if not database_exists(conn, target.database):
            return False
        if not database_owned(conn, target.database):
            raise NotOwnedError(f"database {target.database!r} was not created by ctxbench "
                                "(no ctxbench comment on it); it was left untouched")
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(target.database)))
    return True
