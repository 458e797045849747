"""The history page (`ctxbench history`): history.html (plots inline), history.md and history.json.

Newest change points first (they are what a nightly job summary links to), then one small plot
per query × variant × phase: the estimate with its 95 % interval per run (x = run, labelled with
its date and git sha), the budget line, detected steps (vertical line at the first run of the new
level) and plan-fingerprint changes (▲ at the top).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from ctxbench.analysis.history import History, Series, build_history
from ctxbench.report.content import fmt_num
from ctxbench.report.document import Block, Bullets, Details, Figure, Heading, Para, Table
from ctxbench.report.html import render_html
from ctxbench.report.markdown import render_markdown
from ctxbench.report.plots import plain_log_ticks

HISTORY_HTML = "history.html"
HISTORY_MD = "history.md"
HISTORY_JSON = "history.json"
CHANGES_MD = "changes.md"  # the change points alone, for a CI job summary
DPI = 80


@dataclass
class HistoryPaths:
    html: Path
    md: Path
    json: Path
    changes_md: Path
    history: History


def _run_label(h: History, i: int) -> str:
    r = h.runs[i]
    date = r.started_at[:16].replace("T", " ") if r.started_at else r.run_id
    return f"{date} ({r.short_sha})"


def _tick(h: History, i: int) -> str:
    r = h.runs[i]
    date = r.started_at[5:16].replace("T", " ") if r.started_at else r.run_id[:10]
    return f"{date}\n{r.short_sha}"


def _or(value: float | None, default: float) -> float:
    return float(value) if value is not None else default


def series_plot(h: History, s: Series) -> bytes | None:
    xs = [i for i, v in enumerate(s.values) if v is not None]
    if not xs:
        return None
    fig = MplFigure(figsize=(5.2, 2.5))
    ax = fig.add_subplot(1, 1, 1)
    ys = [float(v) for v in s.values if v is not None]  # the values at xs
    lo = [ys[k] - _or(s.lo[i], ys[k]) for k, i in enumerate(xs)]
    hi = [_or(s.hi[i], ys[k]) - ys[k] for k, i in enumerate(xs)]
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", ms=3.5, lw=1, capsize=2, color="#0969da",
                label=f"{s.metric} [95% CI]")
    budgets = [(i, b) for i, b in enumerate(s.budget) if b is not None]
    if budgets:
        ax.step([i for i, _ in budgets], [b for _, b in budgets], where="mid", color="#cf222e",
                ls="--", lw=1, label="budget")
    for st in s.steps:
        ax.axvline(st.index - 0.5, color="#bf3989", lw=1.5)
        ax.annotate(f"×{st.ratio:.2g}", (st.index - 0.45, 1), xycoords=("data", "axes fraction"),
                    va="top", fontsize=8, color="#bf3989")
    top = max(max(ys[k] + hi[k] for k in range(len(xs))), max((b for _, b in budgets),
                                                                default=0))
    bottom = min(ys[k] - lo[k] for k in range(len(xs)))
    for i in s.plan_changes:
        ax.plot([i], [top * 1.25], marker="^", color="#9a6700", ms=6, ls="none",
                label="plan changed" if i == s.plan_changes[0] else None)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylim(max(bottom * 0.6, 1e-3), top * 1.6)
    ax.legend(fontsize=6, loc="lower left", frameon=False)
    ax.set_xticks(range(len(h.runs)))
    ax.set_xticklabels([_tick(h, i) for i in range(len(h.runs))], fontsize=6)
    ax.set_xlim(-0.5, len(h.runs) - 0.5)
    ax.set_ylabel("ms", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(series_name(s), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def series_name(s: Series) -> str:
    """'list_incidents[as_shipped] · after_analyze.warm' (+ labels the phase does not imply)."""
    from ctxbench.report.content import fmt_labels, shown_labels

    base = s.query if s.variant == "default" else f"{s.query}[{s.variant}]"
    labels = fmt_labels(shown_labels(s.phase, s.labels))
    return f"{base} · {s.phase}" + (f" ({labels})" if labels else "")


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def _changed(h: History, i: int) -> str:
    changes = [c for c in h.changes_at(i) if not c.startswith("code ")]  # the sha is shown
    return f"; changed in that run: {'; '.join(changes)}" if changes else ""


def change_point_lines(h: History, limit: int | None = None) -> list[str]:
    out = []
    for s, st in h.change_points()[:limit]:
        direction = "slower" if st.ratio > 1 else "faster"
        plan = " (plan changed in that run)" if st.index in s.plan_changes else ""
        if st.index in s.state_changes:
            plan += f" ({s.states[st.index - 1] or '?'} → {s.states[st.index]} in that run)"
        out.append(f"{series_name(s)}: {s.metric} {fmt_num(st.before)} → {fmt_num(st.after)} ms "
                   f"(×{st.ratio:.2g}, {direction}) from run {h.runs[st.index].run_id} "
                   f"{_run_label(h, st.index)}, p = {st.p_value:.2g}{plan}"
                   + _changed(h, st.index))
    return out


def history_document(h: History, with_plots: bool = True) -> list[Block]:
    runs = h.runs
    blocks: list[Block] = [
        Heading(1, f"ctxbench history — {len(runs)} runs"),
        Para(f"From {_run_label(h, 0)} to {_run_label(h, len(runs) - 1)}." if runs else
             "No runs.", "note")]
    lines = change_point_lines(h)
    blocks.append(Heading(2, "Change points (newest first)", "change-points"))
    blocks.append(Bullets(lines, "findings") if lines else
                  Para("No step change in any series.", "note"))
    plan_rows = [[series_name(s), h.runs[i].run_id, _run_label(h, i),
                  f"{s.fingerprints[i - 1] or '?'} → {s.fingerprints[i]}"]
                 for s in h.series for i in s.plan_changes if i > 0]
    if plan_rows:
        blocks += [Heading(2, "Plan changes", "plan-changes"),
                   Table(["Series", "Run", "Date (sha)", "Fingerprint"], plan_rows)]
    setup_rows = [[h.runs[i].run_id, _run_label(h, i), "; ".join(h.changes_at(i))]
                  for i in range(1, len(runs)) if h.changes_at(i)]
    if setup_rows:
        blocks += [Heading(2, "Setup changes", "setup-changes"),
                   Para("What changed from the run before: code (git sha), server version and "
                        "settings, dataset, and the scenario's lines (- removed, + added).",
                        "note"),
                   Table(["Run", "Date (sha)", "Changed"], setup_rows)]
    state_rows = [[series_name(s), h.runs[i].run_id, _run_label(h, i),
                   f"{s.states[i - 1] or '?'} → {s.states[i]}"]
                  for s in h.series for i in s.state_changes if i > 0]
    if state_rows:
        blocks += [Heading(2, "State changes", "state-changes"),
                   Para("The database's state when the series was measured (statistics, "
                        "parameter space) changed; the series continues across it.", "note"),
                   Table(["Series", "Run", "Date (sha)", "State"], state_rows)]
    rows, kinds = [], []
    for s in h.series:
        last = next((i for i in range(len(s.values) - 1, -1, -1) if s.values[i] is not None),
                    None)
        if last is None:
            continue
        budget = s.budget[last]
        rows.append([series_name(s), s.metric, str(sum(v is not None for v in s.values)),
                     fmt_num(s.values[last]), fmt_num(budget) if budget is not None else "–",
                     "; ".join(f"×{st.ratio:.2g} at {h.runs[st.index].run_id}"
                               for st in s.steps) or "–",
                     ", ".join(h.runs[i].run_id for i in s.plan_changes) or "–"])
        kinds.append("fail" if budget is not None and (s.values[last] or 0) > budget else
                     "warn" if s.steps else "")
    blocks += [Heading(2, "Series", "series"),
               Para(f"Steps: binary segmentation of the per-run estimates (log scale), two-sample "
                    f"t-test, Bonferroni-corrected p < {h.alpha}, and at least ×{h.min_effect} "
                    "between the medians of the two sides.", "note"),
               Details(f"{len(rows)} series, latest estimate in ms", [
                   Table(["Series", "Metric", "Runs", "Latest", "Budget", "Steps",
                          "Plan changes"], rows, numeric={2, 3, 4}, row_kinds=kinds)])]
    run_rows = [[r.run_id, r.started_at or "–", r.git_sha[:12] or "?", r.verdict,
                 "yes" if r.complete else "no", str(r.folder)] for r in runs]
    blocks.append(Details(f"Runs ({len(runs)})", [Table(
        ["Run", "Started", "git sha", "Verdict", "Complete", "Folder"], run_rows)]))
    if with_plots:
        blocks.append(Heading(2, "Over time", "plots"))
        ordered = sorted(h.series, key=lambda s: (not s.steps, not s.plan_changes))
        for s in ordered:
            png = series_plot(h, s)
            if png:
                blocks.append(Figure(f"{_safe(series_name(s))}.png", series_name(s), png))
    return blocks


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_history_page(paths: list[Path | str], out_dir: Path | str, **kw: float
                       ) -> HistoryPaths:
    h = build_history(paths, **kw)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = HistoryPaths(out / HISTORY_HTML, out / HISTORY_MD, out / HISTORY_JSON,
                          out / CHANGES_MD, h)
    lines = change_point_lines(h, 20)
    changes: list[Block] = [Heading(2, f"Change points over the last {len(h.runs)} runs")]
    changes.append(Bullets(lines) if lines else Para("No step change in any series.", "note"))
    _write(result.changes_md, render_markdown(changes))
    _write(result.html, render_html(history_document(h), "ctxbench history"))
    _write(result.md, render_markdown(history_document(h, with_plots=False)))
    _write(result.json, json.dumps(h.to_json(), indent=2, ensure_ascii=False) + "\n")
    return result
