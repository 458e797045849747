"""Build every report file from a results folder; the one entry point for runner and CLI.

Outputs (next to the measurements unless ``out_dir`` is given): summary.json, latencies.csv,
report.md, report.html, junit.xml and plots/*.png. The build reads only files, so running it
again (``ctxbench report DIR``) rewrites the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxbench.analysis import verdicts
from ctxbench.analysis.data import GroupData, group_measurements
from ctxbench.analysis.summary import build_summary
from ctxbench.errors import UsageError
from ctxbench.report import plots
from ctxbench.report.content import build_document, title_of
from ctxbench.report.csvfile import write_latencies_csv
from ctxbench.report.document import Block, Details, Figure
from ctxbench.report.html import render_html
from ctxbench.report.junit import render_junit
from ctxbench.report.markdown import render_markdown
from ctxbench.report.sections import extra_sections
from ctxbench.results.store import ResultsDir, write_atomic
from ctxbench.results.summary_types import Summary

SUMMARY = "summary.json"
LATENCIES = "latencies.csv"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
JUNIT = "junit.xml"
PLOTS = "plots"


@dataclass
class ReportPaths:
    """Where the reports went, and the verdict they carry."""

    folder: Path
    summary: Path
    latencies_csv: Path
    report_md: Path
    report_html: Path
    junit: Path
    plots: Path
    plot_files: list[Path] = field(default_factory=list)
    verdict: str = verdicts.INCONCLUSIVE
    complete: bool = False
    exit_code: int = 0  # from the verdict, with the ``strict`` given to build_reports
    summary_data: Summary = field(kw_only=True, repr=False)

    @property
    def problems(self) -> list[str]:
        """Why the verdict cannot be trusted (nothing measured, a budget that matched nothing)."""
        return list(self.summary_data["verdict"]["problems"])

    def exit_code_for(self, strict: bool = False) -> int:
        return 2 if self.problems else verdicts.exit_code(self.verdict, strict)

    def files(self) -> list[Path]:
        return [self.summary, self.latencies_csv, self.report_md, self.report_html, self.junit,
                *self.plot_files]


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)  # a full disk: no torn file, no *.tmp, one clear error


def _budget_line(summary: Summary, phase: str) -> float | None:
    """The p95 threshold to draw on a phase's plot, if one threshold covers all its groups."""
    values = {v["threshold"] for v in summary["verdicts"]
              if v["phase"] == phase and v["metric"] == "p95"}
    return values.pop() if len(values) == 1 else None


def make_figures(summary: Summary, groups: dict[Any, GroupData]) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    by_phase: dict[str, list[GroupData]] = {}
    order = [g["key"] for g in summary["groups"]]
    rank = {k: i for i, k in enumerate(order)}
    for g in sorted(groups.values(), key=lambda g: rank.get(g.key.text(), 10**9)):
        by_phase.setdefault(g.key.phase, []).append(g)
    for i, (phase, items) in enumerate(by_phase.items()):
        png = plots.latency_distribution(items, phase, _budget_line(summary, phase))
        if png:
            figures[f"latency:{phase}"] = Figure(f"latency-{i:02d}-{_safe(phase)}.png",
                                                 f"Latency distribution, phase {phase}", png)
    for key, data, fn, name, title in (
            ("cold_warm", summary["cold_warm"], plots.cold_vs_warm, "cold-vs-warm.png",
             "Cold vs warm medians"),
            ("before_after", summary["before_after"], plots.before_after_analyze,
             "before-after-analyze.png", "Before vs after ANALYZE medians"),
            ("hnsw_warmup", summary["hnsw_warmup"], plots.warmup_curves, "hnsw-warmup.png",
             "HNSW warm-up curves")):
        png = fn(data)
        if png:
            figures[key] = Figure(name, title, png)
    return figures


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)


def _extra_figures(blocks: list[Block]) -> list[Figure]:
    out: list[Figure] = []
    for b in blocks:
        if isinstance(b, Figure):
            out.append(b)
        elif isinstance(b, Details):
            out.extend(_extra_figures(b.blocks))
    return out


def build_reports(results_dir: Path | str, out_dir: Path | str | None = None, *,
                  strict: bool = False) -> ReportPaths:
    """Analyse the folder and write every report; raises UsageError naming the path when the
    folder is missing or is not a results folder. ``strict`` makes INCONCLUSIVE exit 1."""
    src = Path(results_dir)
    if not src.is_dir():
        raise UsageError(f"{src}: no such results folder")
    results = ResultsDir(src).require()
    out = Path(out_dir) if out_dir is not None else src
    out.mkdir(parents=True, exist_ok=True)
    groups = group_measurements(results.iter_measurements())
    summary = build_summary(src, groups)
    figures = make_figures(summary, groups)
    extra = extra_sections(dict[str, Any](summary), results)  # providers read it as plain JSON
    blocks = build_document(summary, figures, extra)

    plot_dir = out / PLOTS
    plot_dir.mkdir(exist_ok=True)
    written = []
    for fig in list(figures.values()) + _extra_figures(extra):
        path = plot_dir / fig.name
        write_atomic(path, fig.png)
        written.append(path)
    for stale in plot_dir.glob("*.png"):
        if stale not in written:
            stale.unlink()

    paths = ReportPaths(folder=out, summary=out / SUMMARY, latencies_csv=out / LATENCIES,
                        report_md=out / REPORT_MD, report_html=out / REPORT_HTML,
                        junit=out / JUNIT, plots=plot_dir, plot_files=sorted(written),
                        verdict=summary["verdict"]["overall"],
                        complete=summary["run"]["complete"],
                        exit_code=(2 if summary["verdict"]["problems"] else
                                   verdicts.exit_code(summary["verdict"]["overall"], strict)),
                        summary_data=summary)
    columns = (set().union(*(g.label_names for g in groups.values())),
               set().union(*(g.metric_names for g in groups.values())))
    write_latencies_csv(results, paths.latencies_csv, columns)
    _write_text(paths.report_md, render_markdown(blocks))
    _write_text(paths.report_html, render_html(blocks, title_of(summary)))
    _write_text(paths.junit, render_junit(summary))
    _write_text(paths.summary, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return paths
