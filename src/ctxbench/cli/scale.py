"""``ctxbench scale`` (a scale study) and ``ctxbench snapshot`` (seeded datasets kept as
template databases)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ctxbench import scenario as scenarios
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
from ctxbench.errors import UsageError

out = make_console()


def _points(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(p.strip().replace("_", "")) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(f"--points {text!r} is not a comma-separated list of trace counts "
                         "(e.g. 20000,100000)") from None


def scale(
    scenario: str = typer.Option("scale", "--scenario", "-s",
                                 help="Scenario file, or the name of a shipped one."),
    points: str | None = typer.Option(None, "--points",
                                      help="Sizes to measure, e.g. 20000,100000 (default: the "
                                      "scenario's scale.points)."),
    out_dir: Path | None = typer.Option(None, "--out", help="Parent folder of the study "
                                        "(default: the scenario's output.dir)."),
    dsn: Dsn = None,
    home: Home = None,
    strict: bool = typer.Option(False, "--strict", help="INCONCLUSIVE verdicts fail the study."),
) -> None:
    """Measure the scenario at several dataset sizes and fit how latency grows with N.

    Exit code: 0 all budgets pass at every size, 1 a budget failed, 2 usage, 3 infrastructure.
    """
    from ctxbench.cli.run import RichProgress
    from ctxbench.report.console import print_verdicts
    from ctxbench.runs.scale import run_scale_study

    sc = scenarios.find(scenario)
    if strict:
        sc.output.strict = True
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out.print(f"[bold]ctxbench scale[/] scenario [cyan]{sc.name}[/] ({sc.source})")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as progress:
        outcome = run_scale_study(sc, points=_points(points), out_dir=out_dir, dsn=dsn, home=home,
                                  progress=RichProgress(progress))
    print_verdicts(out, outcome.reports)
    out.print(f"report: {outcome.results_dir / 'report.md'}  (html: {outcome.results_dir / 'report.html'})")
    raise typer.Exit(outcome.exit_code)


snapshot_app = typer.Typer(help="Seeded datasets kept as template databases on the same server: "
                           "save once, restore in a fraction of the seeding time (checksum "
                           "verified).", no_args_is_help=True)


@snapshot_app.command("save")
def snapshot_save(
    replace: Annotated[bool, typer.Option("--replace", help="Replace a snapshot with the same key.")] = False,
    backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
    as_json: Json = False,
) -> None:
    """Snapshot the dataset loaded in the database (keyed by its parameters and schema)."""
    from ctxbench.datagen import snapshot

    with exclusive_server(backend, dsn, home):
        target = target_from(backend, dsn, home, database)
        snap, made = snapshot.save(target, replace=replace)
    if as_json:
        typer.echo(json.dumps({"saved": made, **snap.to_json()}, indent=2))
        return
    verb = "saved" if made else "already there (use --replace to make it again)"
    out.print(f"snapshot [bold]{snap.key}[/] {verb}: {snap.name}, {snap.size_bytes / 2**30:.2f} GiB"
              + (f", {snap.save_seconds:.1f} s" if made else ""))


@snapshot_app.command("restore")
def snapshot_restore(
    key: Annotated[str, typer.Argument(help="Snapshot key (`ctxbench snapshot list`).")],
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the checksum check.")] = False,
    backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
    as_json: Json = False,
) -> None:
    """Replace the database (only one ctxbench created) by a copy of a snapshot, then verify
    the dataset checksum."""
    from ctxbench.datagen import snapshot

    with exclusive_server(backend, dsn, home):
        target = target_from(backend, dsn, home, database)
        timing = snapshot.restore(target, key, verify=not no_verify)
    if as_json:
        typer.echo(json.dumps(timing, indent=2))
        return
    verified = (f", checksum verified in {timing['verify_seconds']:.1f} s" if timing.get("verified")
                else ", checksum NOT verified")
    out.print(f"restored {timing['snapshot']} into {target.database} in "
              f"{timing['copy_seconds']:.1f} s{verified} ({timing['checksum']})")


@snapshot_app.command("list")
def snapshot_list(backend: Backend = None, dsn: Dsn = None, home: Home = None,
                  as_json: Json = False) -> None:
    """Snapshots on this server."""
    from ctxbench.datagen import snapshot

    snaps = snapshot.list_snapshots(target_from(backend, dsn, home, None))
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in snaps], indent=2))
        return
    if not snaps:
        out.print("no snapshots")
    for s in snaps:
        p = s.params
        out.print(f"{s.key}  scale={p.get('scale'):,} seed={p.get('seed')} anchor={p.get('anchor')} "
                  f"months={p.get('months')} severities={p.get('severities')} "
                  f"variants={','.join(s.schema_variants) or '-'}  {s.size_bytes / 2**30:.2f} GiB  "
                  f"saved {s.saved_at}")


@snapshot_app.command("drop")
def snapshot_drop(key: Annotated[str, typer.Argument(help="Snapshot key.")],
                  backend: Backend = None, dsn: Dsn = None, home: Home = None) -> None:
    """Drop a snapshot (only ctxbench's snapshot databases are ever dropped)."""
    from ctxbench.datagen import snapshot

    if not snapshot.drop(target_from(backend, dsn, home, None), key):
        raise UsageError(f"no snapshot with key {key!r} on this server")
    out.print(f"dropped snapshot {key}")


@snapshot_app.command("key")
def snapshot_key(
    scenario: str = typer.Option("smoke", "--scenario", "-s", help="Scenario file or shipped name."),
    scale_: int | None = typer.Option(None, "--scale", help="Override the scenario's dataset scale."),
    as_json: Json = False,
) -> None:
    """The dataset key a scenario's run would use, without touching a server. ``identity`` leaves
    the anchor out (for cache keys whose newest entry may be restored, e.g. the nightly job)."""
    from ctxbench.datagen import snapshot
    from ctxbench.queries import schema_variants_needed
    from ctxbench.runs.session import dataset_options
    from ctxbench.scenario import select_workload

    sc = scenarios.find(scenario)
    if scale_ is not None:
        sc.dataset.scale = scale_
    variants = list(sc.database.schema_variants)
    variants += [v for v in schema_variants_needed(select_workload(sc)) if v not in variants]
    params = dataset_options(sc).resolved().params()
    unanchored = {k: v for k, v in params.items() if k != "anchor"}
    info = {"key": snapshot.dataset_key(params, variants),
            "identity": snapshot.dataset_key(unanchored, variants),
            "anchor": params["anchor"], "anchor_fixed": sc.dataset.anchor is not None,
            "params": params, "schema_variants": sorted(set(variants))}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(info["key"])


def register(app: typer.Typer) -> None:
    app.command("scale")(scale)
    app.add_typer(snapshot_app, name="snapshot")
