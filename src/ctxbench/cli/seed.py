"""``ctxbench seed``: load a deterministic dataset of N traces into the target database."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ctxbench.cli.options import (
    Backend,
    Database,
    Dsn,
    Home,
    Json,
    exclusive_server,
    make_console,
    target_from,
)
from ctxbench.datagen.generator import DatasetOptions, LoadSummary, seed_dataset
from ctxbench.errors import UsageError

out = make_console()
err = Console(stderr=True)


class RichProgress:
    """Datagen progress events as rich bars (a spinner for steps of unknown length)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def begin(self, step: str, total: int | None = None) -> None:
        self.tasks[step] = self.progress.add_task(step, total=total)

    def advance(self, step: str, amount: int = 1) -> None:
        self.progress.advance(self.tasks[step], amount)

    def end(self, step: str) -> None:
        task = self.tasks[step]
        total = next(t.total for t in self.progress.tasks if t.id == task) or 1
        self.progress.update(task, total=total, completed=total)


def parse_anchor(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--anchor {text!r} is not a date: use YYYY-MM-DD (the UTC midnight the "
                         "generated time range ends at)") from None


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_summary(summary: LoadSummary) -> None:
    p = summary.params
    out.print(f"[bold]dataset[/] scale={p['scale']:,} seed={p['seed']} anchor={p['anchor']} "
              f"months={p['months']} severities={p['severities']} "
              f"embeddings={p.get('embedding_profile', 'hard')} "
              f"({summary.time_range.get('start', '')[:10]} .. {summary.time_range.get('end', '')[:10]})")
    loads = Table("table", "rows", "load s", "rows/s", "table size", "index size", title="load")
    rps = summary.rows_per_second
    for t, rows in summary.rows.items():
        size = summary.sizes.get(t, {})
        loads.add_row(t, f"{rows:,}", f"{summary.load_seconds.get(t, 0):.2f}",
                      f"{rps.get(t, 0):,.0f}", _bytes(size.get("table_bytes", 0)),
                      _bytes(size.get("index_bytes", 0)))
    out.print(loads)
    builds = Table("index / constraint", "kind", "table", "seconds", "size", title="builds")
    for b in summary.builds:
        builds.add_row(b["name"], b["kind"], b["table"], f"{b['seconds']:.2f}",
                       _bytes(summary.index_sizes.get(b["name"], 0)) if b["name"] in
                       summary.index_sizes else "")
    out.print(builds)
    if summary.analyze_seconds is not None:
        out.print(f"VACUUM ANALYZE: {summary.analyze_seconds:.2f} s")
    else:
        out.print(f"not analyzed: autovacuum is off on the tables; statistics: {summary.statistics}")
    out.print(f"partitions: {', '.join(summary.partitions)}")
    out.print(f"checksum: [bold]{summary.checksum}[/] ({summary.checksum_seconds:.2f} s)")
    out.print(f"total: {summary.total_seconds:.1f} s")


def seed(
    scale: Annotated[int, typer.Option("--scale", "-n", help="Number of traces (1,000 .. 10,000,000).")],
    seed_: Annotated[int, typer.Option("--seed", help="Root seed of every random stream.")] = 42,
    months: Annotated[int, typer.Option("--months", help="Length of the time range (1..24).")] = 3,
    anchor: Annotated[str | None, typer.Option(
        "--anchor", help="End of the time range, YYYY-MM-DD (UTC midnight); default: today.",
        show_default=False)] = None,
    severities: Annotated[str, typer.Option(
        "--severities", help="documented (critical/warning/info) or tests "
        "(critical/high/medium/low).")] = "documented",
    default_partition: Annotated[bool, typer.Option(
        "--default-partition",
        help="Also create a DEFAULT partition (the shipped schema had none).")] = False,
    embeddings: Annotated[str, typer.Option(
        "--embeddings", help="Vector geometry profile: realistic (calibrated against a real "
        "sentence-embedding model) or hard (isotropic topic balls, generator v1).")] = "realistic",
    replace: Annotated[bool, typer.Option(
        "--replace", help="Drop the dataset already loaded in the database first.")] = False,
    no_analyze: Annotated[bool, typer.Option(
        "--no-analyze",
        help="Skip VACUUM ANALYZE: leave the tables without statistics, autovacuum off.")] = False,
    backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
    as_json: Json = False,
) -> None:
    """Generate N traces (+ N/20 resources and histories) and load them by binary COPY."""
    options = DatasetOptions(scale=scale, seed=seed_, anchor=parse_anchor(anchor), months=months,
                             severities=severities, default_partition=default_partition,
                             embedding_profile=embeddings)
    with exclusive_server(backend, dsn, home):
        _seed(options, replace=replace, analyze=not no_analyze, backend=backend, dsn=dsn,
              home=home, database=database, as_json=as_json)


def _seed(options: DatasetOptions, *, replace: bool, analyze: bool, backend: str | None,
          dsn: str | None, home: Path | None, database: str | None, as_json: bool) -> None:
    target = target_from(backend, dsn, home, database)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with target.connect() as conn, Progress(*columns, console=err, transient=as_json,
                                            disable=as_json) as bars:
        summary = seed_dataset(conn, options, replace=replace, analyze=analyze,
                               progress=RichProgress(bars))
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        out.print(f"loaded into {target.masked_dsn}")
        render_summary(summary)


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)
