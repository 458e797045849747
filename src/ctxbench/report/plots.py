"""The plot toolkit of every report, and the main report's own plots.

Conventions every plot of ctxbench follows (matplotlib, Agg canvas, no pyplot global state):

- ``figure(w, h)`` gives a constrained-layout figure; ``to_png(fig)`` renders it without a
  timestamp, so rebuilding a report gives identical bytes;
- latencies span orders of magnitude (a cold list at hundreds of ms, a warm one at a few), so
  every latency axis is logarithmic with plain tick labels: ``log_axis(ax, "y")``;
- thresholds are drawn with ``budget_line`` (red dashed, as in every table's verdict colour);
- series take their colours from ``COLORS`` in order (``color(i)``).

Plots of a section live next to that section (``report/vector_plots.py``, ``report/scale.py``,
...) and use only these public helpers.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ctxbench.analysis.data import GroupData
from ctxbench.report.content import fmt_labels, shown_labels

MAX_GROUPS_PER_PLOT = 40
DPI = 100


BUDGET_COLOR = "#cf222e"
COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a", "#e16f24")


def color(i: int, palette: tuple[str, ...] = COLORS) -> str:
    """The i-th series colour (cycling)."""
    return palette[i % len(palette)]


def figure(width: float, height: float) -> Figure:
    """A figure with constrained layout, not attached to pyplot."""
    return Figure(figsize=(width, height), layout="constrained")


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes, without a timestamp (same figure → same bytes)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def plain_log_ticks(axis: Any, subs: tuple[float, ...] | None = (1.0, 2.0, 5.0)) -> None:
    """Plain tick labels on a log axis (1, 2, 5, 10, 20, 50 ...) instead of 2×10²; ``subs=None``
    keeps matplotlib's decade ticks."""
    if subs is not None:
        axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def log_axis(ax: Any, which: str = "y", subs: tuple[float, ...] | None = (1.0, 2.0, 5.0)
             ) -> None:
    """Make ``ax``'s x or y axis logarithmic with plain tick labels."""
    if which not in ("x", "y"):
        raise ValueError(f"log_axis: which={which!r}; allowed: x, y")
    if which == "x":
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis, subs)
    else:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis, subs)


def budget_line(ax: Any, value: float, *, vertical: bool = False, label: str | None = None,
                linestyle: str = "--", color: str = BUDGET_COLOR, linewidth: float = 1) -> None:
    """A threshold (budget, target) across the plot: horizontal at y=value, or vertical."""
    kw: dict[str, Any] = {"color": color, "linestyle": linestyle, "linewidth": linewidth}
    if label is not None:
        kw["label"] = label
    (ax.axvline if vertical else ax.axhline)(value, **kw)


def _label(g: GroupData) -> str:
    text = g.key.query if g.key.variant == "default" else f"{g.key.query}[{g.key.variant}]"
    labels = fmt_labels(shown_labels(g.key.phase, g.key.label_dict))
    return f"{text} {{{labels}}}" if labels else text


def latency_distribution(groups: list[GroupData], phase: str,
                         budget_ms: float | None = None) -> bytes | None:
    """Horizontal box plots (whiskers at p5/p95, dots for p99 and max) per group of a phase."""
    groups = [g for g in groups if g.n][:MAX_GROUPS_PER_PLOT]
    if not groups:
        return None
    height = 1.2 + 0.38 * len(groups)
    fig = figure(10, height)
    ax = fig.add_subplot()
    data = [g.latencies() for g in groups][::-1]
    labels = [f"{_label(g)}  (n={g.n})" for g in groups][::-1]
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.6,
               medianprops={"color": "#cf222e"})
    for i, x in enumerate(data, start=1):
        ax.plot([np.quantile(x, 0.99, method="inverted_cdf")], [i], marker="|", color="#8250df",
                markersize=10)
        ax.plot([x.max()], [i], marker=".", color="#57606a")
    ax.set_yticks(range(1, len(data) + 1), labels, fontsize=8)
    log_axis(ax, "x")
    ax.set_xlabel("latency (ms, log scale) — box p25–p75, whiskers p5–p95, | p99, · max")
    if budget_ms:
        budget_line(ax, budget_ms, vertical=True)
        ax.text(budget_ms, 1.01, f"budget {budget_ms:g} ms", color="#cf222e", fontsize=8,
                ha="center", va="bottom", transform=ax.get_xaxis_transform())
    ax.set_title(f"Latency distribution — phase {phase}", pad=14)
    ax.grid(axis="x", which="both", alpha=0.3)
    return to_png(fig)


