"""summary.json: everything the reports show, computed from a results folder alone.

The summary is a pure function of the folder (meta.json, phases.jsonl, measurements.jsonl,
plans/*.json): no clock, no database, seeded bootstrap. Rebuilding it gives the same bytes.
Its shape is versioned with ``schema_version``; see ``build_summary`` for the keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from ctxbench.analysis import comparisons, diagnosis, hollow, vector, verdicts, warmup
from ctxbench.analysis.budgets import Budget, metric_kind, parse_budgets, percentile_of, resolve
from ctxbench.analysis.data import (
    POOLED_PHASE,
    POOLED_QUERY,
    Failures,
    GroupData,
    GroupKey,
    group_measurements,
    pooled_groups,
)
from ctxbench.analysis.load import capacity_verdict, open_loop_accounting, read_arrivals
from ctxbench.analysis.plans import explain_changes, short_change
from ctxbench.analysis.remedy_summary import summarize_remedies
from ctxbench.analysis.stats import (
    CI_LEVEL,
    DEFAULT_QUANTILES,
    MIN_RESAMPLES,
    N_RESAMPLES,
    PERCENTILE_METHOD,
    ROOT_SEED,
    Estimate,
    latency_estimates,
    mean_estimate,
    percentile,
    seed_for,
    wilson,
)
from ctxbench.measure import phases
from ctxbench.results.explain import summary_of
from ctxbench.results.model import PhaseRecord, RunMeta
from ctxbench.results.store import ResultsDir
from ctxbench.results.summary_types import (
    EstimateJson,
    GroupRef,
    GroupStats,
    MetricStats,
    ParamKindStats,
    PhaseEntry,
    PlanChange,
    PlanEntry,
    PlanSide,
    RunInfo,
    Summary,
    VerdictRow,
)

SUMMARY_SCHEMA_VERSION = 1


def rounded(value: Any, digits: int = 6) -> Any:
    """Floats to ``digits`` significant digits (sub-microsecond noise is not information and
    makes the JSON hard to read); containers recursively."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def _est(e: Estimate | None) -> EstimateJson | None:
    return e.to_json() if e is not None else None


def _duration(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):  # not ISO timestamps, or one naive and one aware
        return None


def run_info(meta: RunMeta | None, results: ResultsDir) -> RunInfo:
    if meta is None:
        return {"run_id": results.path.name, "kind": "run", "scenario": None,
                "status": "unknown", "complete": False,
                "incomplete_reason": "meta.json is missing", "error": None}
    complete = meta.status == "complete"
    reason = None
    if not complete:
        reason = (meta.error or f"status is {meta.status!r}"
                  + (" (the run did not finish)" if meta.status == "running" else ""))
    return {
        "run_id": meta.run_id, "kind": meta.kind, "scenario": meta.scenario_name,
        "status": "complete" if complete else "incomplete", "raw_status": meta.status,
        "complete": complete, "incomplete_reason": reason, "error": meta.error,
        "started_at": meta.started_at, "ended_at": meta.ended_at,
        "duration_s": _duration(meta.started_at, meta.ended_at),
        "ctxbench_version": meta.ctxbench_version, "git_sha": meta.git_sha,
        "backend": meta.backend, "target": meta.target, "server": meta.server,
        "dataset": meta.dataset, "machine": meta.machine, "extra": meta.extra,
    }


def phase_order(records: list[PhaseRecord], seen: Iterable[str]) -> dict[str, int]:
    """Phases in the order the run did them, then the registry's order, then by name."""
    order: list[str] = []
    for name in [r.phase for r in records] + list(phases.NAMES) + sorted(set(seen)):
        if name not in order:
            order.append(name)
    return {name: i for i, name in enumerate(order)}


def _phase_json(r: PhaseRecord) -> PhaseEntry:
    return {"phase": r.phase, "status": r.status, "started_at": r.started_at,
            "ended_at": r.ended_at, "duration_s": _duration(r.started_at, r.ended_at),
            "cache_reset": r.cache_reset, "stats_state": r.stats_state, "notes": r.notes,
            "events": r.events, "error": r.error}


