"""Analysis of a load run: open-loop accounting, and the figures the load section shows.

Pure functions of what a load run wrote (``arrivals.json``, ``summary.json``'s groups, Locust's
summary, ``capacity.json``); ``ctxbench.report.load`` renders their results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ctxbench.analysis.data import GroupData, GroupKey
from ctxbench.results.store import ResultsDir

ARRIVALS_FILE = "arrivals.json"


def read_arrivals(results: ResultsDir) -> dict[str, Any] | None:
    path = results.path / ARRIVALS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def open_loop_accounting(arrivals: dict[str, Any] | None, groups: dict[GroupKey, GroupData]
                         ) -> dict[str, Any] | None:
    """Offered vs achieved rate of an open-loop run, and per group the arrivals that fell due
    but were never served (still queued or running when the drain began)."""
    if not arrivals or arrivals.get("mode") != "open":
        return None
    scheduled = {str(k): int(v) for k, v in (arrivals.get("scheduled") or {}).items()}
    duration = float(arrivals.get("duration_s") or 0) or None
    unserved: dict[GroupKey, int] = {}
    served = 0
    for key, g in groups.items():
        if key.phase != "load" or key.label_dict.get("mode") != "open":
            continue
        recorded = g.n + g.n_errors + g.n_warmup
        served += recorded
        missing = scheduled.get(f"{key.query}[{key.variant}]", 0) - recorded
        if missing > 0:
            unserved[key] = missing
    offered = sum(scheduled.values())
    return {"scheduled": offered, "served": served, "unserved_total": sum(unserved.values()),
            "duration_s": duration,
            "offered_rps": offered / duration if duration else None,
            "achieved_rps": served / duration if duration else None,
            "unserved": unserved}


# -- figures of the load section (from summary.json) ------------------------------------------

def load_groups(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's groups of the ``load`` phase."""
    return [g for g in summary.get("groups", []) if g.get("phase") == "load"]


def request_name(group: dict[str, Any]) -> str:
    return f"{group['query']}[{group['variant']}]"


def percentile_ms(group: dict[str, Any] | None, metric: str) -> float | None:
    """A group's exact latency percentile (ms), None when not estimable."""
    if group is None:
        return None
    est = (group.get("latency_ms") or {}).get(metric)
    return None if est is None else est.get("value")


def metric_mean_ms(group: dict[str, Any], name: str) -> float | None:
    """The mean of one of a group's per-request metrics (lag_ms, pool_wait_ms, service_ms)."""
    m = (group.get("metrics") or {}).get(name)
    if not m:
        return None
    mean = m.get("mean")
    return mean.get("value") if isinstance(mean, dict) else mean


@dataclass(frozen=True)
class LocustVsExact:
    """One request's Locust (bucketed) figures beside ctxbench's exact ones; ``exact_*`` are
    None for the ``all`` row and for requests without an exact group."""

    name: str
    requests: Any
    rps: float | None
    locust_p95_ms: float | None
    exact_p95_ms: float | None
    locust_p99_ms: float | None
    exact_p99_ms: float | None


def locust_vs_exact(locust: dict[str, Any], groups: list[dict[str, Any]]) -> list[LocustVsExact]:
    """Per request of Locust's summary, then the total ("all")."""
    exact: dict[str, dict[str, Any]] = {}
    for g in groups:
        exact.setdefault(request_name(g), g)
    rows = []
    for name, row in locust["by_name"].items():
        match = exact.get(name)
        rows.append(LocustVsExact(name, row.get("requests"), row.get("rps"), row.get("p95_ms"),
                                  percentile_ms(match, "p95"), row.get("p99_ms"),
                                  percentile_ms(match, "p99")))
    total = locust.get("total") or {}
    rows.append(LocustVsExact("all", total.get("requests"), total.get("rps"), total.get("p95_ms"),
                              None, total.get("p99_ms"), None))
    return rows


@dataclass(frozen=True)
class LatencyParts:
    """Where an open-loop request's latency went, on average: lag + connection wait + service."""

    name: str
    n: Any
    p95_ms: float | None
    lag_ms: float | None
    pool_wait_ms: float | None
    service_ms: float | None


def latency_parts(groups: list[dict[str, Any]]) -> list[LatencyParts]:
    return [LatencyParts(request_name(g), g.get("n"), percentile_ms(g, "p95"),
                         metric_mean_ms(g, "lag_ms"), metric_mean_ms(g, "pool_wait_ms"),
                         metric_mean_ms(g, "service_ms")) for g in groups]


@dataclass(frozen=True)
class CapacityCurve:
    """The capacity search's steps as a curve: the worst request's latency per rate (steps with
    unfinished requests placed at ``top``, above everything measured), the service p95 per rate,
    and the tightest budget."""

    rates: list[float]
    worst_ms: list[float]
    passed: list[bool]
    service: list[tuple[float, float]]
    budget_ms: float | None


def capacity_curve(cap: dict[str, Any]) -> CapacityCurve | None:
    steps = cap.get("steps") or []
    if not steps:
        return None
    worst = [s.get("worst_value_ms") for s in steps]
    top = max([w for w in worst if w is not None] + [1.0]) * 2
    budgets = list((cap.get("budgets_ms") or {}).values())
    return CapacityCurve(rates=[s["rate"] for s in steps],
                         worst_ms=[w if w is not None else top for w in worst],
                         passed=[bool(s["passed"]) for s in steps],
                         service=[(s["rate"], s["service_p95_ms"]) for s in steps
                                  if s.get("service_p95_ms")],
                         budget_ms=min(budgets) if budgets else None)


def capacity_verdict(cap: dict[str, Any] | None) -> dict[str, Any] | None:
    """The capacity search as one check of the run (a ``verdicts[]`` row), so the run's verdict
    says what the search found instead of "PASS, 0 of 0 budget checks" (a capacity run switches
    its per-step budgets off): PASS when a step passed (the capacity is at least the first
    rate), FAIL when the first step failed, INCONCLUSIVE when the search stopped undecided
    before any step passed or judged nothing."""
    if not cap:
        return None
    steps = cap.get("steps") or []
    plan = cap.get("plan") or {}
    first = (plan.get("start_rate") if plan.get("start_rate") is not None
             else (steps[0]["rate"] if steps else None))
    rps = cap.get("capacity_rps")
    if rps is not None:
        verdict = "PASS"
    elif steps and not steps[0].get("undecided"):
        verdict = "FAIL"
    else:
        verdict = "INCONCLUSIVE"
    return {"query": "all", "variant": "", "phase": "load", "labels": {}, "group": "capacity",
            "metric": "capacity", "op": ">=", "threshold": first, "unit": "req/s",
            "budget": f"a step at >= {first:g} req/s keeps its {cap.get('metric', 'p95')} budget"
                      if first is not None else "a step keeps its budget",
            "budget_source": "load.capacity", "estimate": rps, "ci_low": None, "ci_high": None,
            "n": len(steps), "verdict": verdict, "reason": str(cap.get("summary") or "")}
