"""Sending one bound statement the way the service did, and nothing else (this is what is timed).

Three rules keep the measurement honest and the connection clean:
- settings a variant really applies are ``SET LOCAL`` inside a transaction around the query,
  so they cannot leak into the next query on a pooled connection;
- the shipped no-op ``SET LOCAL``s are sent outside any transaction, as the service sent them:
  a round trip and a WARNING each, and no effect;
- the caller's connection is left as found: an idle non-autocommit connection is switched to
  autocommit for the call (no extra round trip) instead of leaving a transaction open.
Plain blocking psycopg calls only, so it also runs under gevent (Locust).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.types import TypeInfo

from ctxbench.errors import UsageError

GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
EXPLAIN_PREFIX = "EXPLAIN (ANALYZE {analyze}, BUFFERS, SETTINGS, FORMAT JSON) "


def check_settings(settings: Mapping[str, str]) -> None:
    for name, value in settings.items():
        if not GUC_NAME.match(name):
            raise UsageError(f"setting name {name!r} is not a valid GUC name")
        if not isinstance(value, str):
            raise UsageError(f"setting {name}={value!r}: values are strings (as SET takes them)")


@lru_cache(maxsize=256)
def set_local_sql(settings: tuple[tuple[str, str], ...]) -> str:
    """One statement (one round trip) applying every setting for the current transaction."""
    return "; ".join(f"SET LOCAL {name} = '{value.replace(chr(39), chr(39) * 2)}'"
                     for name, value in settings)


def ensure_vector_adapter(conn: psycopg.Connection) -> None:
    """Register pgvector's binary dumper/loader on this connection once (one catalog query).

    pgvector's own ``register_vector`` also looks up bit/halfvec/sparsevec (four round trips);
    the workload only uses ``vector``.
    """
    if conn.adapters.types.get("vector") is not None:
        return
    from pgvector.psycopg.vector import register_vector_info

    with outside_transaction(conn):
        info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise UsageError("the database has no 'vector' type; run `ctxbench db migrate` first")
    register_vector_info(conn, info)


@contextmanager
def outside_transaction(conn: psycopg.Connection):
    """Autocommit for the duration if the connection is idle and not autocommit; else as is."""
    switch = (not conn.autocommit
              and conn.info.transaction_status == pq.TransactionStatus.IDLE)
    if switch:
        conn.autocommit = True
    try:
        yield
    finally:
        if switch:
            conn.autocommit = False


@dataclass(frozen=True)
class Statement:
    """A query bound to parameters and a variant: exactly what goes over the wire."""

    query: str
    variant: str
    sql: str
    args: Mapping[str, Any]
    settings: tuple[tuple[str, str], ...] = ()
    noop_sets: tuple[str, ...] = ()
    needs_vector: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def execute(self, conn: psycopg.Connection, timings: dict[str, int] | None = None
                ) -> list[tuple]:
        """Send the statement(s) and fetch every row. The part a driver times.

        With ``timings``, a variant with settings also reports the nanoseconds of the query's
        own send + fetch (``"query_ns"``); the rest of the call is its BEGIN / SET LOCAL /
        COMMIT round trips, which the recorder reports as a separate part."""
        return self._run(conn, self.sql, timings)

    def explain(self, conn: psycopg.Connection, *, analyze: bool = True) -> list:
        """EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) of the same statement and settings."""
        prefix = EXPLAIN_PREFIX.format(analyze="TRUE" if analyze else "FALSE")
        rows = self._run(conn, prefix + self.sql)
        plan = rows[0][0]
        if isinstance(plan, (str, bytes)):
            import json

            plan = json.loads(plan)
        return plan

    def _run(self, conn: psycopg.Connection, sql: str,
             timings: dict[str, int] | None = None) -> list[tuple]:
        if self.needs_vector:
            ensure_vector_adapter(conn)
        with outside_transaction(conn):
            if self.settings:
                with conn.transaction():
                    conn.execute(set_local_sql(self.settings))
                    t0 = time.perf_counter_ns()
                    rows = conn.execute(sql, self.args).fetchall()
                    if timings is not None:
                        timings["query_ns"] = time.perf_counter_ns() - t0
                    return rows
            if self.noop_sets and conn.info.transaction_status == pq.TransactionStatus.IDLE:
                # Outside a transaction these only raise a WARNING, as in the service. Inside
                # a caller's open transaction they would really apply, so they are skipped.
                for stmt in self.noop_sets:
                    conn.execute(stmt)
            return conn.execute(sql, self.args).fetchall()


def settings_tuple(settings: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in settings.items())


def as_sequence(value: Sequence[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