def _quantiles_for(budgets: list[Budget]) -> tuple[float, ...]:
    qs = set(DEFAULT_QUANTILES)
    for b in budgets:
        q = percentile_of(b.metric)
        if q is not None:
            qs.add(q)
    return tuple(sorted(qs))


def group_stats(g: GroupData, quantiles: tuple[float, ...], seed_root: int = ROOT_SEED,
                *, unserved: int = 0) -> GroupStats:
    """n, errors, latency estimates with CIs, rows and extra metrics of one group.
    ``unserved``: open-loop arrivals of this group that fell due but were never served (the
    backlog at the end), censored over every budget like failures."""
    key = g.key.text()
    values, censored = g.evidence()
    censored += unserved
    lat = latency_estimates(values, seed=seed_for("latency", key, root=seed_root),
                            quantiles=quantiles, censored=censored)
    attempts = g.n + g.n_errors
    rows = np.asarray(g.rows, dtype=np.float64)
    n_empty = int((rows == 0).sum()) if rows.size else 0
    metrics: dict[str, MetricStats] = {}
    for name in sorted(g.metrics):
        values = np.asarray(g.metrics[name], dtype=np.float64)
        metrics[name] = {
            "n": int(values.size),
            "mean": _est(mean_estimate(values, seed=seed_for("metric", name, key,
                                                             root=seed_root))),
            "min": float(values.min()), "max": float(values.max()),
        }
    return {
        "key": key, "query": g.key.query, "variant": g.key.variant, "phase": g.key.phase,
        "labels": g.key.label_dict,
        # n: independent successful samples (distinct parameter sets, or executions where
        # they are the unit); n_censored: independent samples that failed
        "n": int(values.size), "n_censored": censored, "n_executions": g.n,
        "n_distinct": g.n_distinct, "unit": "execution" if g.per_execution else "parameter set",
        "n_errors": g.n_errors, "n_unserved": unserved,
        "n_warmup": g.n_warmup, "error_rate": _est(wilson(g.n_errors, attempts)),
        "errors": dict(g.errors.most_common(3)),
        "latency_ms": {k: v.to_json() for k, v in lat.items()},
        "rows": ({"min": int(rows.min()), "mean": float(rows.mean()), "max": int(rows.max()),
                  "empty": n_empty, "empty_fraction": n_empty / rows.size}
                 if rows.size else None),
        "empty_rate": _est(wilson(n_empty, g.n)),
        "metrics": metrics,
        "by_param_kind": _breakdown(g),
        "first_ts": g.first_ts, "last_ts": g.last_ts,
    }


def _breakdown(g: GroupData) -> list[ParamKindStats]:
    """Point estimates per parameter kind (no intervals: a breakdown, not a verdict)."""
    kinds = np.asarray(g.kinds)
    if kinds.size == 0 or set(g.kinds) == {""}:
        return []
    lat, rows = g.latencies(), np.asarray(g.rows)
    out: list[ParamKindStats] = []
    for kind in sorted(set(g.kinds)):
        mask = kinds == kind
        x = lat[mask]
        out.append({"param_kind": kind or "(none)", "n": int(mask.sum()),
                    "p50": percentile(x, 0.5), "p95": percentile(x, 0.95),
                    "max": float(x.max()), "rows_mean": float(rows[mask].mean()),
                    "empty_fraction": float((rows[mask] == 0).mean())})
    return out


def _failures_of(stats: GroupStats) -> Failures:
    """Failures of a group known only by its statistics: each execution one sample."""
    attempts = stats["n_executions"] + stats["n_errors"]
    return Failures(attempts, stats["n_errors"], stats["n_errors"], attempts, stats["n_errors"])


