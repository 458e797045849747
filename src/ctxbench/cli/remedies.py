"""``ctxbench remedies``: the remedy catalog, and what each remedy costs the writers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ctxbench.cli.options import Database, Dsn, Home, Json, make_console, target_from
from ctxbench.errors import UsageError

out = make_console()
remedies_app = typer.Typer(help="Remedies per query, and their cost (build, disk, writes).",
                           no_args_is_help=True)


@remedies_app.command("list")
def list_remedies(as_json: Json = False) -> None:
    """Every query's remedies: variant, schema variants, answer change, causes addressed."""
    from ctxbench.queries.remedies import REMEDIES

    rows: list[dict[str, Any]] = [{"query": q, "variant": r.variant, "schema_variant": r.schema_variant,
             "changes_answer": r.changes_answer, "addresses": sorted(r.addresses),
             "what": r.what} for q, rs in REMEDIES.items() for r in rs]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table("query", "remedy", "schema", "changes answer", "what")
    for r in rows:
        t.add_row(r["query"], r["variant"], r["schema_variant"] or "–",
                  "yes" if r["changes_answer"] else "no", r["what"])
    out.print(t)


@remedies_app.command("cost")
def cost(
    into: Path = typer.Option(None, "--into", help="A results folder: write remedy_cost.json "
                              "there and rebuild its reports (the Remedies section shows it)."),
    variant: list[str] = typer.Option(None, "--variant", help="Schema variant (repeatable; "
                                      "default: every remedy's)."),
    batch_rows: int = typer.Option(2000, "--batch-rows", min=10, max=1_000_000),
    batches: int = typer.Option(2, "--batches", min=1, max=100),
    single_rows: int = typer.Option(150, "--single-rows", min=1, max=100_000,
                                    help="single-row INSERTs per connection"),
    connections: int = typer.Option(4, "--connections", min=1, max=64),
    rounds: int = typer.Option(2, "--rounds", min=1, max=20),
    dsn: Dsn = None, home: Home = None, database: Database = None, as_json: Json = False,
) -> None:
    """Measure each remedy's build time, size and write cost (COPY batches and single-row
    INSERTs on several connections) against the shipped schema, side by side in one run, on a
    seeded database (a small one is enough: writes go to the newest partition). The schema
    variants applied before are restored at the end."""
    from ctxbench.measure.remedy_cost import COST_FILE, CostSpec, measure_costs, remedy_schema_variants

    if into is not None and not (into / "meta.json").is_file():
        raise UsageError(f"--into {into}: not a ctxbench results folder (no meta.json)")
    spec = CostSpec(batch_rows=batch_rows, batches=batches, single_rows=single_rows,
                    connections=connections, rounds=rounds,
                    variants=list(variant) if variant else remedy_schema_variants())
    target = target_from(None, dsn, home, database)
    with out.status("measuring remedy costs…") as status:
        result = measure_costs(target, spec, progress=lambda m: status.update(m))
    result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    text = json.dumps(result, indent=2) + "\n"
    if into is not None:
        (into / COST_FILE).write_text(text, encoding="utf-8")
        from ctxbench.report.build import build_reports

        build_reports(into)
        where = into / COST_FILE
    else:
        folder = Path("reports")
        folder.mkdir(exist_ok=True)
        where = folder / f"remedy-cost-{result['measured_at'].replace(':', '')}.json"
        where.write_text(text, encoding="utf-8")
    if as_json:
        typer.echo(text)
        return
    t = Table("schema state", "build s", "MB", "COPY rows/s", "× shipped", "INSERT rows/s",
              "× shipped", title=f"{result['traces']:,} traces; load average "
              f"{result['load_average']['min']:.1f}–{result['load_average']['max']:.1f}")
    for s in result["states"]:
        t.add_row(s["state"], f"{s['build_seconds']:.2f}", f"{s['bytes'] / 1e6:.1f}",
                  f"{s['copy_rows_per_s']:.0f}", f"{s['copy_vs_shipped']:.2f}",
                  f"{s['insert_rows_per_s']:.0f}", f"{s['insert_vs_shipped']:.2f}")
    out.print(t)
    out.print(f"written to {where}")


def register(app: typer.Typer) -> None:
    app.add_typer(remedies_app, name="remedies")
