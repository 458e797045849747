"""``ctxbench load``: Locust load runs (closed loop, open loop, capacity search), headless."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ctxbench import scenario as scenarios
from ctxbench.cli.options import Dsn, Home, make_console

out = make_console()


def load(
    scenario: str = typer.Option("load", "--scenario", "-s",
                                 help="Scenario file or shipped name; its [load] table, query mix, "
                                 "weights and budgets apply."),
    users: int | None = typer.Option(None, "--users", "-u", help="Locust users (open modes: lanes "
                                     "of the arrival schedule).", show_default=False),
    spawn_rate: float | None = typer.Option(None, "--spawn-rate", "-r", help="Users started per "
                                            "second.", show_default=False),
    rate: float | None = typer.Option(None, "--rate", help="Open mode: arrivals per second over all "
                                      "users.", show_default=False),
    duration: float | None = typer.Option(None, "--duration", "-t", help="Seconds of load (closed "
                                          "and open modes).", show_default=False),
    mode: str | None = typer.Option(None, "--mode", help="closed | open | capacity.",
                                    show_default=False),
    arrival: str | None = typer.Option(None, "--arrival", help="Open modes: poisson | constant.",
                                       show_default=False),
    workers: int | None = typer.Option(None, "--workers", "-w", help="Local Locust worker processes "
                                       "under a master (0 = one process).", show_default=False),
    pool_size: int | None = typer.Option(None, "--pool-size", help="Connections per Locust process.",
                                         show_default=False),
    warmup: float | None = typer.Option(None, "--warmup", help="Seconds at the start recorded as "
                                        "warm-up (excluded from the statistics); capacity mode: a "
                                        "warm-up period at the start rate before the first step, "
                                        "never judged.", show_default=False),
    max_rate: float | None = typer.Option(None, "--max-rate", help="Capacity: highest rate tried.",
                                          show_default=False),
    step_seconds: float | None = typer.Option(None, "--step-seconds", help="Capacity: seconds per "
                                              "step.", show_default=False),
    synthetic_ms: float | None = typer.Option(None, "--synthetic-ms", hidden=True,
                                              help="Send SELECT pg_sleep(ms) instead of the mix."),
    out_dir: Path | None = typer.Option(None, "--out", help="Parent folder of the results "
                                        "(default: the scenario's output.dir)."),
    dsn: Dsn = None,
    home: Home = None,
    strict: bool = typer.Option(False, "--strict", help="INCONCLUSIVE verdicts fail the run."),
    cache: str | None = typer.Option(
        None, "--cache", show_default=False,
        help="off, or a cache variant (as_shipped, tuned, no_singleflight): requests go through the "
        "service's read path (Redis + L2 + single-flight). Default: the scenario's [load] cache."),
    redis_url: str | None = typer.Option(
        None, "--redis-url", envvar="CTXBENCH_REDIS_URL", show_default=False,
        help="Redis for --cache (redis://HOST:PORT/DB; default: ctxbench starts its own)."),
) -> None:
    """Run Locust headless against the seeded database; write Locust's CSV/HTML, exact latencies
    (measurements.jsonl), meta.json and the report into one results folder.

    Exit code: 0 all budgets pass (capacity mode: a capacity was found), 1 a budget failed (no
    capacity step passed), 2 usage/config error, 3 infrastructure failure.
    """
    from ctxbench.load.settings import LoadSettings
    from ctxbench.report.console import print_verdicts
    from ctxbench.runs.load import run_load

    sc = scenarios.find(scenario)
    if strict:
        sc.output.strict = True
    settings = LoadSettings.from_scenario(
        sc, users=users, spawn_rate=spawn_rate, rate=rate, duration_s=duration, mode=mode,
        arrival=arrival, workers=workers, pool_size=pool_size, warmup_s=warmup, max_rate=max_rate,
        step_seconds=step_seconds, synthetic_ms=synthetic_ms, cache=cache)
    if settings.cache != "off":
        import os

        from ctxbench.cache.server import resolve_url

        # Locust's processes read the Redis from the environment (never from a command line)
        os.environ["CTXBENCH_REDIS_URL"] = resolve_url(redis_url, home)[0]
    out.print(f"[bold]ctxbench load[/] scenario [cyan]{sc.name}[/] ({sc.source}), mode "
              f"[cyan]{settings.mode}[/]")
    from ctxbench.cli.progress import PlainProgress
    from ctxbench.cli.run import RichProgress

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} s"),
               TimeElapsedColumn())
    if not out.is_terminal:  # logs: plain lines with an ETA instead of a redrawn bar
        outcome = run_load(sc, settings, out_dir=out_dir, dsn=dsn, home=home,
                           strict=sc.output.strict, progress=PlainProgress(out))
    else:
        with Progress(*columns, console=out, transient=False) as progress:
            outcome = run_load(sc, settings, out_dir=out_dir, dsn=dsn, home=home,
                               strict=sc.output.strict, progress=RichProgress(progress))
    total = (outcome.locust or {}).get("total") or {}
    if total:
        out.print(f"Locust: {total.get('requests', 0)} requests, {total.get('failures', 0)} failed, "
                  f"{total.get('rps', 0):.1f} req/s")
    if outcome.capacity:
        out.print(f"[bold]capacity:[/] {outcome.capacity.get('summary')}")
    print_verdicts(out, outcome.reports)
    out.print(f"report: {outcome.results_dir / 'report.md'}  (Locust: "
              f"{outcome.results_dir / 'locust.html'})")
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    app.command("load")(load)
