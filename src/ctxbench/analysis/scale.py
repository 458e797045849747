"""How cost grows with data: growth laws fitted over the points of a scale study.

A scale study (``ctxbench scale``) measures the same queries, variants and phases on datasets of
several sizes N. Every measurement in the study folder carries the label ``scale`` (N). For each
query × variant × phase this module fits latency ≈ a·N^b on log-log (``scipy.stats.linregress``
of log latency-statistic on log N) and predicts the N at which the statistic crosses its budget.

Honest uncertainty. At each point the independent samples are the *parameter sets* (repeats of
one set are not independent), so the interval on b is a cluster bootstrap: each replicate
resamples the parameter sets at every point (with replacement, their executions together),
recomputes the statistic at every point and refits. The 2.5/97.5 % quantiles of b and of the
break-even N over the replicates are the intervals. With only a few points, the residual
(t-based) interval of the fit is also given: it measures how well a power law describes the
points at all, which the bootstrap cannot. A failed or timed-out execution counts at its recorded
latency (the slowest there is).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from ctxbench.analysis.stats import percentile, seed_for
from ctxbench.results.model import Measurement

SCALE_LABEL = "scale"
HORIZON = 100_000_000  # "not within 100M"
MAX_N = 1e30  # break-even scales beyond this are infinite for every practical purpose
N_BOOT = 1000
CI = (2.5, 97.5)
SUPERLINEAR = 1.0  # an exponent whose whole interval is above this grows faster than the data
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

GroupId = tuple[str, str, str, str]  # query, variant, phase, other labels ("k=v,k=v")


@dataclass
class PointSamples:
    """The executions of one group at one scale, clustered by parameter set."""

    scale: int
    by_param: dict[str, list[float]] = field(default_factory=dict)
    rows: list[int] = field(default_factory=list)
    errors: int = 0

    def add(self, m: Measurement) -> None:
        self.by_param.setdefault(m.param_id or f"seq{m.seq}", []).append(m.latency_ns / 1e6)
        self.rows.append(int(m.rows))
        self.errors += 0 if m.ok else 1

    @property
    def n(self) -> int:
        return sum(len(v) for v in self.by_param.values())

    def values(self) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float64) for v in self.by_param.values()])


def statistic(values: np.ndarray, metric: str) -> float:
    if metric == "mean":
        return float(np.mean(values))
    return percentile(values, QUANTILES[metric])


def collect(measurements: Iterable[Measurement]) -> dict[GroupId, dict[int, PointSamples]]:
    """Non-warm-up executions grouped by (query, variant, phase, labels) and scale. The labels
    (cache state, statistics state, prewarm mode...) are part of the key, so a growth law only
    compares like with like; ``param_kind`` and repetition numbers are pooled."""
    from ctxbench.analysis.data import label_key

    out: dict[GroupId, dict[int, PointSamples]] = defaultdict(dict)
    for m in measurements:
        labels = dict(m.labels or {})
        if m.warmup or SCALE_LABEL not in labels:
            continue
        scale = int(labels.pop(SCALE_LABEL))
        text = ",".join(f"{k}={v}" for k, v in label_key(labels))
        key = (m.query, m.variant or "default", m.phase, text)
        point = out[key].get(scale)
        if point is None:
            point = out[key][scale] = PointSamples(scale)
        point.add(m)
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


@dataclass
class Fit:
    metric: str
    points: list[dict[str, Any]]
    b: float | None = None
    a: float | None = None
    b_ci: tuple[float, float] | None = None  # cluster bootstrap over parameter sets
    b_ci_fit: tuple[float, float] | None = None  # residual t interval of the log-log regression
    r2: float | None = None
    budget: float | None = None
    crossing: float | None = None  # N where a·N^b = budget
    crossing_ci: tuple[float, float] | None = None
    crossing_text: str = ""
    superlinear: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "points": self.points, "a": self.a, "b": self.b,
                "b_ci": list(self.b_ci) if self.b_ci else None,
                "b_ci_fit": list(self.b_ci_fit) if self.b_ci_fit else None, "r2": self.r2,
                "budget": self.budget, "crossing": self.crossing,
                "crossing_ci": list(self.crossing_ci) if self.crossing_ci else None,
                "crossing_text": self.crossing_text, "superlinear": self.superlinear,
                "note": self.note}


def _ols(log_n: np.ndarray, log_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slope, intercept) of least squares, vectorised over the last axis of log_y."""
    x = log_n - log_n.mean()
    slope = (log_y - log_y.mean(axis=-1, keepdims=True)) @ x / (x @ x)
    return slope, log_y.mean(axis=-1) - slope * log_n.mean()


