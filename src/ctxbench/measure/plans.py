"""Plan capture: EXPLAIN (ANALYZE, BUFFERS, SETTINGS) of the same statement, untimed.

Capture runs as a separate execution on the same kind of connection and in the same cache
state as the measured ones (for cold phases: right after its own cache reset), so the
buffers it reports explain the latencies beside it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ctxbench.queries import ParamSet, Query
from ctxbench.results import ResultsDir
from ctxbench.results.explain import summarize_plan


def capture(results: ResultsDir, conn: psycopg.Connection, phase: str, query: Query, variant: str,
            ps: ParamSet, *, note: str = "", role: str | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``role``/``extra``: a tail plan ('tail-1', with its parameter kind and measured
    latency), written beside the group's fixed-parameter plan."""
    extra = dict(extra or {})
    try:
        explain = query.explain(conn, ps.params, variant, analyze=True)
    except psycopg.Error as exc:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        payload = {"param_id": ps.id, "params": _jsonable(ps.params), "error": str(exc).strip()[:500],
                   **extra}
        results.write_plan(phase, query.name, variant, payload, role)
        return payload
    payload = {"param_id": ps.id, "params": _jsonable(ps.params), "plan": explain,
               "summary": summarize_plan(explain), "note": note, **extra}
    results.write_plan(phase, query.name, variant, payload, role)
    return payload


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, list) and len(value) > 16 and all(isinstance(v, float) for v in value):
            value = {"vector_dims": len(value), "head": [round(v, 4) for v in value[:4]]}
        plain = isinstance(value, str | int | float | bool | list | dict | type(None))
        out[key] = value if plain else str(value)
    return out
