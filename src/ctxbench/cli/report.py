"""``ctxbench report DIR``: rebuild every report from a results folder."""

from __future__ import annotations

from pathlib import Path

import typer

from ctxbench.cli.options import make_console

out = make_console()


def report(
    results_dir: Path = typer.Argument(..., help="A results folder written by ctxbench run/load.",
                                       show_default=False),
    out_dir: Path | None = typer.Option(None, "--out", help="Write the reports here instead of "
                                        "into the results folder.", show_default=False),
    strict: bool = typer.Option(False, "--strict", help="INCONCLUSIVE verdicts fail (exit 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the paths and verdict."),
) -> None:
    """Rebuild summary.json, latencies.csv, report.md, report.html, junit.xml and plots/.

    Exit code: 0 budgets hold (INCONCLUSIVE too, unless --strict), 1 a budget failed,
    2 not a results folder.
    """
    from ctxbench.report.build import build_reports
    from ctxbench.report.console import print_verdicts

    paths = build_reports(results_dir, out_dir, strict=strict)
    if not quiet:
        print_verdicts(out, paths)
    else:
        out.print(f"verdict: {paths.verdict}")
    for path in (paths.report_md, paths.report_html, paths.junit, paths.summary,
                 paths.latencies_csv):
        out.print(f"  {path}", highlight=False)
    out.print(f"  {paths.plots}/ ({len(paths.plot_files)} plots)", highlight=False)
    raise typer.Exit(paths.exit_code)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
