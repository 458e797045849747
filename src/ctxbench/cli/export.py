"""``ctxbench export DIR --format …``: a results folder for github-action-benchmark or Bencher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import typer

FORMATS = ("github-action-benchmark", "bencher")


def export(
    results_dir: Path = typer.Argument(..., help="A results folder written by ctxbench run/load.",
                                       show_default=False),
    fmt: str = typer.Option(..., "--format", "-f", help="github-action-benchmark (tool "
                            "customSmallerIsBetter) or bencher (Bencher Metric Format).",
                            show_default=False),
    out_file: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of "
                                         "standard output.", show_default=False),
) -> None:
    """Print (or write) the folder's latency percentiles and error rates in a format those
    tools read. Exit code: 0, or 2 for an unknown format or a folder that is not a results
    folder."""
    from ctxbench.analysis.history import load_summary
    from ctxbench.errors import UsageError
    from ctxbench.report.exports import bencher_metric_format, github_action_benchmark
    from ctxbench.results.store import ResultsDir
    from ctxbench.results.summary_types import Summary

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: allowed: {', '.join(FORMATS)}")
    if not results_dir.is_dir():
        raise UsageError(f"{results_dir}: no such results folder")
    ResultsDir(results_dir).require()
    # load_summary returns a summary.json of the current schema version, or builds one
    summary = cast(Summary, load_summary(results_dir))
    data = (github_action_benchmark(summary) if fmt == FORMATS[0]
            else bencher_metric_format(summary))
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text, encoding="utf-8")
        typer.echo(f"{fmt}: {out_file}", err=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
