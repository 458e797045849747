"""``ctxbench compare A B``: did run B get faster or slower than run A?"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ctxbench.cli.options import make_console

out = make_console()


def compare(
    run_a: Path = typer.Argument(..., help="Baseline results folder (A).", show_default=False),
    run_b: Path = typer.Argument(..., help="Results folder to judge (B).", show_default=False),
    threshold: str = typer.Option("5%", "--threshold", help="Smallest change that counts, as a "
                                  "ratio of medians (5% or 0.05)."),
    alpha: float = typer.Option(0.01, "--alpha", help="Significance level of the Mann–Whitney "
                                "U test."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    md: Path | None = typer.Option(None, "--md", help="Also write the comparison as Markdown "
                                   "to this file.", show_default=False),
    fail_on_regression: bool = typer.Option(False, "--fail-on-regression",
                                            help="Exit 1 if any group got significantly "
                                            "slower."),
) -> None:
    """Per (query, variant, phase): medians, p95, ratio B/A with a bootstrap CI, Mann–Whitney
    p-value and a verdict (faster / slower / no significant change); plan and metadata
    differences are listed.

    Exit code: 0, or 1 with --fail-on-regression when something got slower; 2 on bad input.
    """
    from ctxbench.analysis.compare import compare_runs, parse_threshold
    from ctxbench.errors import UsageError
    from ctxbench.report.compare import compare_markdown, print_comparison
    from ctxbench.results.store import write_user_file

    result = compare_runs(run_a, run_b, threshold=parse_threshold(threshold), alpha=alpha)
    if not result["groups"]:
        raise UsageError(f"{run_a} and {run_b} have no (query, variant, phase) group in common: "
                         "nothing was compared (only in A: "
                         f"{len(result['only_in_a'])}, only in B: {len(result['only_in_b'])})")
    if md is not None:
        write_user_file(md, compare_markdown(result), "--md")
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_comparison(out, result)
        if md is not None:
            out.print(f"markdown: {md}", highlight=False)
    raise typer.Exit(1 if fail_on_regression and result["regression"] else 0)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
