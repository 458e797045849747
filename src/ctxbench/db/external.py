"""An existing server given by DSN (a cluster's PostgreSQL, CI service, a colleague's box).

ctxbench cannot restart it or drop its OS cache, so "cold" degrades to evicting shared
buffers (when pg_buffercache allows) and the results say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctxbench.db import dsn as dsnlib


@dataclass
class ExternalServer:
    url: str

    kind = "dsn"

    def __post_init__(self) -> None:
        dsnlib.parse(self.url)  # fail early, with the password masked

    def dsn(self, dbname: str | None = None) -> str:
        return dsnlib.with_database(self.url, dbname) if dbname else self.url

    @property
    def database(self) -> str | None:
        return dsnlib.database_of(self.url)

    def up(self) -> bool:
        return False

    def down(self) -> bool:
        return False

    def restart(self) -> None:
        from ctxbench.errors import UsageError

        raise UsageError("a server given by --dsn cannot be restarted by ctxbench")

    def is_running(self) -> bool:
        return True

    def status(self) -> dict:
        return {"backend": self.kind, "dsn": dsnlib.mask_password(self.url)}
