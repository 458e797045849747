"""Capacity search: step the open-loop arrival rate up until a percentile breaks its budget.

Each step of the :class:`RatePlan` is judged once its window has ended and every request
intended in it had time to finish (``grace``). A step passes when, for every (query, variant)
of the mix, the chosen percentile of its latencies (from the intended start, so queueing
counts) is within the budget, and its error ratio is within the error budget. Requests that
were due in the step but have not finished by then are counted as slower than the budget
(they already waited longer than the grace, which is at least the budget); without that, an
overloaded server would look fast because its slowest requests are still queued.

Steps are judged by the report's verdict engine: a percentile is shown over its budget when
its exact order-statistic lower bound is (FAIL), within it when its upper bound is (PASS);
failed and unfinished requests are censored at +inf. A request type with too few requests in a
step to ever show its percentile within budget (a p95 needs 72) is listed, not judged; the
service's SLO on all traffic (a budget on query "all") is judged on every request of the step
pooled, which has the samples. A step whose checks straddle their budget is undecided: the
search stops there and says how many more requests would decide it.

Capacity is the highest rate of a passing step before the first failing (or undecided) one; if
every step passes, capacity is reported as "at least max_rate".

A plan with a warm-up period (``RatePlan.warmup_s``) runs it at ``start_rate`` before step 0:
its arrivals and requests (step :data:`WARMUP_STEP`, flagged warm-up) are collected apart and
reported in ``result()["warmup"]`` (rate, seconds, arrivals, served, achieved rate and, through
the cache, the hit rate of the last quarter of its requests as recorded, i.e. by completion);
they never enter a step's judgement.
The per-step latencies stay in measurements.jsonl for the full report.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctxbench.analysis.budgets import parse_budgets, percentile_of, resolve
from ctxbench.analysis.data import POOLED_QUERY
from ctxbench.analysis.stats import order_ranks, percentile, percentile_bounds, samples_to_decide
from ctxbench.config import DEFAULT_BUDGET
from ctxbench.load.schedule import WARMUP_STEP, RatePlan
from ctxbench.queries import Executable

DEFAULT_MAX_ERROR_RATE = 0.01
MIN_GRACE_S = 0.5
FLUSH_ALLOWANCE_S = 1.0


def thresholds_for(mix_items: Iterable[tuple[Executable, str]], budgets: list[dict[str, Any]], metric: str,
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
        errors[name] = (float(er.threshold) if er is not None and er.op == "max" and er.threshold is not None
                        else DEFAULT_MAX_ERROR_RATE)
    pooled = {b.metric: b for b in resolve(parsed, POOLED_QUERY, "load", POOLED_QUERY, labels)
              if b.query == POOLED_QUERY}
    if budget_ms is None and metric in pooled and pooled[metric].op == "max":
        latency[POOLED_QUERY] = float(pooled[metric].threshold)  # type: ignore[arg-type]
        er = pooled.get("error_rate")
        errors[POOLED_QUERY] = (float(er.threshold) if er is not None and er.op == "max"
                                and er.threshold is not None else DEFAULT_MAX_ERROR_RATE)
    return latency, errors


@dataclass
class StepData:
    scheduled: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    lag_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)  # through the cache: hit or not, as recorded


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
    undecided: list[str] = field(default_factory=list)  # checks straddling their budget
    too_few: list[str] = field(default_factory=list)  # types with too few requests to judge

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
                   service_ms: float | None, hit: bool | None = None) -> None:
        data = self.steps[step]
        if hit is not None:
            data.hits.append(hit)
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
        undecided: list[str] = []
        too_few: list[str] = []
        pooled_lat: list[float] = []
        pooled_censored = pooled_errs = 0
        for name in names:
            lat = data.latencies_ms.get(name, [])
            errs = data.errors.get(name, 0)
            missing = max(0, data.scheduled.get(name, 0) - len(lat) - errs)
            missing_total += missing
            pooled_lat += lat
            pooled_censored += errs + missing
            pooled_errs += errs
            n = len(lat) + errs + missing
            if n == 0:
                continue
            budget = self.thresholds.get(name, DEFAULT_BUDGET["max"])
            self._check(name, lat, errs, missing, budget, reasons, undecided, too_few)
            # unfinished requests are slower than the grace period, hence than the budget
            value = percentile(np.asarray(lat + [math.inf] * (missing + errs)), self.q)
            ratio = value / budget if budget > 0 else math.inf
            if worst is None or ratio > worst[0]:
                worst = (ratio, name, value, budget)
            err_rate = errs / n
            if err_rate > self.max_error_rates.get(name, DEFAULT_MAX_ERROR_RATE):
                reasons.append(f"{name} error ratio {err_rate:.2%} > "
                               f"{self.max_error_rates.get(name, DEFAULT_MAX_ERROR_RATE):.2%}")
        if POOLED_QUERY in self.thresholds and (pooled_lat or pooled_censored):
            self._check(POOLED_QUERY, pooled_lat, pooled_errs, pooled_censored - pooled_errs,
                        self.thresholds[POOLED_QUERY], reasons, undecided, too_few)
            n_all = len(pooled_lat) + pooled_censored
            limit = self.max_error_rates.get(POOLED_QUERY, DEFAULT_MAX_ERROR_RATE)
            if pooled_errs / n_all > limit:
                reasons.append(f"all requests: error ratio {pooled_errs / n_all:.2%} > {limit:.2%}")
        if scheduled == 0 and completed == 0:
            reasons.append("no request was scheduled in this step (no running users?)")
        duration = end - start
        verdict = StepVerdict(
            step=step, rate=rate, passed=not reasons and not undecided, scheduled=scheduled,
            completed=completed,
            missing=missing_total, errors=sum(data.errors.values()),
            worst=worst[1] if worst else None,
            worst_value_ms=_finite(worst[2]) if worst else None,
            worst_budget_ms=worst[3] if worst else None,
            achieved_rate=round(completed / duration, 3) if duration > 0 else 0.0,
            lag_p95_ms=_p(data.lag_ms, 0.95), service_p95_ms=_p(data.service_ms, 0.95),
            reason=("; ".join(reasons) if reasons else
                    "undecided: " + "; ".join(undecided) if undecided else
                    f"every {self.metric} within budget"
                    + (f" (too few requests to judge: {', '.join(too_few)})" if too_few else "")),
            undecided=undecided, too_few=too_few)
        self.verdicts.append(verdict)
        if not verdict.passed and self.stopped_at is None:
            self.stopped_at = step
        return verdict

    def _check(self, name: str, lat: list[float], errs: int, missing: int, budget: float,
               reasons: list[str], undecided: list[str], too_few: list[str]) -> None:
        """The verdict engine's rule for one percentile check of one step."""
        censored = errs + missing
        n = len(lat) + censored
        est = percentile_bounds(np.asarray(lat, dtype=np.float64), self.q, censored=censored)
        label = "all requests" if name == POOLED_QUERY else name
        if est.lo > budget:
            why = f"{label} {self.metric} {_ms(est.value)} > {budget:g} ms (lower bound {_ms(est.lo)})"
            if missing:
                why += f" ({missing} of {n} requests unfinished after the step)"
            reasons.append(why)
        elif est.hi <= budget:
            return
        elif order_ranks(n, self.q)[1] is None:
            too_few.append(f"{label} ({n})")
        else:
            over = int(sum(x > budget for x in lat)) + censored
            more = samples_to_decide(n, over, self.q)
            undecided.append(f"{label} {self.metric} {_ms(est.value)} vs {budget:g} ms"
                             + (f" (about {more - n} more requests would decide it)" if more else ""))

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
        stop = next((v for v in ordered if not v.passed), None)
        undecided = stop is not None and stop.reason.startswith("undecided")
        if capacity is None and undecided and stop is not None:
            summary = (f"not established: the first step ({stop.rate:g} req/s) was undecided — "
                       f"{'; '.join(stop.undecided)}; longer steps (step_seconds) would decide it")
        elif capacity is None:
            summary = (f"no step passed: capacity is below the first rate {self.plan.start_rate:g} "
                       "req/s" if ordered else "no step was judged")
        elif undecided and stop is not None:
            summary = (f"capacity >= {capacity:g} req/s: the step at {stop.rate:g} req/s was "
                       f"undecided ({'; '.join(stop.undecided)})")
        elif exhausted:
            summary = f"capacity >= {capacity:g} req/s (every step up to max_rate passed)"
        else:
            summary = f"capacity {capacity:g} req/s ({self.metric} within budget)"
        out = {"schema_version": 1, "capacity_rps": capacity, "metric": self.metric,
               "lower_bound_only": bool(exhausted and capacity is not None),
               "complete": self.finished, "summary": summary, "plan": self.plan.to_json(),
               "budgets_ms": self.thresholds, "max_error_rates": self.max_error_rates,
               "grace_s": self.grace_s, "steps": [v.to_json() for v in ordered]}
        if self.plan.warmup_s:
            out["warmup"] = self.warmup_result()
        return out

    def warmup_result(self) -> dict[str, Any]:
        """The warm-up period before step 0: what was offered and served, never judged."""
        data = self.steps.get(WARMUP_STEP) or StepData()
        served = sum(len(v) for v in data.latencies_ms.values()) + sum(data.errors.values())
        scheduled = sum(data.scheduled.values())
        tail = data.hits[len(data.hits) - len(data.hits) // 4:] if len(data.hits) >= 4 else []
        seconds = self.plan.warmup_s
        return {"rate": self.plan.start_rate, "seconds": seconds, "scheduled": scheduled,
                "served": served, "errors": sum(data.errors.values()),
                "unserved": max(0, scheduled - served),
                "offered_rate": round(scheduled / seconds, 3) if seconds else None,
                "achieved_rate": round(served / seconds, 3) if seconds else None,
                "lag_p95_ms": _p(data.lag_ms, 0.95), "service_p95_ms": _p(data.service_ms, 0.95),
                "cached_requests": len(data.hits),
                "hit_rate_end": round(sum(tail) / len(tail), 4) if tail else None,
                "hit_rate_end_requests": len(tail)}


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(percentile(np.asarray(values, dtype=np.float64), q), 3)


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 3)


def _ms(x: float) -> str:
    return "unfinished" if math.isinf(x) else f"{x:.1f} ms"
