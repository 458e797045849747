"""Budget verdicts: PASS, FAIL or INCONCLUSIVE — one rule, used by run reports, load reports
and the capacity search alike.

Rule (for a "≤ threshold" budget; "≥" budgets are the mirror image):

- **Percentiles (pNN)** are decided on exact, distribution-free order-statistic bounds
  (:func:`ctxbench.analysis.stats.percentile_bounds`): **PASS** only if the order statistic that
  is a one-sided 97.5 % upper bound of the percentile is ≤ threshold, **FAIL** only if the one
  that is a 97.5 % lower bound is > threshold, else **INCONCLUSIVE**. Each wrong verdict
  therefore happens at most 2.5 % of the time, whatever the latency distribution. Failed and
  timed-out executions are censored at +∞ (over every budget). The minimum counts follow from
  the binomial: a percentile q can be shown *below* a threshold only with
  n ≥ ⌈ln 0.025 / ln q⌉ (p50: 6, p90: 36, p95: 72, p99: 368) and *above* it with
  n ≥ ⌈ln 0.025 / ln(1−q)⌉ (p50: 6, p90: 2, p95: 2, p99: 1). An undecided check says how
  many samples would decide it if the share of samples over the budget stayed as observed.
- ``max``/``min`` are the observed extremes (exact, no interval): a ``max`` budget FAILs on the
  first sample over it (a failed execution counts as over), PASSes with at least
  ``MIN_SAMPLES`` samples, all within. This is a statement about the measured samples, not a
  population percentile.
- a mean needs n ≥ ``MIN_SAMPLES_MEAN`` (10) for its bootstrap interval to mean anything;
- ``error_rate`` is decided on exact binomial (Clopper–Pearson) bounds over independent
  samples, failed and timed-out executions counted as errors (``stats.rate_bounds``,
  ``GroupData.failures``): **PASS** only if the one-sided 97.5 % upper bound is ≤ threshold,
  **FAIL** only if the 97.5 % lower bound is > threshold, else **INCONCLUSIVE**, saying how
  many more error-free samples would decide it. Showing ≤ 1 % takes ≥ 368 error-free samples
  (n ≥ ⌈ln 0.025 / ln 0.99⌉), which is why the default error budget (≤ 1 %) is one check on
  the whole run pooled (query and phase ``all``). Other rates (empty_rate) use the Wilson
  interval. A threshold of 0 is read literally (PASS with no errors at all, FAIL with one).
- a group whose every execution failed FAILs every latency budget ("no successful samples").

Overall verdict: FAIL if any FAIL, else INCONCLUSIVE if any INCONCLUSIVE (or the run is
incomplete), else PASS. Exit code: FAIL → 1; INCONCLUSIVE → 0, or 1 with ``strict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ctxbench.analysis.budgets import Budget, metric_kind, percentile_of
from ctxbench.analysis.data import Failures
from ctxbench.analysis.stats import (
    Estimate,
    error_free_to_pass,
    rate_bounds,
    samples_to_bound_above,
    samples_to_bound_below,
    samples_to_decide,
    samples_to_fail_rate,
)

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
ICONS = {PASS: "✅", FAIL: "❌", INCONCLUSIVE: "⚠️"}
SEVERITY = {FAIL: 0, INCONCLUSIVE: 1, PASS: 2}
MIN_SAMPLES = 5
MIN_SAMPLES_MEAN = 10


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str


def _needs(budget: Budget) -> tuple[int, int]:
    """(samples to show the statistic is below a value, samples to show it is above)."""
    q = percentile_of(budget.metric)
    if q is not None:
        return max(MIN_SAMPLES, samples_to_bound_above(q)), max(MIN_SAMPLES,
                                                                samples_to_bound_below(q))
    if budget.metric == "max":
        return MIN_SAMPLES, 1
    if budget.metric == "min":
        return 1, MIN_SAMPLES
    if metric_kind(budget.metric) == "rate":
        return 1, 1
    return MIN_SAMPLES_MEAN, MIN_SAMPLES_MEAN


def error_rate_estimate(f: Failures) -> Estimate | None:
    """The error rate of a group's executions with the exact bounds of its samples' failure
    probability (``Failures``: an upper bound counting a sample failed if any execution
    failed, a lower one only if all did)."""
    if f.samples <= 0 or f.executions <= 0:
        return None
    lo, hi = rate_bounds(f.any_failed, f.all_failed, f.samples)
    return Estimate(f.errors / f.executions, lo, hi)


def decide(budget: Budget, estimate: Estimate | None, n: int, *, errors: int = 0,
           over: int | None = None, failures: Failures | None = None) -> Decision:
    """The verdict of one budget on one group's estimate.

    ``n`` is the number of independent samples behind the estimate — for percentiles
    including the ``errors`` censored at +∞; ``over`` (percentiles only) is how many of them
    lie beyond the threshold, used to say how many samples would decide an open check;
    ``failures`` (error_rate: the estimate is ``error_rate_estimate(failures)``) lets an open
    error-rate check say how many more error-free samples would decide it."""
    threshold = budget.threshold
    assert threshold is not None
    kind = metric_kind(budget.metric)
    if kind == "latency" and errors and (estimate is None or n <= errors):
        return Decision(FAIL, f"no successful samples ({errors} failed)")
    if estimate is None or n == 0:
        what = "successful samples" if kind != "rate" else "samples"
        extra = f" ({errors} failed)" if errors else ""
        return Decision(INCONCLUSIVE, f"no {what}{extra}")
    if kind == "rate" and threshold == 0.0 and budget.op == "max":
        return (Decision(PASS, "none observed") if estimate.value == 0
                else Decision(FAIL, f"observed {estimate.value:.2%}"))
    q = percentile_of(budget.metric)
    if q is not None:
        return _decide_percentile(budget, q, estimate, n, over)
    if failures is not None and budget.metric == "error_rate" and budget.op == "max":
        return _decide_error_rate(threshold, estimate, failures)
    if budget.metric == "max" and budget.op == "max" and estimate.value > threshold:
        return Decision(FAIL, "a sample is over the budget" if estimate.value != float("inf")
                        else "a sample failed (counted as over every budget)")
    need_below, need_above = _needs(budget)
    # For a max budget, PASS means "below" and FAIL means "above"; mirrored for min budgets.
    need_pass, need_fail = ((need_below, need_above) if budget.op == "max"
                            else (need_above, need_below))
    if budget.op == "max":
        passes, fails = estimate.hi <= threshold, estimate.lo > threshold
    else:
        passes, fails = estimate.lo >= threshold, estimate.hi < threshold
    if fails and n >= need_fail:
        return Decision(FAIL, "interval entirely beyond the budget")
    if passes and n >= need_pass:
        return Decision(PASS, "interval within the budget")
    if (passes and n < need_pass) or (fails and n < need_fail):
        need = need_pass if passes else need_fail
        return Decision(INCONCLUSIVE, f"too few samples for {budget.metric}: n={n}, "
                                      f"needs ≥ {need}")
    return Decision(INCONCLUSIVE, "interval straddles the budget")


def _decide_percentile(budget: Budget, q: float, estimate: Estimate, n: int,
                       over: int | None) -> Decision:
    threshold = budget.threshold
    assert threshold is not None
    if budget.op == "max":
        passes, fails = estimate.hi <= threshold, estimate.lo > threshold
    else:
        passes, fails = estimate.lo >= threshold, estimate.hi < threshold
    if fails:
        return Decision(FAIL, "97.5 % lower bound beyond the budget"
                        if budget.op == "max" else "97.5 % upper bound below the floor")
    if passes:
        return Decision(PASS, "97.5 % upper bound within the budget"
                        if budget.op == "max" else "97.5 % lower bound above the floor")
    need_low = samples_to_bound_above(q)
    if budget.op == "max" and n < need_low and (over == 0 or over is None):
        why = f"too few samples for {budget.metric}: n={n}, needs ≥ {need_low} to show it below"
    else:
        why = f"the bounds straddle the budget (n={n})"
    if over is not None and budget.op == "max":
        total = samples_to_decide(n, over, q)
        if total is None:
            why += f"; {over / n:.1%} of samples over the budget: no feasible n decides it"
        elif total > n:
            why += f"; about {total - n} more samples would decide it"
    return Decision(INCONCLUSIVE, why)


def _decide_error_rate(threshold: float, estimate: Estimate, f: Failures) -> Decision:
    if estimate.lo > threshold:
        return Decision(FAIL, "exact 97.5 % lower bound beyond the budget "
                              f"({f.all_failed} of {f.samples} samples failed)")
    if estimate.hi <= threshold:
        return Decision(PASS, "exact 97.5 % upper bound within the budget "
                              f"({f.any_failed} of {f.samples} samples failed)")
    if f.any_failed == 0:
        why = f"too few samples for error_rate: n={f.samples}, none failed"
    else:
        why = f"the exact bounds straddle the budget (n={f.samples}, {f.any_failed} failed)"
    more = error_free_to_pass(f.samples, f.any_failed, threshold)
    if more:
        why += f"; about {more} more error-free samples would decide it"
    fail_at = samples_to_fail_rate(f.samples, f.all_failed, threshold)
    if fail_at is not None and fail_at > f.samples:
        why += f"; about {fail_at - f.samples} more at the observed share would FAIL it"
    return Decision(INCONCLUSIVE, why)


def overall(verdicts: Iterable[str], *, complete: bool = True) -> str:
    seen = set(verdicts)
    if FAIL in seen:
        return FAIL
    if INCONCLUSIVE in seen or not complete:
        return INCONCLUSIVE
    return PASS


def exit_code(verdict: str, strict: bool = False) -> int:
    """0 when budgets hold (INCONCLUSIVE too, unless strict), 1 when one is broken."""
    if verdict == FAIL:
        return 1
    if verdict == INCONCLUSIVE and strict:
        return 1
    return 0


def counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {PASS: 0, FAIL: 0, INCONCLUSIVE: 0}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out
