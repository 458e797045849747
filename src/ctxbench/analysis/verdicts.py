"""Budget verdicts: PASS, FAIL or INCONCLUSIVE, decided on the confidence interval.

Rule (for a "≤ threshold" budget; "≥" budgets are the mirror image):

- **PASS** if the upper end of the 95 % interval is ≤ threshold,
- **FAIL** if the lower end is > threshold,
- **INCONCLUSIVE** if the interval straddles the threshold, if there are no samples, or if
  there are too few samples for the statistic:

  * any verdict needs at least ``MIN_SAMPLES`` (5) samples, except that a ``max`` budget
    FAILs on the first sample above it (one execution over the limit already breaks it);
  * a percentile q can only be shown *below* a threshold with n ≥ ⌈ln 0.025 / ln q⌉
    samples (p50: 6, p90: 36, p95: 72, p99: 368) — with fewer, even the slowest observation
    is not a 97.5 % upper bound for the q-quantile, so a PASS would be a coin toss; it can be
    shown *above* with n ≥ ⌈ln 0.025 / ln(1−q)⌉ (p50: 6, p95: 2, p99: 1). So a short cold
    phase can still prove a budget broken, but not kept;
  * a mean needs n ≥ ``MIN_SAMPLES_MEAN`` (10) for its bootstrap interval to mean anything;
  * ``max``/``min`` are the observed extremes (exact, no interval);
  * rates (error_rate, empty_rate) use the Wilson interval; a threshold of 0 is read
    literally (PASS with no errors at all, FAIL with one).

Overall verdict: FAIL if any FAIL, else INCONCLUSIVE if any INCONCLUSIVE (or the run is
incomplete), else PASS. Exit code: FAIL → 1; INCONCLUSIVE → 0, or 1 with ``strict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ctxbench.analysis.budgets import Budget, metric_kind, percentile_of
from ctxbench.analysis.stats import (
    Estimate,
    samples_to_bound_above,
    samples_to_bound_below,
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


def decide(budget: Budget, estimate: Estimate | None, n: int, *, errors: int = 0) -> Decision:
    """The verdict of one budget on one group's estimate (n = samples behind the estimate)."""
    threshold = budget.threshold
    assert threshold is not None
    if estimate is None or n == 0:
        what = "successful samples" if metric_kind(budget.metric) != "rate" else "samples"
        extra = f" ({errors} failed)" if errors else ""
        return Decision(INCONCLUSIVE, f"no {what}{extra}")
    if metric_kind(budget.metric) == "rate" and threshold == 0.0 and budget.op == "max":
        return (Decision(PASS, "none observed") if estimate.value == 0
                else Decision(FAIL, f"observed {estimate.value:.2%}"))
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


def counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    out = {PASS: 0, FAIL: 0, INCONCLUSIVE: 0}
    for row in rows:
        out[row["verdict"]] = out.get(row["verdict"], 0) + 1
    return out
