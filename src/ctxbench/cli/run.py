"""``ctxbench run``: the main job (nightly CI and local runs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, TaskID

from ctxbench import scenario as scenarios
from ctxbench.cli.options import Dsn, Home, make_console

out = make_console()


class RichProgress:
    """Adapter from the runner's progress protocol to a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)
        self.task = self.progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def log(self, message: str) -> None:
        self.progress.console.log(message)


def run(
    scenario: str = typer.Option("smoke", "--scenario", "-s",
                                 help="Scenario file, or the name of a shipped one (smoke, nightly, "
                                 "scale-1m, ...)."),
    out_dir: Path | None = typer.Option(None, "--out", help="Parent folder of the results "
                                        "(default: the scenario's output.dir)."),
    dsn: Dsn = None,
    home: Home = None,
    strict: bool = typer.Option(False, "--strict", help="INCONCLUSIVE verdicts fail the run."),
    redis_url: str | None = typer.Option(
        None, "--redis-url", envvar="CTXBENCH_REDIS_URL", show_default=False,
        help="Redis for the cache phase (redis://HOST:PORT/DB; default: ctxbench starts its own)."),
) -> None:
    """Run a scenario: provision, seed (or reuse), measure every phase, write reports.

    Exit code: 0 all budgets pass, 1 a budget failed, 2 usage/config error, 3 infrastructure failure.
    """
    from ctxbench.report.console import print_verdicts
    from ctxbench.runs.phase_run import run_scenario

    sc = scenarios.find(scenario)
    if strict:
        sc.output.strict = True
    out.print(f"[bold]ctxbench run[/] scenario [cyan]{sc.name}[/] ({sc.source})")
    from ctxbench.cli.progress import progress_for

    with progress_for(out) as progress:
        outcome = run_scenario(sc, out_dir=out_dir, dsn=dsn, home=home, progress=progress,
                               redis_url=redis_url)
    print_verdicts(out, outcome.reports)
    out.print(f"report: {outcome.results_dir / 'report.md'}  (html: {outcome.results_dir / 'report.html'})")
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
