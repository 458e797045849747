"""Latency statistics with honest uncertainty: percentiles, bootstrap intervals, rates.

**Percentile definition.** ``inverted_cdf`` (Hyndman & Fan type 1): the q-th percentile is the
smallest observed latency x with F_n(x) ≥ q, i.e. the ⌈q·n⌉-th smallest sample. It is always
a latency that really happened (no interpolation between two samples), and "p95 ≤ 500 ms"
then reads literally as "at least 95 % of executions took ≤ 500 ms".

**Confidence intervals.** 95 % percentile bootstrap: resample the n latencies with
replacement B times (B = 2000 by default), compute the statistic on each resample, and take
the 2.5th and 97.5th percentiles of those B values. The generator is numpy's PCG64 seeded from
a hash of the group's key, so every rebuild of a report gives the same intervals and groups
don't share random streams. Resampling is vectorised and chunked: a chunk holds at most
``CHUNK_ELEMENTS`` indices (≈16 MiB), and for very large n the number of resamples drops so
that B·n stays below ``WORK_ELEMENTS`` (never below ``MIN_RESAMPLES``), which keeps memory and
time bounded for load runs with millions of samples. Because the sample is sorted once, the
q-th percentile of a resample is the sorted sample at the ⌈q·n⌉-th smallest resampled index,
so a chunk needs one ``np.partition`` for all percentiles.

Rates (errors, empty answers) use the Wilson score interval, which behaves at 0 and at 1.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

PERCENTILE_METHOD = "inverted_cdf"
CI_LEVEL = 0.95
N_RESAMPLES = 2000
MIN_RESAMPLES = 200
CHUNK_ELEMENTS = 4_000_000
WORK_ELEMENTS = 50_000_000
DEFAULT_QUANTILES = (0.5, 0.9, 0.95, 0.99)
ROOT_SEED = 20251021


def seed_for(*parts: object, root: int = ROOT_SEED) -> int:
    """A stable 64-bit seed from a root seed and names (order-independent of other groups)."""
    text = "|".join([str(root), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def percentile(values: np.ndarray, q: float) -> float:
    """The q-quantile (0 < q < 1) under the documented inverted_cdf definition."""
    return float(np.quantile(values, q, method=PERCENTILE_METHOD))


def _order_index(n: int, q: float) -> int:
    """0-based index of the inverted_cdf q-quantile in a sorted sample of size n."""
    return min(n - 1, max(0, math.ceil(q * n - 1e-9) - 1))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95 % interval (lo == hi == value when exact)."""

    value: float
    lo: float
    hi: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


def resample_count(n: int, n_resamples: int = N_RESAMPLES) -> int:
    """How many bootstrap resamples to draw for n samples under the work cap."""
    if n <= 0:
        return 0
    return max(MIN_RESAMPLES, min(n_resamples, WORK_ELEMENTS // n))


def bootstrap_distribution(values: np.ndarray, quantiles: Sequence[float], *, seed: int,
                           n_resamples: int = N_RESAMPLES, with_mean: bool = True
                           ) -> np.ndarray:
    """B × (len(quantiles) [+1 for the mean]) matrix of resampled statistics."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    b = resample_count(n, n_resamples)
    cols = len(quantiles) + (1 if with_mean else 0)
    out = np.empty((b, cols), dtype=np.float64)
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    kth = [_order_index(n, q) for q in quantiles]
    kth_unique = sorted(set(kth))
    rows_per_chunk = max(1, CHUNK_ELEMENTS // n)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    for start in range(0, b, rows_per_chunk):
        m = min(rows_per_chunk, b - start)
        idx = rng.integers(0, n, size=(m, n), dtype=dtype)
        if with_mean:
            out[start:start + m, -1] = x[idx].mean(axis=1)
        if kth:
            part = np.partition(idx, kth_unique, axis=1) if n > 1 else idx
            for j, k in enumerate(kth):
                out[start:start + m, j] = x[part[:, k]]
    return out


def interval(boot: np.ndarray, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - level
    lo = np.quantile(boot, alpha / 2, axis=0)
    hi = np.quantile(boot, 1 - alpha / 2, axis=0)
    return lo, hi


def latency_estimates(values: np.ndarray, *, seed: int,
                      quantiles: Sequence[float] = DEFAULT_QUANTILES,
                      n_resamples: int = N_RESAMPLES) -> dict[str, Estimate]:
    """mean, pNN (with bootstrap CIs), min and max (observed, exact) of latencies in ms."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {}
    boot = bootstrap_distribution(x, quantiles, seed=seed, n_resamples=n_resamples)
    lo, hi = interval(boot)
    out: dict[str, Estimate] = {}
    out["mean"] = Estimate(float(x.mean()), float(lo[-1]), float(hi[-1]))
    for j, q in enumerate(quantiles):
        out[metric_name(q)] = Estimate(percentile(x, q), float(lo[j]), float(hi[j]))
    mn, mx = float(x.min()), float(x.max())
    out["min"] = Estimate(mn, mn, mn)
    out["max"] = Estimate(mx, mx, mx)
    return out


def mean_estimate(values: np.ndarray, *, seed: int,
                  n_resamples: int = N_RESAMPLES) -> Estimate | None:
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return None
    boot = bootstrap_distribution(x, (), seed=seed, n_resamples=n_resamples)
    lo, hi = interval(boot)
    return Estimate(float(x.mean()), float(lo[-1]), float(hi[-1]))


def metric_name(q: float) -> str:
    """0.95 → 'p95', 0.999 → 'p99.9'."""
    return "p" + f"{q * 100:.4f}".rstrip("0").rstrip(".")


def wilson(successes: int, n: int, level: float = CI_LEVEL) -> Estimate | None:
    """A proportion with its Wilson score interval (good at 0 and 1, unlike the normal one)."""
    if n <= 0:
        return None
    z = _z(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, lo, hi)


def _z(level: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def samples_to_bound_above(q: float, level: float = CI_LEVEL) -> int:
    """Smallest n for which the sample max is a (1+level)/2 upper confidence bound of the
    q-quantile: P(all n samples below it) = q^n ≤ α/2. With fewer samples no data, however
    fast, can show the q-quantile is under a threshold."""
    alpha = 1 - level
    return math.ceil(math.log(alpha / 2) / math.log(q) - 1e-9)


def samples_to_bound_below(q: float, level: float = CI_LEVEL) -> int:
    """Smallest n for which the sample min is a lower confidence bound of the q-quantile:
    (1−q)^n ≤ α/2."""
    alpha = 1 - level
    return max(1, math.ceil(math.log(alpha / 2) / math.log(1 - q) - 1e-9))
