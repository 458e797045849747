"""``ctxbench vector``: the vector search quality study (recall, ef_search sweep, filters,
iterative scans, shipped SQL completeness, HNSW warm-up)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctxbench import scenario as scenarios
from ctxbench.cli.options import Dsn, Home, make_console
from ctxbench.errors import UsageError

out = make_console()


def vector(
    scenario: str = typer.Option("vector", "--scenario", "-s",
                                 help="Scenario file, or the name of a shipped one (vector, ...)."),
    out_dir: Path | None = typer.Option(None, "--out", help="Parent folder of the results "
                                        "(default: the scenario's output.dir)."),
    scale: int | None = typer.Option(None, "--scale", help="Override dataset.scale (e.g. 1000000); "
                                     "the database gets the scale in its name so datasets of "
                                     "different sizes live side by side."),
    stats: str | None = typer.Option(None, "--stats", help="Override vector.stats, comma-separated "
                                     "(before_analyze, after_analyze, as_found), e.g. after_analyze "
                                     "at 1M, where a filter's exact plan before ANALYZE takes seconds."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", envvar="CTXBENCH_CACHE",
                                          help="Ground-truth cache folder (default "
                                          "~/.cache/ctxbench)."),
    dsn: Dsn = None,
    home: Home = None,
    strict: bool = typer.Option(False, "--strict", help="INCONCLUSIVE verdicts fail the run."),
) -> None:
    """Recall against exact ground truth, ef_search sweep per filter selectivity, iterative
    scans, the shipped SQL's completeness, HNSW warm-up to steady state; writes a results
    folder and reports like `ctxbench run`.

    Exit code: 0 all budgets pass, 1 a budget failed, 2 usage/config error, 3 infrastructure failure.
    """
    from ctxbench.report.console import print_verdicts
    from ctxbench.runs.vector import run_vector

    sc = scenarios.find(scenario)
    if strict:
        sc.output.strict = True
    if scale is not None:
        from ctxbench import bounds
        from ctxbench.scenario import DatasetSpec

        bounds.check(DatasetSpec, "scale", scale, "--scale", "dataset.scale")
        if sc.database.name is None:
            sc.database.name = f"{sc.database_name}_{scale}"
        sc.dataset.scale = scale
    if cache_dir is not None:
        sc.vector.cache_dir = str(cache_dir)
    if stats is not None:
        states = [x.strip() for x in stats.split(",") if x.strip()]
        allowed = ("before_analyze", "after_analyze", "as_found")
        bad = [x for x in states if x not in allowed]
        if bad or not states:
            raise UsageError(f"--stats {stats!r} is not allowed; allowed: a comma-separated list "
                             f"of {', '.join(allowed)}")
        sc.vector.stats = states
        sc.vector.sweep_stats = [x for x in (sc.vector.sweep_stats or []) if x in states] or None
    out.print(f"[bold]ctxbench vector[/] scenario [cyan]{sc.name}[/] ({sc.source}), "
              f"{sc.dataset.scale:,} traces")
    from ctxbench.cli.progress import progress_for

    with progress_for(out) as progress:
        outcome = run_vector(sc, out_dir=out_dir, dsn=dsn, home=home, progress=progress)
    print_verdicts(out, outcome.reports)
    _print_headline(outcome.reports.summary_data)
    out.print(f"report: {outcome.results_dir / 'report.md'}  "
              f"(html: {outcome.results_dir / 'report.html'})")
    raise typer.Exit(outcome.exit_code)


def _print_headline(summary: dict) -> None:
    """The recommendation lines (summary.json's ``vector.recommendations``), so a terminal run
    shows the answer without opening the report."""
    recs = (summary.get("vector") or {}).get("recommendations") or {}
    for phase, r in recs.items():
        out.print(f"[bold]{phase}[/]: {r['text']}")


def register(app: typer.Typer) -> None:
    app.command("vector")(vector)
