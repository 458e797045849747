"""Timing one execution of the query core, and the connections it runs on.

The timed region is exactly ``Statement.execute`` (send + fetch all rows): validation,
binding (SQL text and arguments, a variant built on demand such as ``ef200``), result mapping
and recording happen outside it. A variant with settings runs inside BEGIN / SET LOCAL …
/ COMMIT; those extra round trips are part of its timed call (the service would pay them)
and are also reported on their own as the metric ``settings_roundtrips_ms``, so the query's
own send + fetch (``latency − settings_roundtrips_ms``) compares with the shipped SQL's.
Every measured connection is configured the same way, and ``prepare_threshold`` is explicit
because a prepared statement keeps its plan even when later settings would change it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ctxbench.db.connect import connect
from ctxbench.db.dsn import mask_password
from ctxbench.db.faults import connection_lost, describe
from ctxbench.errors import InfraError, UsageError
from ctxbench.queries import Bindable, ParamSet, ensure_vector_adapter
from ctxbench.results import Measurement, ResultsDir


@dataclass
class ConnectionSpec:
    dsn: str
    prepare_threshold: int | None = None
    statement_timeout_ms: int = 60000

    def open(self) -> psycopg.Connection:
        conn = connect(self.dsn, prepare_threshold=self.prepare_threshold,
                       application_name="ctxbench")
        configure(conn, self.statement_timeout_ms)
        return conn


def configure(conn: psycopg.Connection, statement_timeout_ms: int) -> None:
    """Session setup every measured connection gets before its first timed execution.

    The pgvector adapter is registered here, not lazily by the first vector query, because its
    catalog lookup would otherwise land inside that query's timed region — on every cold
    sample, since each one opens a new connection."""
    conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
    with contextlib.suppress(UsageError):  # no pgvector here (a synthetic load): vector queries say so
        ensure_vector_adapter(conn)


@dataclass
class Recorder:
    """Times executions and appends each as a Measurement the moment it finishes."""

    results: ResultsDir
    run_id: str
    counters: dict[tuple[str, str, str], int] = field(default_factory=dict)
    on_record: Callable[[Measurement], None] | None = None

    def measure(self, conn: psycopg.Connection, phase: str, query: Bindable, variant: str, ps: ParamSet,
                *, warmup: bool = False, labels: dict[str, str] | None = None,
                seq: int | None = None,
                score: Callable[[list[Any]], dict[str, float]] | None = None) -> Measurement:
        """Time one execution. ``score`` turns the fetched rows into ``metrics`` (e.g. recall),
        after the timer stopped; it is skipped for warm-up and failed executions."""
        key = (phase, query.name, variant)
        if seq is None:
            seq = self.counters.get(key, 0) + 1
            self.counters[key] = seq
        error: str | None = None
        lost = False
        rows: list[Any] = []
        stmt = query.bind(ps.params, variant)  # no I/O: before the timer
        timings: dict[str, int] = {}
        t0 = time.perf_counter_ns()
        try:
            rows = stmt.execute(conn, timings)
            t1 = time.perf_counter_ns()
        except psycopg.Error as exc:
            t1 = time.perf_counter_ns()
            error = describe(exc)
            lost = connection_lost(exc, conn)
            _recover(conn)
        metrics = score(rows) if score is not None and error is None and not warmup else {}
        if "query_ns" in timings and error is None:
            metrics = {**metrics,
                       "settings_roundtrips_ms": (t1 - t0 - timings["query_ns"]) / 1e6}
        m = Measurement(run_id=self.run_id, phase=phase, query=query.name, variant=variant,
                        param_id=ps.id, seq=seq, latency_ns=t1 - t0, rows=len(rows), ok=error is None,
                        error=error, warmup=warmup,
                        labels={"param_kind": ps.kind, **(labels or {})} if ps.kind else dict(labels or {}),
                        metrics=metrics)
        self.results.append_measurement(m)
        if self.on_record:
            self.on_record(m)
        if lost:  # the server or this backend is gone: recorded once, and the phase ends here
            raise lost_connection(phase, f"{query.name}[{variant}]", str(error))
        return m


def lost_connection(phase: str, what: str, error: str) -> InfraError:
    """The error that ends a phase whose connection was lost (``ctxbench.db.faults``)."""
    return InfraError(f"the connection to the server was lost in phase {phase} ({what}: {error}); "
                      "the phase ended after recording it")


def _recover(conn: psycopg.Connection) -> None:
    """Leave the connection usable after a failed statement (or let the caller reconnect)."""
    if conn.closed:
        return
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
    except psycopg.Error:
        pass


def open_pool(dsn: str, size: int, *, prepare_threshold: int | None, statement_timeout_ms: int,
              timeout_s: float = 30.0) -> ConnectionPool:
    """A fixed-size pool of autocommit connections configured like the phase runner's."""
    with connect(dsn, connect_timeout=int(timeout_s)):
        pass  # fail now, with the server's own message, instead of a pool retrying for a while
    pool = ConnectionPool(
        dsn, min_size=size, max_size=size, open=False, name="ctxbench-load", timeout=timeout_s,
        kwargs={"autocommit": True, "prepare_threshold": prepare_threshold,
                "application_name": "ctxbench-load", "connect_timeout": 10},
        configure=lambda conn: configure(conn, statement_timeout_ms))
    try:
        pool.open(wait=True, timeout=timeout_s)
    except Exception as exc:
        pool.close()
        raise InfraError(f"cannot open {size} connection(s) to {mask_password(dsn)}: "
                         f"{mask_password(str(exc)).strip()}") from exc
    return pool
