"""The load-run section of report.md / report.html (registered in ``ctxbench.report.sections``).

It adds what the generic report cannot know: how the load was generated, the query mix,
Locust's own (bucketed) figures beside ctxbench's exact ones, where open-loop latency went
(schedule lag, connection wait, service), and the capacity search step by step. Rendering only:
the figures come from ``ctxbench.analysis.load``.
"""

from __future__ import annotations

import math
from typing import Any

from ctxbench.analysis import load as analysis
from ctxbench.report import plots
from ctxbench.report.document import Block, Figure, Heading, Para, Table
from ctxbench.results.store import ResultsDir

PASS_COLOR, FAIL_COLOR = "#1a7f37", "#cf222e"


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    run = summary.get("run") or {}
    if run.get("kind") != "load":
        return []
    extra = run.get("extra") or {}
    load = extra.get("load") or {}
    mode = load.get("mode", "closed")
    capacity = extra.get("capacity")
    blocks: list[Block] = [Heading(2, "Load run"), Para(_describe(load, capacity)),
                           Para(extra.get("latency_definition", ""), "note")]
    mix = extra.get("mix") or {}
    if mix:
        blocks.append(Table(["request", "share of arrivals"],
                            [[name, f"{share:.1%}"] for name, share in mix.items()], numeric={1}))
    groups = analysis.load_groups(summary)
    locust = extra.get("locust") or {}
    if locust.get("by_name") and mode != "capacity":
        blocks += _locust_vs_exact(locust, groups)
    accounting = summary.get("open_loop")
    if mode == "open" and accounting and accounting.get("offered_rps") is not None:
        blocks.append(Para(
            f"Offered {accounting['offered_rps']:.1f} req/s ({accounting['scheduled']} arrivals "
            f"fell due), achieved {accounting['achieved_rps']:.1f} req/s "
            f"({accounting['served']} served); {accounting['unserved_total']} arrivals were "
            "still waiting or running when the test ended and count as latencies over every "
            "budget.", "warning" if accounting["unserved_total"] else "text"))
    if mode == "open" and groups:
        blocks += _where_time_went(groups)
    if capacity:
        blocks += _capacity(capacity)
    return blocks


def _describe(load: dict[str, Any], capacity: dict[str, Any] | None = None) -> str:
    mode = load.get("mode", "closed")
    procs = (f"a Locust master with {load['workers']} worker processes" if load.get("workers")
             else "one Locust process")
    text = (f"Driver: {load.get('driver', 'locust')}, {procs}, {load.get('users')} users, "
            f"{load.get('pool_size')} pooled connections per process. ")
    if mode == "closed":
        text += (f"Closed loop: each user sends its next request when the previous one returned"
                 f" (think time {load.get('think_time_ms', 0):g} ms), for {load.get('duration_s'):g} s.")
    elif mode == "open":
        text += (f"Open loop: {load.get('arrival')} arrivals at {load.get('rate'):g} req/s over "
                 f"all users for {load.get('duration_s'):g} s.")
    else:
        text += (f"Capacity search: {load.get('arrival')} arrivals from {load.get('start_rate'):g} "
                 f"req/s in steps of {load.get('step_rate'):g} req/s every "
                 f"{load.get('step_seconds'):g} s up to {load.get('max_rate'):g} req/s, until "
                 f"{load.get('metric')} breaks its budget.")
    warm = ((capacity or {}).get("plan") or {}).get("warmup_s") if mode == "capacity" else None
    if warm:  # capacity runs since the warm-up period: it precedes step 0
        text += (f" A warm-up period of {warm:g} s at {load.get('start_rate'):g} req/s (same mix, "
                 "same keys) precedes the first step: its requests are recorded as warm-up, "
                 "neither analysed nor judged.")
    elif load.get("warmup_s"):
        text += f" The first {load['warmup_s']:g} s are warm-up (recorded, not analysed)."
    return text


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _locust_vs_exact(locust: dict[str, Any], groups: list[dict[str, Any]]) -> list[Block]:
    rows = [[r.name, str(r.requests), _fmt(r.rps, 2), _fmt(r.locust_p95_ms, 0),
             _fmt(r.exact_p95_ms, 2) if r.name != "all" else "", _fmt(r.locust_p99_ms, 0),
             _fmt(r.exact_p99_ms, 2) if r.name != "all" else ""]
            for r in analysis.locust_vs_exact(locust, groups)]
    return [Heading(3, "Locust's figures beside the exact ones"),
            Para("Locust keeps response times in buckets of about two significant digits above "
                 "100 ms; ctxbench records every latency in nanoseconds (measurements.jsonl). "
                 "Budgets are judged on the exact values.", "note"),
            Table(["request", "Locust requests", "Locust req/s", "Locust p95 ms", "exact p95 ms",
                   "Locust p99 ms", "exact p99 ms"], rows, numeric={1, 2, 3, 4, 5, 6})]


