"""Capacity search: step the open-loop arrival rate up until a percentile breaks its budget.

Each step of the :class:`RatePlan` is judged once its window has ended and every request
intended in it had time to finish (``grace``). A step passes when, for every (query, variant)
of the mix, the chosen percentile of its latencies (from the intended start, so queueing
counts) is within the budget, and its error ratio is within the error budget. Requests that
were due in the step but have not finished by then are counted as slower than the budget
(they already waited longer than the grace, which is at least the budget); without that, an
overloaded server would look fast because its slowest requests are still queued.

Capacity is the highest rate of a passing step before the first failing one. The search stops
at the first failing step; if no step fails, capacity is reported as "at least max_rate".
Percentiles use the analysis module's definition (``inverted_cdf``); the step verdicts are
point estimates, the per-step latencies stay in measurements.jsonl for the full report.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctxbench.analysis.budgets import parse_budgets, percentile_of, resolve
from ctxbench.analysis.stats import percentile
from ctxbench.config import DEFAULT_BUDGET
from ctxbench.load.schedule import RatePlan

DEFAULT_MAX_ERROR_RATE = 0.01
MIN_GRACE_S = 0.5
FLUSH_ALLOWANCE_S = 1.0


def thresholds_for(mix_items: Iterable[tuple[Any, str]], budgets: list[dict[str, Any]], metric: str,
                   budget_ms: float | None, labels: Mapping[str, str]) -> tuple[dict[str, float],
                                                                                dict[str, float]]:
    """Per mix item: the latency threshold (ms) for ``metric`` and the error-ratio ceiling,
    resolved from the run's budgets exactly as the report resolves them (phase ``load``)."""
    from ctxbench.load.workload import item_name

    parsed = parse_budgets(budgets, with_default=False)
    latency: dict[str, float] = {}
    errors: dict[str, float] = {}
    for q, v in mix_items:
        name = item_name(q.name, v)
        found = {b.metric: b for b in resolve(parsed, q.name, "load", v, labels)}
        if budget_ms is not None:
            latency[name] = float(budget_ms)
        elif metric in found and found[metric].op == "max":
            latency[name] = float(found[metric].threshold)  # type: ignore[arg-type]
        else:
            latency[name] = float(getattr(q, "budget_ms", DEFAULT_BUDGET["max"]))
        er = found.get("error_rate")
        errors[name] = float(er.threshold) if er is not None and er.op == "max" else DEFAULT_MAX_ERROR_RATE
    return latency, errors


@dataclass
class StepData:
    scheduled: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    lag_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)


