"""The *Scale study* section of a ``ctxbench scale`` folder: growth laws, break-even scales,
plan changes between sizes and a log-log plot per query (registered in report.sections)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure as MplFigure

from ctxbench.analysis.scale import _n, study_summary
from ctxbench.report.content import fmt_num
from ctxbench.report.document import Block, Details, Figure, Heading, Para, Table
from ctxbench.report.plots import plain_log_ticks, to_png
from ctxbench.results.store import ResultsDir

COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a", "#e16f24")


def _ci(ci: list[float] | None, digits: int = 2) -> str:
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "–"


def _point_source(run: dict[str, Any]) -> str:
    ds = run.get("dataset") or {}
    snap = ds.get("snapshot") or {}
    if snap.get("restored"):
        return (f"restored from snapshot in {fmt_num(snap.get('copy_seconds'))} s + checksum "
                f"{fmt_num(snap.get('verify_seconds'))} s")
    if ds.get("freshly_loaded"):
        total = (ds.get("load") or {}).get("total_seconds")
        text = f"seeded ({fmt_num(total)} s)" if total is not None else "seeded"
        if snap.get("saved"):
            text += f", snapshot saved in {fmt_num(snap.get('save_seconds'))} s"
        return text
    return "reused"


def _phase(f: dict[str, Any]) -> str:
    """The phase, with the labels that are not already implied by it (cache, statistics)."""
    shown = [kv for kv in (f.get("labels") or "").split(",") if kv
             and not kv.startswith(("cache=", "stats="))]
    return f["phase"] + (f" {{{','.join(shown)}}}" if shown else "")


def _points_table(data: dict[str, Any]) -> Table:
    rows = []
    for run in data["runs"]:
        ds = run.get("dataset") or {}
        win = run.get("windows") or {}
        shift = (f"+{fmt_num(win['window_shift_s'] / 3600)} h / +{win['trend_shift_days']} d"
                 if win.get("now") and win.get("mode") == "data" else "–")
        rows.append([f"{run['scale']:,}", str(run.get("status", "–")),
                     str(ds.get("checksum") or "–")[:19], _point_source(run), shift,
                     str(run.get("measurements", "–")), str(run.get("dir", "–"))])
    return Table(["Traces", "Status", "Dataset checksum", "Dataset", "NOW() window shift",
                  "Measurements", "Folder"], rows, numeric={0, 5})


def _fits_table(data: dict[str, Any]) -> Table:
    rows, kinds = [], []
    for f in data["fits"]:
        fit, med = f["fit"], f["median_fit"]
        values = " / ".join(fmt_num(p["value"]) for p in fit["points"])
        flags = []
        if fit["superlinear"]:
            flags.append("super-linear")
        for c in f["plan_changes"]:
            flags.append(f"plan changes {_n(c['from'])}→{_n(c['to'])}")
        if fit.get("note"):
            flags.append(fit["note"])
        budget = f"{fit['metric']} ≤ {fmt_num(fit['budget'])}" if fit.get("budget") else "–"
        rows.append([f["query"], f["variant"], _phase(f), fit["metric"], values,
                     f"{fit['b']:.2f}" if fit["b"] is not None else "–", _ci(fit["b_ci"]),
                     _ci(fit["b_ci_fit"]), f"{med['b']:.2f}" if med["b"] is not None else "–",
                     budget, fit.get("crossing_text") or "–", "; ".join(flags)])
        over = fit.get("crossing") is not None and fit["crossing"] <= max(data["points"] or [0])
        kinds.append("fail" if over else ("warn" if flags else ""))
    return Table(["Query", "Variant", "Phase", "Metric", "ms at each size", "Exponent b",
                  "b 95% (bootstrap)", "b 95% (fit)", "p50 b", "Budget", "Break-even N",
                  "Flags"], rows, numeric={5, 6, 7, 8}, row_kinds=kinds)


def _plan_blocks(data: dict[str, Any]) -> list[Block]:
    rows = []
    for f in data["fits"]:
        for c in f["plan_changes"]:
            rows.append([f["query"], f["variant"], _phase(f), f"{c['from']:,} → {c['to']:,}",
                         c["change"], "same" if c.get("same_params") else
                         "different (each size samples its own data)"])
    if not rows:
        return [Para("No captured plan changed shape between consecutive sizes.", "note")]
    return [Para("Each plan is captured once per size, for one sampled parameter set; where the "
                 "sets differ, a change may be the parameters' rather than the size's.", "note"),
            Table(["Query", "Variant", "Phase", "Between", "Change", "Parameters"], rows)]


def _plot(query: str, fits: list[dict[str, Any]], horizon: int) -> bytes | None:
    fits = [f for f in fits if f["fit"]["points"]]
    if not fits:
        return None
    fig = MplFigure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    budgets = set()
    xmax = max(p["scale"] for f in fits for p in f["fit"]["points"])
    for i, f in enumerate(fits):
        fit, color = f["fit"], COLORS[i % len(COLORS)]
        xs = np.array([p["scale"] for p in fit["points"]], dtype=float)
        ys = np.array([p["value"] for p in fit["points"]], dtype=float)
        label = f"{f['variant']} · {_phase(f)} ({fit['metric']}"
        label += f", b={fit['b']:.2f})" if fit["b"] is not None else ")"
        ax.plot(xs, ys, "o", color=color, label=label)
        if fit["b"] is not None and fit["a"]:
            end = xmax * 4
            if fit.get("crossing") and math.isfinite(fit["crossing"]):
                end = min(max(end, fit["crossing"] * 1.3), horizon)
            grid = np.geomspace(xs.min(), end, 50)
            ax.plot(grid, fit["a"] * grid ** fit["b"], "-", color=color, alpha=0.6, linewidth=1)
        if fit.get("budget"):
            budgets.add((fit["metric"], fit["budget"]))
    for metric, value in sorted(budgets):
        ax.axhline(value, color="#cf222e", linestyle="--", linewidth=1)
        ax.text(xs.min(), value, f" budget {metric} {value:g} ms", color="#cf222e", fontsize=8,
                va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("traces (log scale)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"{query}: latency vs dataset size, fit a·N^b")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return to_png(fig)


def scale_blocks(data: dict[str, Any]) -> list[Block]:
    points = ", ".join(f"{n:,}" for n in data["points"])
    blocks: list[Block] = [
        Heading(2, "Scale study", "scale"),
        Para(f"The same workload at {len(data['points'])} dataset sizes ({points} traces), one "
             "database per size; every measurement above carries its size as the label `scale`. "
             "Per query × variant × phase: latency ≈ a·N^b fitted on log-log to the budget's "
             "statistic at each size. The first interval on b is a bootstrap over parameter sets "
             "(the independent samples at each size, resampled with their repeats); the second is "
             "the regression's own t interval (how well a power law fits the points). Break-even "
             "N = where a·N^b reaches the budget, with its bootstrap interval; 'not within "
             f"{data['horizon'] / 1e6:.0f}M' when it does not get there. b > 1 over the whole "
             "interval is flagged super-linear (cost grows faster than the data).", "note"),
        _points_table(data)]
    if not data["fits"]:
        blocks.append(Para("No query was measured at two sizes or more: nothing to fit.",
                           "warning"))
        return blocks
    blocks += [Heading(3, "Growth laws and break-even scales"), _fits_table(data),
               Heading(3, "Plan changes between sizes"), *_plan_blocks(data)]
    figures: list[Block] = []
    by_query: dict[str, list[dict[str, Any]]] = {}
    for f in data["fits"]:
        by_query.setdefault(f["query"], []).append(f)
    for i, (query, fits) in enumerate(by_query.items()):
        png = _plot(query, fits, data["horizon"])
        if png:
            figures.append(Figure(f"scale-{i:02d}-{query}.png", f"{query}: latency vs N", png))
    if figures:
        blocks.append(Details("Log-log plots per query (budget line, fit, each variant)", figures))
    return blocks


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    meta = results.read_meta()
    if meta is None or meta.kind != "scale":
        return []
    return scale_blocks(study_summary(results.path, meta, results.iter_measurements()))
