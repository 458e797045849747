"""When does a cold HNSW search curve become steady — and does it at all?

Builds on ``ctxbench.analysis.warmup``: its ``settle_index`` gives the steady level (median
of the last half) and the first position after which the running median of 3 stays within
``factor`` × that level. That alone always finds *some* point, even on a curve that is still
falling at its end. So two checks decide whether the curve is steady at all:

- the plateau must be confirmed by at least ``min_tail`` searches after the settle point;
- the end must not drift: the medians of the last two quarters of the curve must agree
  within ``drift`` (relative), else the "steady level" is only where the curve happened to
  stop.

A curve that fails either check is reported as "not steady within N searches" instead of
getting a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctxbench.analysis.warmup import SETTLE_FACTOR, settle_index

MIN_TAIL = 5
DRIFT = 0.5


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
    """Steady state of one warm-up curve (latency of search 1..N, ms)."""
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
    if n - idx < min_tail:
        return Steady(False, None, level, None, None,
                      f"settles only at search {idx + 1} of {n}: fewer than {min_tail} "
                      "searches confirm it")
    return Steady(True, idx, level, idx + 1, float(x[:idx].sum()),
                  f"within {factor:g}× of {level:.3g} ms from search {idx + 1} on")
