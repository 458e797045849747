"""HNSW warm-up curves: latency of search 1..N after a cold start, per prewarm mode, and the
one steady-state rule every report uses.

The ``hnsw_warmup`` phase records each search with ``seq`` = its position after the cache
reset (1..N) and ``labels["prewarm"]`` = the mode (e.g. none / index / index+heap). When the
curve was repeated (several cold starts), each position's latency is the median over the
repetitions.

**The steady-state rule** (``detect_steady``; the main report's "HNSW warm-up" table and the
vector section's "time to steady state" table both show its answer):

1. the steady *level* is the median of the last half of the curve, and the candidate settle
   point is the first position after which the running median of 3 never exceeds
   ``SETTLE_FACTOR`` × that level again (``settle_index``);
2. the curve is called steady only if the plateau is confirmed by at least ``MIN_TAIL``
   searches after that point, and the end does not drift: the medians of the last two
   quarters agree within ``DRIFT`` (relative); a curve shorter than ``2 × MIN_TAIL`` searches
   is too short to tell.

Why this rule and not step 1 alone (the rule the main table used before): step 1 always finds
*some* point, because the level is defined by where the curve happened to stop — a curve still
falling at its last search (or flapping between two levels) would get a "steady level" and a
"searches to steady" that are artefacts of the curve's length. Step 2 is a check that can fail:
a steady state is a claim that further searches will not change the level, and the only
evidence inside the curve is that its end is flat (last two quarters agree) and that the
plateau was observed for several searches rather than one. Medians keep single outliers (a
checkpoint, an autovacuum) from deciding either check. A curve that fails is reported as "not
steady within N searches" with the reason, instead of a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxbench.analysis.data import GroupData

WARMUP_PHASE = "hnsw_warmup"
SETTLE_FACTOR = 1.5
MIN_TAIL = 5
DRIFT = 0.5


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


@dataclass(frozen=True)
class Steady:
    steady: bool
    index: int | None  # 0-based index of the first steady search (None: not steady)
    level_ms: float
    searches_to_steady: int | None  # 1-based search number where steady begins
    ms_to_steady: float | None  # latency spent before that search (sum of the medians)
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"steady": self.steady, "index": self.index, "level_ms": self.level_ms,
                "searches_to_steady": self.searches_to_steady,
                "ms_to_steady": self.ms_to_steady, "reason": self.reason}


def detect_steady(latencies_ms: np.ndarray | list[float], *, factor: float = SETTLE_FACTOR,
                  min_tail: int = MIN_TAIL, drift: float = DRIFT) -> Steady:
    """Steady state of one warm-up curve (latency of search 1..N, ms), by the module's rule."""
    x = np.asarray(latencies_ms, dtype=np.float64)
    n = x.size
    if n < 2 * min_tail:
        return Steady(False, None, float(np.median(x)) if n else float("nan"), None, None,
                      f"too short: {n} searches, needs ≥ {2 * min_tail}")
    idx, level = settle_index(x, factor)
    q3 = float(np.median(x[n // 2: 3 * n // 4]))
    q4 = float(np.median(x[3 * n // 4:]))
    change = abs(q4 - q3) / max(min(q3, q4), 1e-9)
    if change > drift:
        return Steady(False, None, level, None, None,
                      f"still drifting at the end: last quarter {q4:.3g} ms vs the one "
                      f"before {q3:.3g} ms ({change:+.0%})")
    if idx >= n:
        return Steady(False, None, level, None, None,
                      f"never settles: at the last of {n} searches the running median is still "
                      f"above {factor:g}× the level ({level:.3g} ms)")
    if n - idx < min_tail:
        return Steady(False, None, level, None, None,
                      f"settles only at search {idx + 1} of {n}: fewer than {min_tail} "
                      "searches confirm it")
    return Steady(True, idx, level, idx + 1, float(x[:idx].sum()),
                  f"within {factor:g}× of {level:.3g} ms from search {idx + 1} on")


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
    """One entry per curve: the curve, the steady level (``steady_ms``) and the decision of
    ``detect_steady`` (``steady``, ``reason``; ``queries_to_steady``, ``ms_to_steady`` and
    ``steady_index`` are None when the curve is not steady)."""
    costs = prewarm_costs(events or [])
    out = []
    for g in groups:
        positions, medians, reps = curve(g)
        if positions.size == 0:
            continue
        st = detect_steady(medians)
        labels = g.key.label_dict
        cost = costs.get(labels.get("prewarm", "none"), {})
        ok = st.steady and st.index is not None
        ms_to_steady = st.ms_to_steady if ok else None
        total = (ms_to_steady + cost.get("prewarm_seconds", 0.0) * 1000.0
                 if ms_to_steady is not None else None)
        out.append({
            "query": g.key.query, "variant": g.key.variant, "labels": labels,
            "prewarm": labels.get("prewarm", "none"),
            "n": g.n, "repetitions": reps, "positions": int(positions.size),
            "first_ms": float(medians[0]),
            "steady_ms": st.level_ms,
            "steady": bool(ok),
            "steady_index": st.index if ok else None,
            "queries_to_steady": int(positions[st.index]) if ok and st.index is not None
            else None,
            "ms_to_steady": ms_to_steady,
            "total_ms_to_steady": total,
            "reason": st.reason,
            "curve": [[int(p), float(v)] for p, v in zip(positions, medians, strict=True)],
            **cost,
        })
    return out
