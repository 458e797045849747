"""Latency statistics with honest uncertainty: percentiles, bootstrap intervals, rates.

**Percentile definition.** ``inverted_cdf`` (Hyndman & Fan type 1): the q-th percentile is the
smallest observed latency x with F_n(x) ≥ q, i.e. the ⌈q·n⌉-th smallest sample. It is always
a latency that really happened (no interpolation between two samples), and "p95 ≤ 500 ms"
then reads literally as "at least 95 % of executions took ≤ 500 ms".

**Percentile bounds (what verdicts use).** Exact and distribution-free: with n independent
samples sorted x(1) ≤ … ≤ x(n), the number of samples below the true q-quantile ξ is
Binomial(n, q), so x(u) is a one-sided 97.5 % *upper* bound of ξ for the smallest rank u with
P(Bin(n, q) ≥ u) ≤ 2.5 %, and x(l) a 97.5 % *lower* bound for the largest rank l with
P(Bin(n, q) ≤ l − 1) ≤ 2.5 % (``order_ranks``; the same interval as
``scipy.stats.quantile_test(...).confidence_interval``). When no such rank exists (too few
samples) the bound is ±∞. Failed and timed-out executions are *censored*: they enter the sample
as +∞ (slower than any budget), so they raise the bounds instead of vanishing.

**Confidence intervals of means (display, compare).** 95 % percentile bootstrap: resample the n latencies with
replacement B times (B = 2000 by default), compute the statistic on each resample, and take
the 2.5th and 97.5th percentiles of those B values. The generator is numpy's PCG64 seeded from
a hash of the group's key, so every rebuild of a report gives the same intervals and groups
don't share random streams. Resampling is vectorised and chunked: a chunk holds at most
``CHUNK_ELEMENTS`` indices (≈16 MiB), and for very large n the number of resamples drops so
that B·n stays below ``WORK_ELEMENTS`` (never below ``MIN_RESAMPLES``), which keeps memory and
time bounded for load runs with millions of samples. Because the sample is sorted once, the
q-th percentile of a resample is the sorted sample at the ⌈q·n⌉-th smallest resampled index,
so a chunk needs one ``np.partition`` for all percentiles.

**Error rates (what verdicts use)** are decided on exact binomial (Clopper–Pearson) bounds:
with k of n independent samples failed, the one-sided 97.5 % upper bound of the failure
probability is the 0.975 quantile of Beta(k + 1, n − k) and the lower bound the 0.025 quantile
of Beta(k, n − k + 1) (``rate_bounds``; the interval ``scipy.stats.binomtest(k, n)
.proportion_ci(method="exact")`` gives). No errors in n samples shows a rate ≤ r only when
n ≥ ⌈ln 0.025 / ln(1 − r)⌉ (r = 1 %: 368). Rates shown per group (errors, empty answers) use
the Wilson score interval, which behaves at 0 and at 1.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np
from scipy.stats import beta, binom

from ctxbench.results.summary_types import EstimateJson

PERCENTILE_METHOD: Final = "inverted_cdf"
CI_LEVEL = 0.95
ALPHA_ONE_SIDED = (1 - CI_LEVEL) / 2  # each verdict direction errs at most 2.5 %
MAX_PLANNED_SAMPLES = 1_000_000
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

    def to_json(self) -> EstimateJson:
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


def _upper_rank(n: int, q: float, alpha: float) -> int | None:
    # smallest u in 1..n with P(Bin(n, q) >= u) = sf(u - 1) <= alpha
    guess = int(binom.ppf(1 - alpha, n, q)) + 1
    for u in range(max(1, guess - 2), min(n, guess + 2) + 1):
        if binom.sf(u - 1, n, q) <= alpha:
            return u
    return None


def _lower_rank(n: int, q: float, alpha: float) -> int | None:
    # largest l in 1..n with P(Bin(n, q) <= l - 1) = cdf(l - 1) <= alpha
    guess = int(binom.ppf(alpha, n, q)) + 1
    for lo in range(min(n, guess + 2), max(1, guess - 2) - 1, -1):
        if binom.cdf(lo - 1, n, q) <= alpha:
            return lo
    return None


@functools.lru_cache(maxsize=4096)
def order_ranks(n: int, q: float, alpha: float = ALPHA_ONE_SIDED) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the order statistics that are one-sided (1 − alpha) lower and
    upper confidence bounds of the q-quantile of n independent samples (None: no such rank,
    too few samples). Exact for any continuous distribution; conservative with ties."""
    if n <= 0:
        return None, None
    return _lower_rank(n, q, alpha), _upper_rank(n, q, alpha)