def _floats(values: list[Any]) -> np.ndarray:
    """None (a bound that does not exist, written as null) → NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _paired_bars(pairs: list[dict[str, Any]], left: str, right: str, names: tuple[str, str],
                 title: str) -> bytes | None:
    pairs = [p for p in pairs if p[left].get("p50") and p[right].get("p50")]
    pairs = pairs[:MAX_GROUPS_PER_PLOT]
    if not pairs:
        return None
    fig = figure(max(6.0, 1.0 + 0.9 * len(pairs)), 4.6)
    ax = fig.add_subplot()
    x = np.arange(len(pairs))
    width = 0.38
    for offset, side, name, color in ((-width / 2, left, names[0], "#0969da"),
                                      (width / 2, right, names[1], "#d4a72c")):
        est = _floats([p[side]["p50"]["value"] for p in pairs])
        # an exact bound that needs more samples than there are is absent: no whisker
        lo = _floats([p[side]["p50"]["lo"] for p in pairs])
        hi = _floats([p[side]["p50"]["hi"] for p in pairs])
        ax.bar(x + offset, est, width, label=f"{name} p50", color=color)
        down = np.nan_to_num(np.maximum(est - lo, 0), nan=0.0, posinf=0.0)
        up = np.nan_to_num(np.maximum(hi - est, 0), nan=0.0, posinf=0.0)
        ax.errorbar(x + offset, est, yerr=[down, up],
                    fmt="none", ecolor="#1f2328", capsize=3, linewidth=1)
    ticks = []
    for p in pairs:
        tick = p["query"] if p["variant"] == "default" else f"{p['query']}[{p['variant']}]"
        ctx = p.get("context") or ",".join(f"{k}={v}" for k, v in p.get("labels", {}).items())
        ticks.append(f"{tick}\n{ctx}" if ctx else tick)
    ax.set_xticks(x, ticks, fontsize=8, rotation=20, ha="right")
    log_axis(ax, "y")
    ax.set_ylabel("p50 latency (ms, log scale), 95% CI")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    return to_png(fig)


def cold_vs_warm(pairs: list[dict[str, Any]]) -> bytes | None:
    return _paired_bars(pairs, "cold", "warm", ("cold", "warm"), "Cold vs warm (median)")


def before_after_analyze(pairs: list[dict[str, Any]]) -> bytes | None:
    return _paired_bars(pairs, "before", "after", ("before ANALYZE", "after ANALYZE"),
                        "Before vs after ANALYZE (median)")


def warmup_curves(entries: list[dict[str, Any]], *, title: str = "HNSW warm-up",
                  palette: tuple[str, ...] = COLORS) -> bytes | None:
    """Latency of search 1..N after a cold start, one line per (query, prewarm mode) of
    summary.json's ``hnsw_warmup`` entries; the steady level dotted, and a circle where steady
    state begins when the entry says so (none when the curve never settled, or for folders
    written before the steady-state rule)."""
    entries = [e for e in entries if e.get("curve")]
    if not entries:
        return None
    several = len({(e.get("query"), e.get("variant")) for e in entries}) > 1
    fig = figure(9, 4.5)
    ax = fig.add_subplot()
    for i, e in enumerate(entries):
        c = color(i, palette)
        pts = np.asarray(e["curve"], dtype=np.float64)
        label = f"prewarm={e['prewarm']}"
        if several:
            name = (e["query"] if e.get("variant") == "default"
                    else f"{e['query']}[{e.get('variant')}]")
            label = f"{name} {label}"
        if "steady" in e:
            label += (f" (steady from search {e['queries_to_steady']})" if e["steady"]
                      else " (not steady)")
        ax.plot(pts[:, 0], pts[:, 1], marker=".", linewidth=1.2, color=c, label=label)
        ax.axhline(e["steady_ms"], linewidth=0.7, linestyle=":", color=c)
        if e.get("steady") and e.get("steady_index") is not None:
            x, y = pts[e["steady_index"]]
            ax.plot([x], [y], marker="o", markersize=10, markerfacecolor="none", color=c)
    log_axis(ax, "y")
    ax.set_xlabel("search number after a cold start")
    ax.set_ylabel("latency (ms, log; median over repetitions)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(which="both", alpha=0.3)
    return to_png(fig)
