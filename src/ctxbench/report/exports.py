"""A results folder in the formats other tools read (pure functions of summary.json):

- github-action-benchmark, tool ``customSmallerIsBetter``: a JSON list of
  ``{"name", "unit", "value", "range"?, "extra"?}`` (``range`` is text such as "± 1.2"),
  one entry per group and percentile (p50/p95/p99, ms) and an error-rate entry (%);
- Bencher Metric Format (BMF): ``{benchmark: {measure: {"value", "lower_value"?,
  "upper_value"?}}}``, one benchmark per group with the measures ``p50-ms``, ``p95-ms``,
  ``p99-ms`` (95 % interval as lower/upper) and ``error-rate`` (fraction). Bencher creates
  the measures on first use; its built-in ``latency`` measure is nanoseconds, so ctxbench's
  millisecond percentiles get measures of their own.
- plans: the raw ``EXPLAIN (FORMAT JSON)`` array that pev2 / explain.dalibo.com accept
  (``raw_plan``; ``ctxbench plans show --raw``).
"""

from __future__ import annotations

from typing import Any

from ctxbench.errors import UsageError
from ctxbench.results.summary_types import EstimateJson, GroupStats, Summary

PERCENTILES = ("p50", "p95", "p99")


def benchmark_name(g: GroupStats) -> str:
    """'list_incidents[as_shipped]/after_analyze.warm' (+ '{prewarm=none}' for extra labels)."""
    from ctxbench.report.content import fmt_labels, shown_labels

    name = f"{g.get('query')}[{g.get('variant') or 'default'}]/{g.get('phase')}"
    labels = fmt_labels(shown_labels(str(g.get("phase") or ""), g.get("labels") or {}))
    return name + (f"{{{labels}}}" if labels else "")


def _extra(summary: Summary, g: GroupStats) -> str:
    run = summary.get("run") or {}
    return (f"n={g.get('n')}, errors={g.get('n_errors', 0)}; run {run.get('run_id')} "
            f"({run.get('scenario')}), git {str(run.get('git_sha') or '?')[:12]}, "
            f"verdict {(summary.get('verdict') or {}).get('overall')}")


def github_action_benchmark(summary: Summary) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for g in summary.get("groups") or []:
        lat = g.get("latency_ms") or {}
        for pct in PERCENTILES:
            e = lat.get(pct)
            value = e.get("value") if e else None
            if not e or value is None:
                continue
            entry: dict[str, Any] = {"name": f"{benchmark_name(g)} {pct}", "unit": "ms",
                                     "value": float(value)}
            lo, hi = e.get("lo"), e.get("hi")
            if lo is not None and hi is not None:
                half = max(float(hi) - float(value), float(value) - float(lo))
                entry["range"] = f"± {half:.4g}"
            entry["extra"] = _extra(summary, g) + (
                f"; 95% CI {e['lo']:.4g}–{e['hi']:.4g} ms" if "range" in entry else "")
            out.append(entry)
        rate = g.get("error_rate")
        rate_value = rate.get("value") if rate else None
        if rate_value is not None:
            out.append({"name": f"{benchmark_name(g)} error rate", "unit": "%",
                        "value": float(rate_value) * 100,
                        "extra": _extra(summary, g)})
    if not out:
        raise UsageError("nothing to export: the results folder has no measured group")
    return out


def bencher_metric_format(summary: Summary) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g in summary.get("groups") or []:
        measures: dict[str, dict[str, float]] = {}
        lat = g.get("latency_ms") or {}
        for pct in PERCENTILES:
            e = lat.get(pct)
            value = e.get("value") if e else None
            if e and value is not None:
                measures[f"{pct}-ms"] = _metric(e, value)
        rate = g.get("error_rate")
        rate_value = rate.get("value") if rate else None
        if rate and rate_value is not None:
            measures["error-rate"] = _metric(rate, rate_value)
        if measures:
            out[benchmark_name(g)] = measures
    if not out:
        raise UsageError("nothing to export: the results folder has no measured group")
    return out


def _metric(e: EstimateJson, value: float) -> dict[str, float]:
    m = {"value": float(value)}
    lo, hi = e.get("lo"), e.get("hi")
    if lo is not None:
        m["lower_value"] = float(lo)
    if hi is not None:
        m["upper_value"] = float(hi)
    return m


def raw_plan(payload: Any) -> list[dict[str, Any]]:
    """The EXPLAIN (FORMAT JSON) array inside a ctxbench plan file (or the array itself)."""
    plan = payload.get("plan") if isinstance(payload, dict) and "plan" in payload else payload
    if isinstance(plan, dict) and "Plan" in plan:
        plan = [plan]
    if not (isinstance(plan, list) and plan and isinstance(plan[0], dict) and "Plan" in plan[0]):
        raise UsageError("no raw EXPLAIN (FORMAT JSON) plan in this file "
                         "(captured without one, or the capture failed)")
    return plan
