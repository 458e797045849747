"""pg_stat_statements snapshots around a phase: the server's own view of what ran."""

from __future__ import annotations

from typing import Any

import psycopg

_COLUMNS = ("calls", "total_exec_time", "total_plan_time", "rows", "shared_blks_hit",
            "shared_blks_read", "shared_blk_read_time")


def snapshot(conn: psycopg.Connection) -> dict[int, dict[str, Any]] | None:
    """Counters per queryid, or None where pg_stat_statements is not available."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = conn.execute(
            f"SELECT queryid, query, {', '.join(_COLUMNS)} FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    except psycopg.Error:
        return None
    return {r[0]: {"query": r[1], **dict(zip(_COLUMNS, r[2:], strict=True))} for r in rows}


def delta(before: dict | None, after: dict | None, top: int = 20) -> list[dict[str, Any]]:
    """Per statement: what the phase added, busiest first (only statements that ran)."""
    if before is None or after is None:
        return []
    out: list[dict[str, Any]] = []
    for qid, cur in after.items():
        prev = before.get(qid, {})
        d = {c: float(cur[c] or 0) - float(prev.get(c) or 0) for c in _COLUMNS}
        if d["calls"] <= 0:
            continue
        d["mean_exec_ms"] = d["total_exec_time"] / d["calls"]
        out.append({"query": " ".join(cur["query"].split())[:300], **{k: round(v, 3) for k, v in d.items()}})
    out.sort(key=lambda x: x["total_exec_time"], reverse=True)
    return out[:top]