def percentile_bounds(values: np.ndarray, q: float, *, censored: int = 0,
                      alpha: float = ALPHA_ONE_SIDED) -> Estimate:
    """The q-quantile with its exact order-statistic bounds; ``censored`` samples (failed or
    timed out) count as +∞. Bounds that cannot exist with this n are −∞ / +∞."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if censored:
        x = np.concatenate([x, np.full(int(censored), math.inf)])
    n = x.size
    if n == 0:
        return Estimate(math.nan, -math.inf, math.inf)
    lo_rank, hi_rank = order_ranks(n, q, alpha)
    value = float(x[_order_index(n, q)])
    lo = float(x[lo_rank - 1]) if lo_rank else -math.inf
    hi = float(x[hi_rank - 1]) if hi_rank else math.inf
    return Estimate(value, lo, hi)


def samples_to_decide(n: int, over: int, q: float, *, alpha: float = ALPHA_ONE_SIDED,
                      cap: int = MAX_PLANNED_SAMPLES) -> int | None:
    """The smallest total sample count N ≥ n at which a "q-quantile ≤ threshold" check would be
    decided (either way) if the share of samples over the threshold stayed at over / n; None if
    it never would (the share sits on 1 − q) or only beyond ``cap``."""
    if n <= 0:
        return None
    share = over / n
    sizes = np.unique(np.concatenate([np.arange(n, min(cap, n + 2000) + 1),
                                      np.geomspace(max(n, 1), cap, 400).astype(np.int64)]))
    k = np.rint(share * sizes)
    # PASS at N: at most N - u samples over, i.e. P(Bin(N, q) >= N - k) <= alpha
    pass_ok = binom.sf(sizes - k - 1, sizes, q) <= alpha
    # FAIL at N: at least N - l + 1 over, i.e. P(Bin(N, q) <= N - k) <= alpha
    fail_ok = binom.cdf(sizes - k, sizes, q) <= alpha
    hit = np.nonzero(pass_ok | fail_ok)[0]
    return int(sizes[hit[0]]) if hit.size else None


def latency_estimates(values: np.ndarray, *, seed: int,
                      quantiles: Sequence[float] = DEFAULT_QUANTILES,
                      n_resamples: int = N_RESAMPLES, censored: int = 0) -> dict[str, Estimate]:
    """mean (bootstrap CI, successful samples only), pNN (exact order-statistic bounds, the
    ``censored`` failures counted as +∞), min and max (observed; max is +∞ if any sample
    failed) of latencies in ms."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 and not censored:
        return {}
    out: dict[str, Estimate] = {}
    if x.size:
        mean = mean_estimate(x, seed=seed, n_resamples=n_resamples)
        assert mean is not None
        out["mean"] = mean
    for q in quantiles:
        out[metric_name(q)] = percentile_bounds(x, q, censored=censored)
    if x.size:
        mn = float(x.min())
        out["min"] = Estimate(mn, mn, mn)
    mx = math.inf if censored else float(x.max())
    out["max"] = Estimate(mx, mx, mx)
    return out


def bootstrap_percentile_estimates(values: np.ndarray, *, seed: int,
                                   quantiles: Sequence[float] = DEFAULT_QUANTILES,
                                   n_resamples: int = N_RESAMPLES) -> dict[str, Estimate]:
    """pNN with 95 % percentile-bootstrap intervals: the rule verdicts used before the exact
    bounds. Kept for display and for the calibration test that shows why it was replaced (it
    under-covers tail percentiles at small n)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {}
    boot = bootstrap_distribution(x, quantiles, seed=seed, n_resamples=n_resamples,
                                  with_mean=False)
    lo, hi = interval(boot)
    return {metric_name(q): Estimate(percentile(x, q), float(lo[j]), float(hi[j]))
            for j, q in enumerate(quantiles)}


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


@functools.lru_cache(maxsize=4096)
def rate_bounds(failed_hi: int, failed_lo: int, n: int, *,
                alpha: float = ALPHA_ONE_SIDED) -> tuple[float, float]:
    """Exact one-sided (1 − alpha) bounds (lower, upper) of a failure probability from n
    independent samples: the upper bound counts ``failed_hi`` of them as failed, the lower one
    ``failed_lo`` (equal when each sample is one execution; see ``GroupData.failures``)."""
    if n <= 0:
        return 0.0, 1.0
    lo = float(beta.ppf(alpha, failed_lo, n - failed_lo + 1)) if failed_lo > 0 else 0.0
    hi = float(beta.ppf(1 - alpha, failed_hi + 1, n - failed_hi)) if failed_hi < n else 1.0
    return lo, hi


@functools.lru_cache(maxsize=4096)
def error_free_to_pass(n: int, failed: int, ceiling: float, *, alpha: float = ALPHA_ONE_SIDED,
                       cap: int = MAX_PLANNED_SAMPLES) -> int | None:
    """How many more error-free samples would bring the exact upper bound of a rate with
    ``failed`` of ``n`` samples failed to ``ceiling`` or below (0 if it already is); None if
    not within ``cap`` samples in all."""
    if ceiling <= 0:
        return None
    def ok(extra: int) -> bool:
        return rate_bounds(failed, failed, n + extra, alpha=alpha)[1] <= ceiling
    if ok(0):
        return 0
    hi = 1
    while not ok(hi):
        if n + hi > cap:
            return None
        hi *= 2
    lo = hi // 2  # ok(lo) is False, ok(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


@functools.lru_cache(maxsize=4096)
def samples_to_fail_rate(n: int, failed: int, ceiling: float, *,
                         alpha: float = ALPHA_ONE_SIDED,
                         cap: int = MAX_PLANNED_SAMPLES) -> int | None:
    """The smallest total N ≥ n at which the exact lower bound of the rate would exceed
    ``ceiling`` if the share of failed samples stayed at failed / n; None if it never would
    (the share is at or below the ceiling) or only beyond ``cap``."""
    if n <= 0 or failed / n <= ceiling:
        return None
    share = failed / n
    sizes = np.unique(np.concatenate([np.arange(n, min(cap, n + 2000) + 1),
                                      np.geomspace(n, cap, 400).astype(np.int64)]))
    k = np.rint(share * sizes)
    lo = beta.ppf(alpha, np.maximum(k, 1), sizes - k + 1)
    hit = np.nonzero((k > 0) & (lo > ceiling))[0]
    return int(sizes[hit[0]]) if hit.size else None
