"""Plots of the vector section: recall vs latency per selectivity, and warm-up curves with the
detected steady point. Built with the toolkit of ``ctxbench.report.plots`` (Agg canvas, no
pyplot, log latency axes, no timestamp in the PNG so a rebuild gives the same bytes)."""

from __future__ import annotations

from typing import Any

from ctxbench.analysis.vector import Point
from ctxbench.report.plots import COLORS as ALL_COLORS
from ctxbench.report.plots import budget_line, figure, log_axis, to_png
from ctxbench.report.plots import color as series_color
from ctxbench.report.plots import warmup_curves as warmup_plot

COLORS = ALL_COLORS[:5]  # the vector plots cycle through five colours
MARKERS = {"relaxed_order": "s", "strict_order": "D"}


def _recall(p: Point) -> float:
    """Recall of a point the plot shows (only points with a recall are shown)."""
    return p.recall_value if p.recall_value is not None else float("nan")


def _lat(p: Point, metric: str) -> float:
    """Latency of a point the plot shows (only points with that latency are shown)."""
    value = p.lat(metric)
    return value if value is not None else float("nan")


def recall_vs_latency(items: list[Point], *, metric: str = "p95", target: float | None = None,
                      budget_ms: float | None = None, k: int = 10,
                      basis: str = "all queries") -> bytes | None:
    """One panel per selectivity: the ef_search sweep per statistics state (labelled by ef),
    iterative scans as squares/diamonds, the shipped SQL as a star, each state's Pareto
    frontier (the points the analysis flagged ``frontier``) as a wide pale step line, the
    recall target and the latency budget dashed."""
    sels: list[str] = []
    for p in items:
        if p.selectivity not in sels and p.recall_value is not None and p.lat(metric):
            sels.append(p.selectivity)
    if not sels:
        return None
    phases: list[str] = []
    for p in items:
        if p.phase not in phases:
            phases.append(p.phase)
    cols = min(len(sels), 2)
    rows = (len(sels) + cols - 1) // cols
    fig = figure(6.2 * cols, 4.4 * rows)
    for n, sel in enumerate(sels):
        ax = fig.add_subplot(rows, cols, n + 1)
        mine = [p for p in items if p.selectivity == sel and p.recall_value is not None
                and p.lat(metric)]
        for i, phase in enumerate(phases):
            color = series_color(i, COLORS)
            tag = phase.split(".")[0] if "." in phase else phase
            front = sorted((p for p in mine if p.phase == phase and p.kind != "shipped"
                            and p.frontier), key=lambda p: (_lat(p, metric), -_recall(p)))
            if len(front) > 1:  # recall r costs the latency of the first frontier point reaching r
                ax.step([_recall(p) for p in front], [_lat(p, metric) for p in front],
                        where="pre", color=color, linewidth=5, alpha=0.18,
                        label=f"Pareto frontier ({tag})")
            sweep = sorted((p for p in mine if p.phase == phase and p.kind == "sweep"),
                           key=lambda p: p.ef_search)
            if sweep:
                ax.plot([_recall(p) for p in sweep], [_lat(p, metric) for p in sweep],
                        marker="o", color=color, linewidth=1.2, label=f"ef sweep ({tag})")
                for p in sweep:
                    ax.annotate(str(p.ef_search), (_recall(p), _lat(p, metric)), fontsize=7,
                                xytext=(3, 3), textcoords="offset points", color=color)
            for p in (p for p in mine if p.phase == phase and p.kind == "iterative"):
                ax.plot([_recall(p)], [_lat(p, metric)], linestyle="none", color=color,
                        marker=MARKERS.get(p.iterative_scan, "^"), markerfacecolor="none",
                        label=f"{p.variant} ({tag})")
            for p in (p for p in mine if p.phase == phase and p.kind == "shipped"):
                ax.plot([_recall(p)], [_lat(p, metric)], linestyle="none", color=color,
                        marker="*", markersize=11, label=f"as shipped ({tag})")
        if target is not None:
            budget_line(ax, target, vertical=True, color="#1a7f37")
        if budget_ms:
            budget_line(ax, budget_ms)
        lowest = min([_recall(p) for p in mine] + ([target] if target is not None else []))
        ax.set_xlim(max(0.0, lowest - 0.03), 1.005)
        log_axis(ax, "y")
        filt = next((p.filter for p in mine), "")
        ax.set_title(f"selectivity {sel}" + (f" ({filt})" if filt and filt != "none" else ""),
                     fontsize=10)
        ax.set_xlabel(f"recall@{k} (mean over {basis})")
        ax.set_ylabel(f"{metric} latency (ms, log)")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return to_png(fig)


def warmup_curves(entries: list[dict[str, Any]]) -> bytes | None:
    """The vector study's HNSW warm-up curves: the report's one warm-up plot, in this
    section's colours."""
    return warmup_plot(entries, title="HNSW warm-up: time to steady state", palette=COLORS)
