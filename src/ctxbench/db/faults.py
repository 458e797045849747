"""One rule for a lost database connection, used by every path that executes the workload
(the phase runner, ``ctxbench load`` with and without the cache, the ``cache`` phase).

A *lost connection* is an infrastructure failure: the server or the backend is gone, so what
follows would not measure what the run was configured to measure. It ends the phase after one
recorded failure. A *query-level* failure (statement timeout ``57014``, a bad parameter, a
constraint) is a measured failure: it counts as +inf latency and the run goes on.

Lost when any of these holds:
- the connection the request ran on is closed or broken (server killed, backend terminated:
  libpq saw the socket close);
- the error's SQLSTATE says so: ``57P01`` admin shutdown (``pg_terminate_backend``, a fast
  shutdown), ``57P02`` crash shutdown, ``57P03`` cannot connect now (starting, recovering,
  shutting down), or any of class ``08`` (connection exception);
- the error is a client-side connection error with no SQLSTATE (a pool that had no
  connection to give within its timeout, a connection attempt that failed) and the server
  refuses a new connection (``server_answers`` — only asked in that case, never per request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from ctxbench.db.dsn import mask_password

LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
LOST_SQLSTATE_CLASS = "08"
PROBE_TIMEOUT_S = 5


class ConnectionLost(psycopg.OperationalError):
    """A failure classified as a lost connection, carried up through code (the cache's read
    path, single-flight waiters) that only sees the exception, not the connection. Its text is
    the original error's description (``describe``)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(describe(cause))
        self.cause = cause


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, password masked, at most 300 characters of message."""
    if isinstance(exc, ConnectionLost):
        return str(exc)
    message = " ".join(mask_password(str(exc)).split())
    return f"{type(exc).__name__}: {message[:300]}"


def server_answers(conninfo: str, timeout_s: int = PROBE_TIMEOUT_S) -> bool:
    """Does the server accept a new connection now?"""
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout_s):
            return True
    except psycopg.OperationalError:
        return False


def pool_probe(pool: Any) -> Callable[[], bool]:
    """``server_answers`` for the server behind a psycopg_pool pool (its conninfo may be a callable)."""
    def answers() -> bool:
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        return server_answers(str(conninfo))

    return answers


def connection_lost(error: BaseException, conn: psycopg.Connection | None = None, *,
                    server_answers: Callable[[], bool] | None = None) -> bool:
    """Is ``error`` (raised by a request that ran on ``conn``, if it got one) a lost connection
    rather than a failure of the request? See the module docstring for the rule."""
    if isinstance(error, ConnectionLost):
        return True
    if conn is not None and (conn.closed or conn.broken):
        return True
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is not None:
        return state in LOST_SQLSTATES or state.startswith(LOST_SQLSTATE_CLASS)
    if isinstance(error, psycopg.OperationalError) and conn is None and server_answers is not None:
        return not server_answers()
    return False