def crossing_of(a: float, b: float, budget: float) -> float:
    """N where a·N^b reaches the budget: inf when it never does (b <= 0 and below budget)."""
    if a >= budget and b <= 0:
        return 0.0
    if b <= 0:
        return math.inf
    log_n = (math.log(budget) - math.log(a)) / b
    return math.inf if log_n > math.log(MAX_N) else math.exp(log_n)


def crossing_text(value: float | None, lo: float | None, hi: float | None, smallest: int,
                  horizon: int = HORIZON) -> str:
    if value is None:
        return "–"
    if value <= smallest:
        return f"already over at {smallest:,}"
    if value > horizon:
        return f"not within {horizon / 1e6:.0f}M" + (f" (lower bound {_n(lo)})" if lo and lo <= horizon
                                                       else "")
    text = _n(value)
    if lo is not None and hi is not None:
        low = f"< {_n(smallest)}" if lo <= smallest else _n(lo)
        text += f" ({low} – {_n(hi) if hi <= horizon else f'> {horizon / 1e6:.0f}M'})"
    return text


def _n(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "∞"
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.0f}"


def fit_group(points: Mapping[int, PointSamples], metric: str, budget: float | None, *,
              seed: int, n_boot: int = N_BOOT, horizon: int = HORIZON) -> Fit:
    """The growth law of one group (see the module docstring)."""
    scales = sorted(points)
    stats_at = [statistic(points[s].values(), metric) for s in scales]
    rows = [{"scale": s, "n": points[s].n, "param_sets": len(points[s].by_param),
             "errors": points[s].errors, "value": v,
             "rows_mean": float(np.mean(points[s].rows)) if points[s].rows else None,
             "empty_fraction": float(np.mean(np.asarray(points[s].rows) == 0))
             if points[s].rows else None} for s, v in zip(scales, stats_at, strict=True)]
    fit = Fit(metric, rows, budget=budget)
    if len(scales) < 2 or min(stats_at) <= 0:
        fit.note = "fewer than two points with latencies: no fit"
        return fit
    log_n = np.log(np.asarray(scales, dtype=np.float64))
    log_y = np.log(np.asarray(stats_at))
    reg = sps.linregress(log_n, log_y)
    fit.b, fit.a = float(reg.slope), float(math.exp(reg.intercept))
    fit.r2 = float(reg.rvalue ** 2) if len(scales) > 2 else None
    if len(scales) > 2:
        t = sps.t.ppf(0.975, len(scales) - 2)
        fit.b_ci_fit = (float(reg.slope - t * reg.stderr), float(reg.slope + t * reg.stderr))
    # cluster bootstrap over parameter sets at every point
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(scales)))
    single = [s for s in scales if len(points[s].by_param) < 2]
    if single:  # one statement (no parameters): only its repeated executions can be resampled
        fit.note = ("one parameter set: the interval resamples repeated executions of one "
                    "statement, which are not independent (too narrow)")
    for j, s in enumerate(scales):
        clusters = [np.asarray(v, dtype=np.float64) for v in points[s].by_param.values()]
        if len(clusters) < 2:
            clusters = [np.asarray([x], dtype=np.float64) for x in clusters[0]]
        k = len(clusters)
        for i in range(n_boot):
            pick = rng.integers(0, k, size=k)
            boot[i, j] = statistic(np.concatenate([clusters[p] for p in pick]), metric)
    boot = np.log(np.maximum(boot, 1e-9))
    slopes, intercepts = _ols(log_n, boot)
    fit.b_ci = (float(np.percentile(slopes, CI[0])), float(np.percentile(slopes, CI[1])))
    fit.superlinear = fit.b_ci[0] > SUPERLINEAR
    if budget is not None:
        fit.crossing = crossing_of(fit.a, fit.b, budget)
        crossings = np.array([min(crossing_of(math.exp(c), s, budget), MAX_N)
                              for s, c in zip(slopes, intercepts, strict=True)])
        lo, hi = (float(np.percentile(crossings, CI[0])), float(np.percentile(crossings, CI[1])))
        lo, hi = (math.inf if lo >= MAX_N else lo), (math.inf if hi >= MAX_N else hi)
        fit.crossing_ci = (lo, hi)
        fit.crossing_text = crossing_text(fit.crossing, lo, hi, scales[0], horizon)
        if stats_at[-1] > budget and fit.crossing > scales[-1]:
            fit.note = "; ".join(x for x in (fit.note, "over budget at the largest point although "
                                             "the fit crosses later") if x)
    return fit


