"""Step changes in a series of per-run estimates (one value per night), by binary segmentation.

Each run contributes one number (e.g. its p95 estimate), so night-to-night variation is the
noise the test is judged against; the values are compared on a log scale (latency changes are
multiplicative). For a segment of the series, every split point k is tried and the two sides
are compared with a two-sample t-test (pooled variance, scipy.stats.ttest_ind); the split
with the smallest p-value is accepted when

- its p-value, Bonferroni-corrected for the number of split points tried, is below ``alpha``,
- the step is at least ``min_effect`` (ratio of the two sides' medians) — a significant
  but tiny shift is not a step anyone should act on;
- and, when each run's own 95 % interval is given, the step is larger than that uncertainty:
  the typical (median) interval of the runs after the split lies entirely above the typical
  interval before it (or below, for a speed-up) — a run-to-run wobble within the runs'
  sampling error is not a step, however tight a few nights happen to be;

then both sides are searched again. A side may be a single run (so tonight's jump is found),
but the segment must have at least three runs for there to be a variance to test against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
from scipy import stats

ALPHA = 0.05
MIN_EFFECT = 1.25


@dataclass(frozen=True)
class Step:
    index: int  # first run of the new level
    before: float  # median of the segment before (original scale)
    after: float  # median of the segment after
    p_value: float  # Bonferroni-corrected

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else math.inf

    def to_json(self) -> dict[str, float | int]:
        return {"index": self.index, "before": self.before, "after": self.after,
                "ratio": self.ratio, "p_value": self.p_value}


def _split_p(left: np.ndarray, right: np.ndarray) -> float:
    n = left.size + right.size
    ss = float(((left - left.mean()) ** 2).sum() + ((right - right.mean()) ** 2).sum())
    diff = abs(float(left.mean() - right.mean()))
    if ss <= 0.0:  # no spread at all: any difference is exact
        return 0.0 if diff > 0 else 1.0
    if n < 3:
        return 1.0
    return float(stats.ttest_ind(left, right, equal_var=True).pvalue)


def _ok(v: float | None) -> TypeGuard[float]:
    return v is not None and math.isfinite(float(v)) and float(v) > 0


def _log_or_nan(seq: Sequence[float | None] | None, idx: list[int]) -> np.ndarray:
    if seq is None:
        return np.full(len(idx), np.nan)
    picked = [seq[i] for i in idx]
    return np.array([math.log(float(v)) if _ok(v) else np.nan for v in picked], dtype=float)


def _intervals_apart(lo: np.ndarray, hi: np.ndarray, a: slice, b: slice, up: bool) -> bool:
    """Typical interval after the split clear of the typical one before (no interval: True)."""
    if up:
        after, before = lo[b], hi[a]
    else:
        after, before = hi[b], lo[a]
    after, before = after[~np.isnan(after)], before[~np.isnan(before)]
    if not after.size or not before.size:
        return True
    return bool(np.median(after) > np.median(before)) if up else bool(
        np.median(after) < np.median(before))


def detect_steps(values: Sequence[float | None], *, lo: Sequence[float | None] | None = None,
                 hi: Sequence[float | None] | None = None, alpha: float = ALPHA,
                 min_effect: float = MIN_EFFECT) -> list[Step]:
    """Steps in ``values`` (positive numbers, in run order), earliest first; ``lo``/``hi`` are
    the runs' interval bounds, if known. Values that are missing (None/NaN/≤ 0) are skipped;
    indexes refer to the original positions."""
    keep = [i for i, v in enumerate(values) if _ok(v)]
    x = np.log(np.array([float(v) for v in values if _ok(v)], dtype=float))  # the values at keep
    xlo, xhi = _log_or_nan(lo, keep), _log_or_nan(hi, keep)
    found: list[Step] = []

    def segment(lo: int, hi: int) -> None:
        n = hi - lo
        if n < 3:
            return
        best: tuple[float, int] | None = None
        for k in range(lo + 1, hi):
            left, right = x[lo:k], x[k:hi]
            shift = float(np.median(right) - np.median(left))
            if abs(shift) < math.log(min_effect):
                continue
            if not _intervals_apart(xlo, xhi, slice(lo, k), slice(k, hi), shift > 0):
                continue
            p = _split_p(left, right)
            if best is None or p < best[0]:
                best = (p, k)
        if best is None:
            return
        p_adj = min(1.0, best[0] * (n - 1))
        if p_adj >= alpha:
            return
        k = best[1]
        found.append(Step(keep[k], float(np.exp(np.median(x[lo:k]))),
                          float(np.exp(np.median(x[k:hi]))), p_adj))
        segment(lo, k)
        segment(k, hi)

    segment(0, x.size)
    return sorted(found, key=lambda s: s.index)
