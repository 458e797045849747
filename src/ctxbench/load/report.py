"""The load-run section of report.md / report.html (a provider of ``ctxbench.report.sections``).

It adds what the generic report cannot know: how the load was generated, the query mix,
Locust's own (bucketed) figures beside ctxbench's exact ones, where open-loop latency went
(schedule lag, connection wait, service), and the capacity search step by step.
"""

from __future__ import annotations

import io
import math
from typing import Any

from ctxbench.report.document import Block, Figure, Heading, Para, Table
from ctxbench.results.store import ResultsDir


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    run = summary.get("run") or {}
    if run.get("kind") != "load":
        return []
    extra = run.get("extra") or {}
    load = extra.get("load") or {}
    mode = load.get("mode", "closed")
    blocks: list[Block] = [Heading(2, "Load run"), Para(_describe(load)),
                           Para(extra.get("latency_definition", ""), "note")]
    mix = extra.get("mix") or {}
    if mix:
        blocks.append(Table(["request", "share of arrivals"],
                            [[name, f"{share:.1%}"] for name, share in mix.items()], numeric={1}))
    groups = [g for g in summary.get("groups", []) if g.get("phase") == "load"]
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
    capacity = extra.get("capacity")
    if capacity:
        blocks += _capacity(capacity)
    return blocks


def _describe(load: dict[str, Any]) -> str:
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
    if load.get("warmup_s"):
        text += f" The first {load['warmup_s']:g} s are warm-up (recorded, not analysed)."
    return text


def _p(group: dict[str, Any], metric: str) -> float | None:
    est = (group.get("latency_ms") or {}).get(metric)
    return None if est is None else est.get("value")


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _locust_vs_exact(locust: dict[str, Any], groups: list[dict[str, Any]]) -> list[Block]:
    exact: dict[str, dict[str, Any]] = {}
    for g in groups:
        exact.setdefault(f"{g['query']}[{g['variant']}]", g)
    rows = []
    for name, row in locust["by_name"].items():
        g = exact.get(name)
        rows.append([name, str(row.get("requests")), _fmt(row.get("rps"), 2),
                     _fmt(row.get("p95_ms"), 0), _fmt(_p(g, "p95") if g else None, 2),
                     _fmt(row.get("p99_ms"), 0), _fmt(_p(g, "p99") if g else None, 2)])
    total = locust.get("total") or {}
    rows.append(["all", str(total.get("requests")), _fmt(total.get("rps"), 2),
                 _fmt(total.get("p95_ms"), 0), "", _fmt(total.get("p99_ms"), 0), ""])
    return [Heading(3, "Locust's figures beside the exact ones"),
            Para("Locust keeps response times in buckets of about two significant digits above "
                 "100 ms; ctxbench records every latency in nanoseconds (measurements.jsonl). "
                 "Budgets are judged on the exact values.", "note"),
            Table(["request", "Locust requests", "Locust req/s", "Locust p95 ms", "exact p95 ms",
                   "Locust p99 ms", "exact p99 ms"], rows, numeric={1, 2, 3, 4, 5, 6})]


def _metric_mean(group: dict[str, Any], name: str) -> float | None:
    m = (group.get("metrics") or {}).get(name)
    if not m:
        return None
    mean = m.get("mean")
    return mean.get("value") if isinstance(mean, dict) else mean


def _where_time_went(groups: list[dict[str, Any]]) -> list[Block]:
    rows = []
    for g in groups:
        rows.append([f"{g['query']}[{g['variant']}]", str(g.get("n")), _fmt(_p(g, "p95"), 2),
                     _fmt(_metric_mean(g, "lag_ms"), 2), _fmt(_metric_mean(g, "pool_wait_ms"), 2),
                     _fmt(_metric_mean(g, "service_ms"), 2)])
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
    for s in cap.get("steps", []):
        rows.append([f"{s['rate']:g}", "PASS" if s["passed"] else "FAIL", str(s["scheduled"]),
                     str(s["completed"]), str(s["missing"]), str(s["errors"]),
                     f"{s.get('worst') or '–'}", _fmt(s.get("worst_value_ms"), 1)
                     if s.get("worst_value_ms") is not None else "unfinished",
                     _fmt(s.get("lag_p95_ms"), 1), _fmt(s.get("service_p95_ms"), 1), s["reason"]])
        kinds.append("" if s["passed"] else "fail")
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
    steps = cap.get("steps") or []
    if not steps:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import FuncFormatter

    fig = MplFigure(figsize=(8, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rates = [s["rate"] for s in steps]
    worst = [s.get("worst_value_ms") for s in steps]
    top = max([w for w in worst if w is not None] + [1.0]) * 2
    ys = [w if w is not None else top for w in worst]
    colors = ["#1a7f37" if s["passed"] else "#cf222e" for s in steps]
    ax.plot(rates, ys, color="#57606a", linewidth=1)
    ax.scatter(rates, ys, c=colors, zorder=3, label=f"worst {cap.get('metric', 'p95')} (latency)")
    svc = [(s["rate"], s["service_p95_ms"]) for s in steps if s.get("service_p95_ms")]
    if svc:
        ax.plot(*zip(*svc, strict=True), linestyle="--", color="#0969da", label="service p95")
    budgets = list((cap.get("budgets_ms") or {}).values())
    if budgets:
        ax.axhline(min(budgets), color="#cf222e", linestyle=":", label="budget")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("arrival rate (req/s)")
    ax.set_ylabel("ms")
    ax.legend(loc="upper left", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