@dataclass
class StepVerdict:
    step: int
    rate: float
    passed: bool
    scheduled: int
    completed: int
    missing: int
    errors: int
    worst: str | None  # the mix item furthest over (or closest to) its budget
    worst_value_ms: float | None
    worst_budget_ms: float | None
    achieved_rate: float
    lag_p95_ms: float | None
    service_p95_ms: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CapacitySearch:
    """Collects per-step data (from any number of processes) and judges finished steps."""

    def __init__(self, plan: RatePlan, *, metric: str, thresholds_ms: Mapping[str, float],
                 max_error_rates: Mapping[str, float]) -> None:
        q = percentile_of(metric)
        if q is None:
            raise ValueError(f"capacity metric {metric!r} is not a percentile")
        self.plan, self.metric, self.q = plan, metric, q
        self.thresholds = dict(thresholds_ms)
        self.max_error_rates = dict(max_error_rates)
        self.steps: dict[int, StepData] = defaultdict(StepData)
        self.verdicts: list[StepVerdict] = []
        self.stopped_at: int | None = None

    @property
    def grace_s(self) -> float:
        worst = max(self.thresholds.values(), default=0.0) / 1000.0
        return max(worst, MIN_GRACE_S) + FLUSH_ALLOWANCE_S

    # -- feeding -----------------------------------------------------------------------
    def add_scheduled(self, step: int, name: str, n: int) -> None:
        self.steps[step].scheduled[name] += n

    def add_result(self, step: int, name: str, latency_ms: float, ok: bool, lag_ms: float | None,
                   service_ms: float | None) -> None:
        data = self.steps[step]
        if ok:
            data.latencies_ms[name].append(latency_ms)
        else:
            data.errors[name] += 1
        if lag_ms is not None:
            data.lag_ms.append(lag_ms)
        if service_ms is not None:
            data.service_ms.append(service_ms)

    # -- judging -----------------------------------------------------------------------
    def due(self, elapsed_s: float) -> list[int]:
        """Steps whose window ended at least ``grace_s`` ago and are not judged yet."""
        judged = {v.step for v in self.verdicts}
        out = []
        n = self.plan.n_steps or 0
        for k in range(n):
            if k in judged:
                continue
            if self.plan.step_window(k)[1] + self.grace_s <= elapsed_s:
                out.append(k)
        return out

    def judge(self, step: int) -> StepVerdict:
        data = self.steps[step]
        rate = self.plan.rate_of(step)
        start, end = self.plan.step_window(step)
        completed = sum(len(v) for v in data.latencies_ms.values()) + sum(data.errors.values())
        scheduled = sum(data.scheduled.values())
        missing_total = 0
        worst: tuple[float, str, float, float] | None = None  # (value/budget, name, value, budget)
        reasons: list[str] = []
        names = sorted(set(data.scheduled) | set(data.latencies_ms) | set(data.errors))
        for name in names:
            lat = data.latencies_ms.get(name, [])
            errs = data.errors.get(name, 0)
            missing = max(0, data.scheduled.get(name, 0) - len(lat) - errs)
            missing_total += missing
            n = len(lat) + errs + missing
            if n == 0:
                continue
            budget = self.thresholds.get(name, 500.0)
            # unfinished requests are slower than the grace period, hence than the budget
            values = np.asarray(lat + [math.inf] * missing, dtype=np.float64)
            value = percentile(values, self.q) if values.size else math.inf
            ratio = value / budget if budget > 0 else math.inf
            if worst is None or ratio > worst[0]:
                worst = (ratio, name, value, budget)
            if value > budget:
                why = f"{name} {self.metric} {_ms(value)} > {budget:g} ms"
                if missing:
                    why += f" ({missing} of {n} requests unfinished after the step)"
                reasons.append(why)
            err_rate = errs / n
            if err_rate > self.max_error_rates.get(name, DEFAULT_MAX_ERROR_RATE):
                reasons.append(f"{name} error ratio {err_rate:.2%} > "
                               f"{self.max_error_rates.get(name, DEFAULT_MAX_ERROR_RATE):.2%}")
        if scheduled == 0 and completed == 0:
            reasons.append("no request was scheduled in this step (no running users?)")
        duration = end - start
        verdict = StepVerdict(
            step=step, rate=rate, passed=not reasons, scheduled=scheduled, completed=completed,
            missing=missing_total, errors=sum(data.errors.values()),
            worst=worst[1] if worst else None,
            worst_value_ms=_finite(worst[2]) if worst else None,
            worst_budget_ms=worst[3] if worst else None,
            achieved_rate=round(completed / duration, 3) if duration > 0 else 0.0,
            lag_p95_ms=_p(data.lag_ms, 0.95), service_p95_ms=_p(data.service_ms, 0.95),
            reason="; ".join(reasons) if reasons else f"every {self.metric} within budget")
        self.verdicts.append(verdict)
        if not verdict.passed and self.stopped_at is None:
            self.stopped_at = step
        return verdict

    @property
    def finished(self) -> bool:
        return self.stopped_at is not None or len(self.verdicts) >= (self.plan.n_steps or 0)

    def result(self) -> dict[str, Any]:
        """The answer, as written to capacity.json and meta.extra["capacity"]."""
        ordered = sorted(self.verdicts, key=lambda v: v.step)
        capacity: float | None = None
        for v in ordered:
            if not v.passed:
                break
            capacity = v.rate
        exhausted = self.stopped_at is None and len(ordered) >= (self.plan.n_steps or 0)
        if capacity is None:
            summary = (f"no step passed: capacity is below the first rate {self.plan.start_rate:g} "
                       "req/s" if ordered else "no step was judged")
        elif exhausted:
            summary = f"capacity >= {capacity:g} req/s (every step up to max_rate passed)"
        else:
            summary = f"capacity {capacity:g} req/s ({self.metric} within budget)"
        return {"schema_version": 1, "capacity_rps": capacity, "metric": self.metric,
                "lower_bound_only": bool(exhausted and capacity is not None),
                "complete": self.finished, "summary": summary, "plan": self.plan.to_json(),
                "budgets_ms": self.thresholds, "max_error_rates": self.max_error_rates,
                "grace_s": self.grace_s, "steps": [v.to_json() for v in ordered]}


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(percentile(np.asarray(values, dtype=np.float64), q), 3)


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 3)


def _ms(x: float) -> str:
    return "unfinished" if math.isinf(x) else f"{x:.1f} ms"
