"""HNSW warm-up curves: latency of search 1..N after a cold start, per prewarm mode.

The ``hnsw_warmup`` phase records each search with ``seq`` = its position after the cache
reset (1..N) and ``labels["prewarm"]`` = the mode (e.g. none / index / index+heap). When the
curve was repeated (several cold starts), each position's latency is the median over the
repetitions.

Steady state is *estimated*, not assumed: the steady level is the median of the last half of
the curve, and the curve counts as settled from the first position after which the running
median of 3 never exceeds ``SETTLE_FACTOR`` × that level again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ctxbench.analysis.data import GroupData

WARMUP_PHASE = "hnsw_warmup"
SETTLE_FACTOR = 1.5


def curve(group: GroupData) -> tuple[np.ndarray, np.ndarray, int]:
    """(positions, median latency per position, repetitions)."""
    seq = np.asarray(group.seq, dtype=np.int64)
    lat = group.latencies()
    if seq.size == 0:
        return np.array([], dtype=np.int64), np.array([]), 0
    positions = np.unique(seq)
    medians = np.array([float(np.median(lat[seq == p])) for p in positions])
    reps = int(np.bincount(seq - seq.min()).max())
    return positions, medians, reps


def settle_index(medians: np.ndarray, factor: float = SETTLE_FACTOR) -> tuple[int, float]:
    """(index from which the curve stays near its steady level, that level)."""
    n = medians.size
    steady = float(np.median(medians[n // 2:]))
    if n < 3:
        return 0, steady
    rolling = np.array([np.median(medians[max(0, i - 1):i + 2]) for i in range(n)])
    above = np.nonzero(rolling > factor * steady)[0]
    return (int(above[-1]) + 1 if above.size else 0), steady


def prewarm_costs(events: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean prewarm seconds and blocks per mode, from the phase's ``prewarm`` events."""
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if isinstance(e, dict) and e.get("type") == "prewarm" and "prewarm_blocks" in e:
            by_mode.setdefault(str(e.get("mode")), []).append(e)
    return {mode: {"prewarm_seconds": float(np.mean([e.get("prewarm_seconds", 0) for e in es])),
                   "prewarm_blocks": float(np.mean([e.get("prewarm_blocks", 0) for e in es]))}
            for mode, es in by_mode.items()}


def summarize(groups: list[GroupData], events: list[dict[str, Any]] | None = None
              ) -> list[dict[str, Any]]:
    costs = prewarm_costs(events or [])
    out = []
    for g in groups:
        positions, medians, reps = curve(g)
        if positions.size == 0:
            continue
        idx, steady = settle_index(medians)
        idx = min(idx, positions.size - 1)
        labels = g.key.label_dict
        out.append({
            "query": g.key.query, "variant": g.key.variant, "labels": labels,
            "prewarm": labels.get("prewarm", "none"),
            "n": g.n, "repetitions": reps, "positions": int(positions.size),
            "first_ms": float(medians[0]),
            "steady_ms": steady,
            "queries_to_steady": int(positions[idx]),
            "ms_to_steady": float(medians[:idx].sum()),
            "curve": [[int(p), float(v)] for p, v in zip(positions, medians, strict=True)],
            **costs.get(labels.get("prewarm", "none"), {}),
        })
    return out
