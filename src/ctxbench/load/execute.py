"""One load request: take a pooled connection, run the query core, time it, describe it.

Three instants are taken with ``perf_counter_ns``: the lane is ready (``ready``), it holds a
connection (``conn``), the last row is fetched (``end``). For open-loop runs the request also
has an *intended* start from its schedule. Then, exactly:

    latency  = end - intended            (open; = end - ready when closed-loop)
    lag      = ready - intended          (the lane was busy with earlier requests)
    pool_wait= conn - ready              (all pooled connections were busy)
    service  = end - conn                (execute + fetch, what a closed-loop client times)

so ``latency == lag + pool_wait + service`` to the nanosecond. A failed request is timed the
same way and recorded with its error; it never stops the run — unless the connection itself
was lost (``Executed.connection_lost``: the server or the backend is gone, or no connection
can be had), which the Locust process records once and then ends the load phase.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ctxbench.db.faults import connection_lost, describe, pool_probe
from ctxbench.load.workload import ParamLike, item_name
from ctxbench.queries import Executable
from ctxbench.results import Measurement

PHASE = "load"


@dataclass
class Executed:
    """What one request produced: the ctxbench record and what Locust's event needs."""

    measurement: Measurement
    name: str
    response_time_ms: float
    exception: Exception | None
    connection_lost: bool = False


def execute_one(pool: ConnectionPool, query: Executable, variant: str, ps: ParamLike, *,
                intended_ns: int | None = None, labels: Mapping[str, str] | None = None,
                warmup: bool = False, clock: Callable[[], int] = time.perf_counter_ns) -> Executed:
    """Run one request and time it (see the module docstring for the definitions)."""
    error: Exception | None = None
    rows: list[Any] = []
    ready = clock()
    conn_at = ready
    held: psycopg.Connection | None = None
    try:
        with pool.connection() as conn:
            held = conn
            conn_at = clock()
            rows = query.execute(conn, ps.params, variant)
            end = clock()
    except Exception as exc:  # a failed request is data, not a crash
        end = clock()
        error = exc
    start = ready if intended_ns is None else intended_ns
    latency = end - start
    metrics = {"pool_wait_ms": (conn_at - ready) / 1e6, "service_ms": (end - conn_at) / 1e6}
    if intended_ns is not None:
        metrics["lag_ms"] = (ready - start) / 1e6
    lab = dict(labels or {})
    if ps.kind:
        lab.setdefault("param_kind", str(ps.kind))
    m = Measurement(run_id="", phase=PHASE, query=query.name, variant=variant, param_id=str(ps.id),
                    seq=0, latency_ns=latency, rows=len(rows), ok=error is None,
                    error=None if error is None else describe(error), warmup=warmup,
                    labels=lab, metrics=metrics)
    lost = error is not None and connection_lost(error, held, server_answers=pool_probe(pool))
    return Executed(m, item_name(query.name, variant), latency / 1e6, error, connection_lost=lost)


def execute_cached(cached: Any, query: Executable, variant: str, ps: ParamLike, *,
                   intended_ns: int | None = None, labels: Mapping[str, str] | None = None,
                   warmup: bool = False, clock: Callable[[], int] = time.perf_counter_ns) -> Executed:
    """One request through the service's read path (``ctxbench.cache.CachedExecutor``).

    latency = end - intended (open) or end - ready (closed), as for ``execute_one``; the
    metrics say which tier answered, the database queries it cost (0 for a hit), and the
    Redis / decode / database time inside it."""
    ready = clock()
    out = cached.request(query.name, ps.params)
    end = clock()
    start = ready if intended_ns is None else intended_ns
    latency = end - start
    metrics = {**out.metrics(), "service_ms": (end - ready) / 1e6}
    if intended_ns is not None:
        metrics["lag_ms"] = (ready - start) / 1e6
    lab = {**dict(labels or {}), "cache": cached.variant.name}
    if ps.kind:
        lab.setdefault("param_kind", str(ps.kind))
    error = out.problem
    m = Measurement(run_id="", phase=PHASE, query=query.name, variant=variant, param_id=str(ps.id),
                    seq=0, latency_ns=latency, rows=out.rows, ok=error is None, error=error, warmup=warmup,
                    labels=lab, metrics=metrics)
    return Executed(m, item_name(query.name, variant), latency / 1e6,
                    None if error is None else RuntimeError(error), connection_lost=out.connection_lost)