def _estimate_for(budget: Budget, stats: GroupStats,
                  failures: Failures | None = None) -> tuple[Estimate | None, int]:
    kind = metric_kind(budget.metric)
    if budget.metric == "error_rate" and budget.op == "max":
        # exact bounds over independent samples, failed and timed-out executions as errors
        f = failures or _failures_of(stats)
        return verdicts.error_rate_estimate(f), f.samples
    if kind == "latency":
        e = stats["latency_ms"].get(budget.metric)
        n = stats["n"]
        if percentile_of(budget.metric) is not None or budget.metric == "max":
            n += stats["n_censored"]  # failures are censored samples of these statistics
        return _estimate(e), n
    if kind == "rate":
        e = stats["error_rate"] if budget.metric == "error_rate" else stats["empty_rate"]
        # rates are shares of executions (the error rate: of every attempt)
        n = stats["n_executions"] + (stats["n_errors"] if budget.metric == "error_rate" else 0)
        return _estimate(e), n
    m = stats["metrics"].get(budget.metric)
    if not m or not m["mean"]:
        return None, 0
    return _estimate(m["mean"]), m["n"]


def _estimate(e: EstimateJson | None) -> Estimate | None:
    """The Estimate behind a group's estimate. Verdicts are decided before ``rounded`` (the only
    writer of None: a non-finite bound) runs, so the fields are numbers here."""
    if not e:
        return None
    value, lo, hi = e["value"], e["lo"], e["hi"]
    if value is None or lo is None or hi is None:
        raise ValueError(f"an estimate with a missing bound cannot be judged: {e}")
    return Estimate(value, lo, hi)


def _over(budget: Budget, latencies: np.ndarray | None, errors: int) -> int | None:
    if latencies is None or percentile_of(budget.metric) is None or budget.op != "max":
        return None
    return int((latencies > budget.threshold).sum()) + errors


def verdict_rows(stats: GroupStats, budgets: list[Budget],
                 latencies: np.ndarray | None = None,
                 failures: Failures | None = None) -> list[VerdictRow]:
    """One row per budget; ``latencies`` (the group's successful samples) let an undecided
    percentile check say how many samples would decide it, ``failures`` (the group's failed
    executions per independent sample; default: each execution one sample) an error-rate
    check how many error-free samples would."""
    out: list[VerdictRow] = []
    failures = failures or _failures_of(stats)
    for b in budgets:
        estimate, n = _estimate_for(b, stats, failures)
        kind = metric_kind(b.metric)
        errors = stats["n_censored"] if kind == "latency" else stats["n_errors"]
        decision = verdicts.decide(b, estimate, n, errors=errors,
                                   over=_over(b, latencies, stats["n_censored"]),
                                   failures=failures)
        out.append({
            "query": stats["query"], "variant": stats["variant"], "phase": stats["phase"],
            "labels": stats["labels"], "group": stats["key"], "metric": b.metric,
            "op": b.symbol, "threshold": b.threshold, "unit": b.unit,
            "budget": b.describe(), "budget_source": b.source,
            "estimate": estimate.value if estimate else None,
            "ci_low": estimate.lo if estimate else None,
            "ci_high": estimate.hi if estimate else None,
            "n": n, "verdict": decision.verdict, "reason": decision.reason,
        })
    return out


def _plan_entry(payload: dict[str, Any], file: str) -> PlanEntry:
    entry: PlanEntry = {
        "phase": payload.get("phase"), "query": payload.get("query"),
        "variant": payload.get("variant") or "default",
        "labels": {str(k): str(v) for k, v in (payload.get("labels") or {}).items()},
        "param_id": payload.get("param_id"), "params": payload.get("params"), "file": file,
        "error": payload.get("error"),
    }
    if payload.get("role"):  # a tail plan: which set, why, and how slow it was when measured
        entry["role"] = payload["role"]
        entry["param_kind"] = payload.get("param_kind")
        entry["measured_ms"] = payload.get("measured_ms")
        entry["measured_failed"] = payload.get("measured_failed")
        entry["why"] = payload.get("why")
    try:
        summary = summary_of(payload)
    except Exception as exc:  # a malformed capture must not sink the whole report
        summary, entry["error"] = None, f"unreadable plan: {exc}"
    if summary is None:
        entry["error"] = entry["error"] or "no plan captured"
        return entry
    entry["planning_ms"] = summary.get("planning_ms")
    entry["execution_ms"] = summary.get("execution_ms")
    entry["shared_hit"] = summary.get("shared_hit")
    entry["shared_read"] = summary.get("shared_read")
    entry["io_read_ms"] = summary.get("io_read_ms")
    entry["planning_shared_hit"] = summary.get("planning_shared_hit")
    entry["planning_shared_read"] = summary.get("planning_shared_read")
    entry["fingerprint"] = summary.get("fingerprint")
    entry["outline"] = summary.get("outline")
    entry["_summary"] = summary
    return entry


