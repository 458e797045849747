"""Never flush a Redis database ctxbench did not fill.

ctxbench claims a database by writing the marker key ``ctxbench:owned`` into it, and only
when the database is empty (or already carries the marker). ``flush_owned`` refuses a
database without the marker: a Redis given by URL that holds someone else's keys is used
read/write for the benchmark's own keys at most, never emptied.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlsplit, urlunsplit

import redis

from ctxbench.errors import UsageError

MARKER = "ctxbench:owned"
ENV_URL = "CTXBENCH_REDIS_URL"


def redis_url_masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise UsageError(f"Redis URL {redis_url_masked(url)!r} is not allowed; expected "
                         "redis://HOST:PORT/DB, rediss://... or unix://PATH?db=N")
    path = parts.path.strip("/")
    if parts.scheme != "unix" and path and not (path.isdigit() and 0 <= int(path) <= 15):
        raise UsageError(f"Redis URL {redis_url_masked(url)!r}: database {path!r} is not allowed; "
                         "a number 0-15")
    return url


def claim(client: redis.Redis, url: str) -> None:
    """Mark the selected database as ctxbench's; refuse one that holds other keys."""
    if client.exists(MARKER):
        return
    size = int(client.dbsize())
    if size:
        raise UsageError(f"Redis {redis_url_masked(url)} holds {size} key(s) ctxbench did not write "
                         f"(no {MARKER!r} marker); ctxbench would have to flush them between "
                         "measurements. Pick an empty database (redis://HOST:PORT/N) or let ctxbench "
                         "start its own Redis (omit --redis-url)")
    client.set(MARKER, json.dumps({"by": "ctxbench", "host": socket.gethostname(), "pid": os.getpid()}),
               nx=True)


def flush_owned(client: redis.Redis, url: str) -> None:
    """FLUSHDB, only in a database that carries ctxbench's marker (then the marker is re-set)."""
    marker = client.get(MARKER)
    if marker is None:
        raise UsageError(f"refusing to flush Redis {redis_url_masked(url)}: it has no {MARKER!r} "
                         "marker, so ctxbench did not create its contents")
    client.flushdb()
    client.set(MARKER, marker)


def cache_keys(client: redis.Redis) -> int:
    """Keys in the database other than the marker."""
    return max(int(client.dbsize()) - int(bool(client.exists(MARKER))), 0)