def _where_time_went(groups: list[dict[str, Any]]) -> list[Block]:
    rows = [[p.name, str(p.n), _fmt(p.p95_ms, 2), _fmt(p.lag_ms, 2), _fmt(p.pool_wait_ms, 2),
             _fmt(p.service_ms, 2)] for p in analysis.latency_parts(groups)]
    return [Heading(3, "Where open-loop latency went"),
            Para("Latency runs from the intended start. Mean schedule lag (the user was still busy "
                 "with earlier requests), mean wait for a pooled connection and mean service time "
                 "(execute + fetch) add up to the mean latency. Growing lag at a flat service time "
                 "means requests queue: the arrival rate is above what this setup serves.", "note"),
            Table(["request", "n", "p95 ms", "mean lag ms", "mean connection wait ms",
                   "mean service ms"], rows, numeric={1, 2, 3, 4, 5})]


def _capacity(cap: dict[str, Any]) -> list[Block]:
    metric = cap.get("metric", "p95")
    blocks: list[Block] = [Heading(3, "Capacity"), Para(_sentence(str(cap.get("summary", ""))), "verdict")]
    budgets = cap.get("budgets_ms") or {}
    if budgets:
        listed = ", ".join(f"{k} ≤ {v:g} ms" for k, v in budgets.items())
        blocks.append(Para(f"Budgets per request ({metric}): {listed}; a step is judged "
                           f"{cap.get('grace_s', 0):g} s after it ends, and requests still "
                           "unfinished then count as over budget.", "note"))
    rows, kinds = [], []
    warm = cap.get("warmup")
    if warm:
        hit = warm.get("hit_rate_end")
        rows.append([f"{warm['rate']:g}", f"warm-up {warm['seconds']:g} s", str(warm["scheduled"]),
                     str(warm["served"]), str(warm["unserved"]), str(warm["errors"]), "–", "–",
                     _fmt(warm.get("lag_p95_ms"), 1), _fmt(warm.get("service_p95_ms"), 1),
                     "not judged" + (f"; cache hit rate {hit:.1%} over its last "
                                     f"{warm['hit_rate_end_requests']} requests" if hit is not None
                                     else "")])
        kinds.append("")
    for s in cap.get("steps", []):
        rows.append([f"{s['rate']:g}", "PASS" if s["passed"] else "FAIL", str(s["scheduled"]),
                     str(s["completed"]), str(s["missing"]), str(s["errors"]),
                     f"{s.get('worst') or '–'}", _fmt(s.get("worst_value_ms"), 1)
                     if s.get("worst_value_ms") is not None else "unfinished",
                     _fmt(s.get("lag_p95_ms"), 1), _fmt(s.get("service_p95_ms"), 1), s["reason"]])
        kinds.append("" if s["passed"] else "fail")
    if warm:
        blocks.append(Para(
            f"Warm-up before the first step: {warm['scheduled']} arrivals offered at "
            f"{warm['rate']:g} req/s over {warm['seconds']:g} s "
            f"({_fmt(warm.get('offered_rate'), 1)} req/s drawn), {warm['served']} served "
            f"({_fmt(warm.get('achieved_rate'), 1)} req/s); warm-up arrivals still waiting when the "
            "first step began were served after it, flagged warm-up, and count in no step.", "note"))
    if rows:
        blocks.append(Table(["req/s", "step", "scheduled", "done", "unfinished", "errors",
                             "worst request", f"its {metric} ms", "lag p95 ms", "service p95 ms",
                             "why"], rows, numeric={0, 2, 3, 4, 5, 7, 8, 9}, row_kinds=kinds))
        png = _capacity_plot(cap)
        if png:
            blocks.append(Figure("load_capacity.png", f"Capacity search: {metric} per step", png))
    return blocks


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _capacity_plot(cap: dict[str, Any]) -> bytes | None:
    curve = analysis.capacity_curve(cap)
    if curve is None:
        return None
    fig = plots.figure(8, 4)
    ax = fig.add_subplot()
    colors = [PASS_COLOR if ok else FAIL_COLOR for ok in curve.passed]
    ax.plot(curve.rates, curve.worst_ms, color="#57606a", linewidth=1)
    ax.scatter(curve.rates, curve.worst_ms, c=colors, zorder=3,
               label=f"worst {cap.get('metric', 'p95')} (latency)")
    if curve.service:
        ax.plot(*zip(*curve.service, strict=True), linestyle="--", color="#0969da",
                label="service p95")
    if curve.budget_ms is not None:
        plots.budget_line(ax, curve.budget_ms, label="budget", linestyle=":", linewidth=1.5)
    plots.log_axis(ax, "y", subs=None)
    ax.set_xlabel("arrival rate (req/s)")
    ax.set_ylabel("ms")
    ax.legend(loc="upper left", fontsize=8)
    return plots.to_png(fig)