def _public(p: PlanEntry) -> PlanEntry:
    """The plan entry as written: without the in-memory plan summary."""
    out = p.copy()
    out.pop("_summary", None)
    return out


def read_plans(results: ResultsDir, *, tails: bool = False) -> list[PlanEntry]:
    """The fixed-parameter plan of each group, or (``tails``) the plans of the tail's sets."""
    folder = results.path / "plans"
    out: list[PlanEntry] = []
    if folder.is_dir():
        for path, payload in zip(sorted(folder.glob("*.json")), results.read_plans(),
                                 strict=True):
            if bool(payload.get("role")) == tails:
                out.append(_plan_entry(payload, f"plans/{path.name}"))
    return out


class PlanIndex:
    """Finds the plan captured for a group: same phase, query, variant; labels equal, else a
    subset of the group's labels, else none."""

    def __init__(self, plans: list[PlanEntry]) -> None:
        self.plans = [p for p in plans if p.get("fingerprint")]

    def for_group(self, g: GroupRef) -> PlanEntry | None:
        best: PlanEntry | None = None
        best_score = -1
        for p in self.plans:
            if (p["phase"], p["query"], p["variant"]) != (g["phase"], g["query"], g["variant"]):
                continue
            if p["labels"] == g["labels"]:
                return p
            if all(g["labels"].get(k) == v for k, v in p["labels"].items()):
                score = len(p["labels"])
                if score > best_score:
                    best, best_score = p, score
        return best


def _side(p: PlanEntry) -> PlanSide:
    return {"phase": _phase(p), "labels": p["labels"], "fingerprint": p["fingerprint"],
            "outline": p["outline"], "shared_hit": p["shared_hit"],
            "shared_read": p["shared_read"], "execution_ms": p["execution_ms"]}


def _phase(p: PlanEntry) -> str:
    return p["phase"] or ""  # "": a plan file that names no phase (matches no phase)


def _pairs(items: list[PlanEntry]) -> list[tuple[str, PlanEntry, PlanEntry]]:
    """The comparisons that mean something: cold → warm in the same context, and
    before → after ANALYZE in the same cache state."""
    pairs = []
    for a in items:
        for b in items:
            if a is b:
                continue
            rest_a = comparisons.other_labels(a["labels"])
            rest_b = comparisons.other_labels(b["labels"])
            if rest_a != rest_b:
                continue
            pa, pb = _phase(a), _phase(b)
            if (comparisons.cache_state(pa, a["labels"]) == "cold"
                    and comparisons.cache_state(pb, b["labels"]) == "warm"
                    and comparisons.cache_context(pa) == comparisons.cache_context(pb)):
                pairs.append(("cold → warm", a, b))
            sa, sb = comparisons.stats_side(pa), comparisons.stats_side(pb)
            if sa and sb and sa[0] == "before" and sb[0] == "after" and sa[1] == sb[1]:
                pairs.append(("before → after ANALYZE", a, b))
    return pairs


def plan_changes(plans: list[PlanEntry], rank: dict[str, int]) -> list[PlanChange]:
    """Plan shape changes per (query, variant): cold → warm, before → after ANALYZE, and any
    other plan whose shape differs from the query's first plan."""
    by_query: dict[tuple[str | None, str], list[PlanEntry]] = {}
    for p in plans:
        if p.get("fingerprint"):
            by_query.setdefault((p["query"], p["variant"]), []).append(p)
    out: list[PlanChange] = []
    for (query, variant), items in sorted(by_query.items()):
        items.sort(key=lambda p: (rank.get(_phase(p), 10**6), sorted(p["labels"].items())))
        flagged: set[int] = set()
        for kind, a, b in _pairs(items):
            if a["fingerprint"] != b["fingerprint"]:
                flagged.update((id(a), id(b)))
                out.append(_change(query, variant, kind, a, b))
        # Other plans are compared with the first one of the same experiment (labels other
        # than cache/statistics state equal): plans for different filters or ef_search
        # values are expected to differ.
        firsts: dict[tuple[tuple[str, str], ...], PlanEntry] = {}
        for p in items:
            first = firsts.setdefault(comparisons.other_labels(p["labels"]), p)
            if p is not first and p["fingerprint"] != first["fingerprint"] and id(p) not in flagged:
                flagged.add(id(p))
                out.append(_change(query, variant, "phase", first, p))
    return out


