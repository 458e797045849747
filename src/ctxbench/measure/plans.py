"""Plan capture: EXPLAIN (ANALYZE, BUFFERS, SETTINGS) of the same statement, untimed.

Capture runs as a separate execution on the same kind of connection and in the same cache
state as the measured ones (for cold phases: right after its own cache reset), so the
buffers it reports explain the latencies beside it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ctxbench.analysis.plans import summarize_plan
from ctxbench.queries import ParamSet, Query
from ctxbench.results import ResultsDir


def capture(results: ResultsDir, conn: psycopg.Connection, phase: str, query: Query, variant: str,
            ps: ParamSet, *, note: str = "") -> dict[str, Any]:
    try:
        explain = query.explain(conn, ps.params, variant, analyze=True)
    except psycopg.Error as exc:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        payload = {"param_id": ps.id, "params": _jsonable(ps.params), "error": str(exc).strip()[:500]}
        results.write_plan(phase, query.name, variant, payload)
        return payload
    payload = {"param_id": ps.id, "params": _jsonable(ps.params), "plan": explain,
               "summary": summarize_plan(explain), "note": note}
    results.write_plan(phase, query.name, variant, payload)
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
