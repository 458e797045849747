"""A throwaway ``pgvector/pgvector`` container via testcontainers, where a Docker engine runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctxbench.errors import InfraError, UsageError

if TYPE_CHECKING:  # testcontainers is optional (the containers extra)
    from testcontainers.postgres import PostgresContainer

DEFAULT_IMAGE = "pgvector/pgvector:pg18"


def docker_available() -> tuple[bool, str]:
    """(True, "") when a Docker engine answers, else (False, why) for a clear error or skip."""
    try:
        import docker  # installed with testcontainers
    except ImportError:
        return False, "the testcontainers backend needs `pip install 'ctxbench[containers]'`"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        return True, ""
    except Exception as exc:
        return False, f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:200]})"


@dataclass
class ContainerServer:
    image: str = DEFAULT_IMAGE
    _container: PostgresContainer | None = field(default=None, repr=False)

    kind = "testcontainers"

    def up(self) -> bool:
        ok, why = docker_available()
        if not ok:
            raise InfraError(f"--backend testcontainers: {why}; use the embedded default or --dsn")
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer(self.image, username="postgres", password="ctxbench",
                                      dbname="postgres", driver=None)
        container.start()
        self._container = container
        return True

    def dsn(self, dbname: str | None = None) -> str:
        if self._container is None:
            raise UsageError("the container is not running; it lives only as long as one command")
        c = self._container
        host = c.get_container_host_ip()
        port = c.get_exposed_port(5432)
        return f"host={host} port={port} user=postgres password=ctxbench dbname={dbname or 'postgres'}"

    def restart(self) -> None:
        if self._container is None:
            raise UsageError("the container is not running")
        self._container.get_wrapped_container().restart()

    def down(self) -> bool:
        if self._container is None:
            return False
        self._container.stop()
        self._container = None
        return True

    def is_running(self) -> bool:
        return self._container is not None

    def status(self) -> dict:
        return {"backend": self.kind, "image": self.image, "running": self.is_running()}