def params_caution(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Plans captured with different parameters may differ because of the parameters."""
    if a.get("param_id") == b.get("param_id") and a.get("params") == b.get("params"):
        return None
    return (f"captured with different parameters ({_params_text(a.get('params'))} vs "
            f"{_params_text(b.get('params'))}): part of the change may come from them")


def _params_text(params: Any) -> str:
    if not params:
        return "none"
    if isinstance(params, dict):
        return ", ".join(f"{k}={v}" for k, v in params.items())
    return str(params)


def _change(query: str | None, variant: str, kind: str, a: PlanEntry, b: PlanEntry) -> PlanChange:
    changes = explain_changes(a["_summary"], b["_summary"])
    caution = params_caution(a, b)
    if caution:
        changes.append(caution)
    return {"query": query, "variant": variant, "kind": kind, "from": _side(a), "to": _side(b),
            "change": short_change(a["_summary"], b["_summary"]), "changes": changes,
            "same_params": caution is None}


def build_summary(results_dir: Path | str,
                  groups: dict[GroupKey, GroupData] | None = None) -> Summary:
    """Compute summary.json's content from a results folder (raises UsageError if it isn't
    one). Keys: schema_version, run, phases, analysis, budgets, groups, verdicts, plans,
    plan_changes, cold_warm, before_after, hnsw_warmup, vector, verdict. ``groups`` may be
    passed in when the caller already read the measurements."""
    results = ResultsDir(results_dir).require()
    meta = results.read_meta()
    records = results.read_phases()
    if groups is None:
        groups = group_measurements(results.iter_measurements())
    rank = phase_order(records, (k.phase for k in groups))
    budgets = parse_budgets(meta.budgets if meta else [],
                            where=f"{results.path / 'meta.json'}: budgets")

    pooled_budgets = [b for b in budgets if b.query == POOLED_QUERY and b.threshold is not None]
    pooled = pooled_groups(groups, lambda phase, labels: any(
        b.matches(POOLED_QUERY, phase, POOLED_QUERY, labels) for b in pooled_budgets),
        run_wide=any(b.phase == POOLED_PHASE for b in pooled_budgets))
    ordered: list[tuple[GroupKey, GroupData]] = sorted(
        [*groups.items(), *pooled.items()], key=lambda kv: (rank.get(kv[0].phase, 10**6), kv[0].query,
                                        kv[0].variant, kv[0].labels))
    group_json: list[GroupStats] = []
    verdict_json: list[VerdictRow] = []
    arrivals = read_arrivals(results)
    accounting = open_loop_accounting(arrivals, groups)
    for key, data in ordered:
        applicable = resolve(budgets, key.query, key.phase, key.variant, key.label_dict)
        unserved = 0
        if accounting:
            unserved = (sum(n for k, n in accounting["unserved"].items()
                            if (k.phase, k.labels) == (key.phase, key.labels))
                        if key in pooled else accounting["unserved"].get(key, 0))
        stats = group_stats(data, _quantiles_for(applicable), unserved=unserved)
        if key.phase != POOLED_PHASE:  # the whole run pooled has checks, not a latency row
            group_json.append(stats)
        verdict_json.extend(verdict_rows(stats, applicable, data.evidence()[0], data.failures()))

    plans = read_plans(results)
    plans.sort(key=lambda p: (rank.get(_phase(p), 10**6), p["query"] or "", p["variant"],
                              sorted(p["labels"].items())))
    index = PlanIndex(plans)
    tail_plans = read_plans(results, tails=True)
    diagnosis.diagnose_verdicts(verdict_json, index.for_group, tail_plans)
    changes = plan_changes(plans, rank)
    cold_warm = comparisons.cold_warm(group_json, index.for_group)
    before_after = comparisons.before_after(group_json, index.for_group)
    for entry in before_after:
        entry["plan_change"] = next(
            (c["change"] for c in changes if c["kind"] == "before → after ANALYZE"
             and (c["query"], c["variant"]) == (entry["query"], entry["variant"])
             and c["from"]["phase"] == entry["before"]["phase"]
             and c["to"]["phase"] == entry["after"]["phase"]), None)
    warm_groups = [g for k, g in ordered if k.phase == warmup.WARMUP_PHASE]
    hnsw = warmup.summarize(warm_groups, [e for r in records if r.phase == warmup.WARMUP_PHASE
                                          for e in r.events])

    info = run_info(meta, results)
    incomplete_phases = [r.phase for r in records if r.status not in ("complete", "skipped")]
    recorded = {r.phase for r in records}
    unrecorded = sorted({k.phase for k in groups} - recorded, key=lambda p: rank.get(p, 0))
    if records and unrecorded:
        incomplete_phases += unrecorded  # measured, but the phase never reported its end
    capacity = capacity_verdict((meta.extra or {}).get("capacity") if meta else None)
    if capacity is not None:
        verdict_json.append(cast(VerdictRow, capacity))
    overall = verdicts.overall((v["verdict"] for v in verdict_json),
                               complete=info["complete"])
    problems = hollow.problems(budgets, {**groups, **pooled})
    if problems and overall == verdicts.PASS:
        overall = verdicts.INCONCLUSIVE  # nothing measured, or a budget never applied
    summary: Summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "run": info,
        "phases": [_phase_json(r) for r in records],
        "analysis": {
            "percentile_method": PERCENTILE_METHOD,
            "ci": {"method": "percentiles: exact binomial order-statistic bounds, one-sided "
                             "97.5 % each, failures censored at +inf; means: percentile "
                             "bootstrap", "level": CI_LEVEL,
                   "resamples": N_RESAMPLES, "min_resamples": MIN_RESAMPLES,
                   "seed": ROOT_SEED,
                   "rates": "Wilson score interval; error_rate checks: exact binomial "
                            "(Clopper-Pearson) bounds, one-sided 97.5 % each, per independent "
                            "sample"},
            "latency_unit": "ms",
            "verdict_rule": "percentiles: PASS if the 97.5% upper order-statistic bound is "
                            "within the budget, FAIL if the 97.5% lower bound is beyond it, "
                            "else INCONCLUSIVE; failed executions count as slower than any "
                            "budget; error_rate likewise on its exact binomial bounds, by "
                            "default <= 1 % over every execution of the run pooled (see "
                            "ctxbench.analysis.verdicts)",
        },
        "budgets": [b.to_json() for b in budgets],
        "open_loop": ({k: v for k, v in accounting.items() if k != "unserved"}
                      if accounting else None),
        "groups": group_json,
        "verdicts": sorted(verdict_json, key=lambda v: verdicts.SEVERITY[v["verdict"]]),
        "plans": [_public(p) for p in plans],
        "tail_plans": [_public(p) for p in tail_plans],
        "remedies": summarize_remedies(group_json, verdict_json, plans, records, results.path),
        "plan_changes": changes,
        "cold_warm": cold_warm,
        "before_after": before_after,
        "hnsw_warmup": hnsw,
        "vector": None,  # below, not rounded: means of recall fractions sit on rounding edges
        "verdict": {
            "overall": overall,
            "counts": verdicts.counts(verdict_json),
            "complete": info["complete"],
            "incomplete_phases": incomplete_phases,
            "measurements": sum(g.n + g.n_errors + g.n_warmup for g in groups.values()),
            "problems": problems,
        },
    }
    # rounded() keeps every key and value type, except that a non-finite float becomes None:
    # the types declare every float that can be non-finite as optional
    out = cast(Summary, rounded(summary))
    out["vector"] = vector.summarize(results, out["groups"], out["hnsw_warmup"])
    return out