def plan_changes(plans: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive sizes whose captured plan shapes differ: {from, to, fingerprints, change}."""
    from ctxbench.analysis.plans import short_change

    out = []
    scales = sorted(plans)
    for lo, hi in itertools.pairwise(scales):
        a, b = plans[lo], plans[hi]
        if a.get("fingerprint") and b.get("fingerprint") and a["fingerprint"] != b["fingerprint"]:
            out.append({"from": lo, "to": hi, "fingerprints": [a["fingerprint"], b["fingerprint"]],
                        "change": short_change(a, b), "outline_from": a.get("outline", []),
                        "outline_to": b.get("outline", []),
                        "same_params": a.get("param_id") is not None
                        and a.get("param_id") == b.get("param_id")})
    return out


def analyse(measurements: Iterable[Measurement], budget_for: Any, *,
            plans: Mapping[tuple[str, str, str], Mapping[int, Mapping[str, Any]]] | None = None,
            n_boot: int = N_BOOT, horizon: int = HORIZON) -> list[dict[str, Any]]:
    """One entry per query × variant × phase: the p50 and budget-metric fits, plan changes.

    ``budget_for(query, variant, phase) -> (metric, threshold) | None`` picks the budget (the
    scenario's most specific latency budget)."""
    out = []
    for (query, variant, phase, labels), points in collect(measurements).items():
        budget = budget_for(query, variant, phase)
        metric, threshold = budget if budget else ("p95", None)
        seed = seed_for("scale", query, variant, phase)
        main = fit_group(points, metric, threshold, seed=seed, n_boot=n_boot, horizon=horizon)
        median = main if metric == "p50" else fit_group(points, "p50", None, seed=seed,
                                                       n_boot=n_boot, horizon=horizon)
        changes = plan_changes((plans or {}).get((query, variant, phase), {}))
        out.append({"query": query, "variant": variant, "phase": phase, "labels": labels,
                    "fit": main.to_json(),
                    "median_fit": median.to_json(), "plan_changes": changes,
                    "scales": sorted(points)})
    return out


def budget_picker(budget_items: list[dict[str, Any]] | None) -> Any:
    """``(query, variant, phase) -> (metric, threshold) | None``: the group's latency budget
    (p95 first when several apply), from meta.json's resolved budgets."""
    from ctxbench.analysis.budgets import metric_kind, parse_budgets, resolve

    budgets = parse_budgets(budget_items)

    def pick(query: str, variant: str, phase: str) -> tuple[str, float] | None:
        found = [b for b in resolve(budgets, query, phase, variant)
                 if b.op == "max" and metric_kind(b.metric) == "latency"
                 and (b.metric in QUANTILES or b.metric == "mean")]
        if not found:
            return None
        best = next((b for b in found if b.metric == "p95"), found[0])
        assert best.threshold is not None  # resolve() leaves switched-off budgets out
        return best.metric, float(best.threshold)

    return pick


def study_plans(study_path: Any, runs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[int, dict]]:
    """Captured plan summaries per (query, variant, phase) and scale, from each point's run."""
    from pathlib import Path

    from ctxbench.results.explain import summary_of
    from ctxbench.results.store import ResultsDir

    out: dict[tuple[str, str, str], dict[int, dict]] = defaultdict(dict)
    for run in runs:
        if not run.get("dir"):
            continue
        folder = Path(study_path) / run["dir"]
        if not folder.is_dir():
            continue
        for payload in ResultsDir(folder).read_plans():
            summary = summary_of(payload)
            if summary is None:
                continue
            key = (payload.get("query", ""), payload.get("variant", "default"),
                   payload.get("phase", ""))
            out[key][int(run["scale"])] = {**summary, "param_id": payload.get("param_id"),
                                           "params": payload.get("params")}
    return dict(out)


def study_summary(study_path: Any, meta: Any, measurements: Iterable[Measurement]) -> dict[str, Any]:
    """Everything the scale section shows, from the study folder alone."""
    spec = (meta.extra or {}).get("scale") or {}
    runs = spec.get("runs") or []
    horizon = int(spec.get("horizon") or HORIZON)
    fits = analyse(measurements, budget_picker(meta.budgets),
                   plans=study_plans(study_path, runs), n_boot=int(spec.get("bootstrap") or N_BOOT),
                   horizon=horizon)
    return {"points": spec.get("points") or [], "runs": runs, "horizon": horizon, "fits": fits}
