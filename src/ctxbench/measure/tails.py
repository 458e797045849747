"""Which parameter sets make a group's tail, so their plans can be captured too.

The fixed plan set (one per query, the same in every phase) makes plans comparable between
phases, but it may be an easy set (an unknown namespace: 0 rows, 0.04 ms) while the p95 comes
from other parameter kinds. The tail plans are: the slowest sample's set, then the slowest set
of each other parameter kind with a sample at or above the group's p95 (the percentile budgets
are checked on), slowest first, at most ``limit``. A failed execution (timeout, error) is the
slowest there is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ctxbench.queries import ParamSet
from ctxbench.results import Measurement

TAIL_PERCENTILE = 0.95
TAIL_PLANS = 2


@dataclass(frozen=True)
class TailPick:
    ps: ParamSet
    latency_ms: float  # inf for a failed execution
    why: str

    def extra(self) -> dict[str, object]:
        return {"param_kind": self.ps.kind or "(none)",
                "measured_ms": None if math.isinf(self.latency_ms) else round(self.latency_ms, 3),
                "measured_failed": math.isinf(self.latency_ms), "why": self.why}


def _ms(m: Measurement) -> float:
    return math.inf if not m.ok else m.latency_ns / 1e6


def tail_picks(samples: list[tuple[ParamSet, Measurement]], *,
               percentile: float = TAIL_PERCENTILE, limit: int = TAIL_PLANS) -> list[TailPick]:
    measured = [(ps, m) for ps, m in samples if not m.warmup]
    if not measured or limit < 1:
        return []
    lat = np.array([_ms(m) for _, m in measured])
    finite = lat[np.isfinite(lat)]
    cut = float(np.quantile(finite, percentile, method="inverted_cdf")) if finite.size else 0.0
    order = sorted(range(len(measured)), key=lambda i: -lat[i])
    picks: list[TailPick] = []
    seen_ids: set[str] = set()
    seen_kinds: set[str] = set()
    first = order[0]
    ps = measured[first][0]
    picks.append(TailPick(ps, float(lat[first]), "slowest sample"))
    seen_ids.add(ps.id)
    seen_kinds.add(ps.kind)
    for i in order[1:]:
        if len(picks) >= limit or lat[i] < cut:
            break
        ps = measured[i][0]
        if ps.kind in seen_kinds or ps.id in seen_ids:
            continue
        picks.append(TailPick(ps, float(lat[i]),
                              f"slowest of kind {ps.kind or '(none)'} at or above p"
                              f"{percentile * 100:g} ({cut:.3g} ms)"))
        seen_ids.add(ps.id)
        seen_kinds.add(ps.kind)
    return picks
