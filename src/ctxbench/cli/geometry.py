"""``ctxbench geometry``: the geometry of a stored embedding set (neighbour cosines, distance
ratios, relative contrast, ties, local intrinsic dimension, PCA spectrum)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ctxbench.cli.options import Database, Dsn, Home, make_console, target_from
from ctxbench.errors import UsageError

out = make_console()


def geometry(
    table: str = typer.Option("resource_action_traces", "--table",
                              help="Table (or schema.table) holding the vectors."),
    column: str = typer.Option("embedding", "--column", help="pgvector column to measure."),
    scale: int | None = typer.Option(None, "--scale", help="Measure the ctxbench dataset of "
                                     "this scale (database ctxbench_<scale>, as `ctxbench "
                                     "vector --scale` names it)."),
    rows: int | None = typer.Option(None, "--rows", help="Measure a seeded random subset of "
                                    "this many rows instead of the whole set."),
    sample: int = typer.Option(1000, "--sample", help="Rows whose neighbours are searched "
                               "exactly (seeded)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples."),
    reference: bool = typer.Option(False, "--reference", help="Also show the real model's "
                                   "reference values (all-MiniLM-L6-v2 on ctxbench's own "
                                   "descriptions) at the nearest measured size."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the statistics here."),
    dsn: Dsn = None,
    home: Home = None,
    database: Database = None,
) -> None:
    """Measure the geometry of any stored embedding set: a ctxbench dataset, or any
    table/column given by --dsn (e.g. the service's real data).

    Exit code: 0 measured, 2 usage error, 3 infrastructure failure.
    """
    from ctxbench.analysis import geometry as geo

    if sample < 1:
        raise UsageError(f"--sample {sample} is not allowed; allowed: >= 1")
    if rows is not None and rows < geo.K_MAX + 2:
        raise UsageError(f"--rows {rows} is not allowed; allowed: >= {geo.K_MAX + 2}")
    if scale is not None and database is None and not dsn:
        database = f"ctxbench_{scale}"
    target = target_from(None, dsn, home, database)
    with target.connect() as conn:
        vectors = geo.read_vectors(conn, table, column, rows=rows, seed=seed)
    if len(vectors) < geo.K_MAX + 2:
        raise UsageError(f"{table}.{column} has {len(vectors)} vectors; geometry needs at "
                         f"least {geo.K_MAX + 2}")
    g = geo.measure(vectors, sample=sample, seed=seed)
    g["source"] = {"target": target.masked_dsn, "table": table, "column": column}
    ref = geo.reference_at(g["rows"]) if reference else None
    out.print(f"[bold]geometry[/] of {table}.{column} ({target.masked_dsn}): "
              f"{g['rows']:,} vectors × {g['dims']} dims, {g['sample']} sampled rows",
              highlight=False)
    for line in geo.table_lines(g, ref):
        out.print(line, highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"geometry": g, "reference": ref}, indent=1) + "\n")
        out.print(f"json: {json_out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("geometry")(geometry)
