"""``ctxbench history DIR…``: one page of every query's estimates across runs, with step changes."""

from __future__ import annotations

from pathlib import Path

import typer

from ctxbench.cli.options import make_console

out = make_console()


def history(
    folders: list[Path] = typer.Argument(..., help="Results folders, or folders of results "
                                         "folders (e.g. the parent the nightly runs go to).",
                                         show_default=False),
    out_dir: Path = typer.Option(Path("ctxbench-history"), "--out",
                                 help="Where history.html, history.md and history.json go."),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-6, max=0.5,
                                help="Significance level of a step (Bonferroni-corrected)."),
    min_effect: float = typer.Option(1.25, "--min-effect", min=1.0,
                                     help="Smallest step reported, as a ratio of the medians "
                                     "before and after."),
) -> None:
    """Write history.html, history.md, history.json and changes.md (the change points alone).

    Estimates with their intervals per run (x = run date and git sha), budget lines, step
    changes (binary segmentation with a t-test) and plan changes, for every query × variant ×
    phase. Exit code: 0, or 2 when a folder is not a results folder."""
    from ctxbench.report.history import build_history_page, change_point_lines

    inputs: list[Path | str] = list(folders)
    paths = build_history_page(inputs, out_dir, alpha=alpha, min_effect=min_effect)
    h = paths.history
    out.print(f"{len(h.runs)} runs, {len(h.series)} series, "
              f"{len(h.change_points())} step change(s)", highlight=False, markup=False)
    for line in change_point_lines(h, 10):
        out.print(f"• {line}", highlight=False, markup=False)
    for path in (paths.html, paths.md, paths.json, paths.changes_md):
        out.print(f"  {path}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("history")(history)
