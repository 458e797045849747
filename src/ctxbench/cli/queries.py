"""``ctxbench queries``: the catalog, and the plan of one query for a sampled parameter set."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from ctxbench.cli.options import Backend, Database, Dsn, Home, Json, make_console
from ctxbench.db.target import Target, database_exists, make_server, open_target
from ctxbench.errors import UsageError
from ctxbench.queries import DatasetProfile, ParamSampler, catalog
from ctxbench.results.explain import numbered_outline, plan_numbers

out = make_console()
queries_app = typer.Typer(help="The query catalog: list queries, explain their plans.",
                          no_args_is_help=True)


@queries_app.command("list")
def list_queries(as_json: Json = False) -> None:
    """Every query with its tags and variants (budgets come from the scenario: by default
    p95 <= 500 ms for every query and phase)."""
    if as_json:
        out.print_json(json.dumps([q.describe() for q in catalog.values()]))
        return
    table = Table("query", "tags", "variants", "description")
    table.columns[0].no_wrap = True
    for q in catalog.values():
        variants = ", ".join(v.name + (f" [{v.schema_variant}]" if v.schema_variant else "")
                             + (f" (on start: {v.on_start.text()})" if v.on_start else "")
                             for v in q.variants.values())
        table.add_row(q.name, ",".join(sorted(q.tags)), escape(variants), q.description)
    out.print(table)


def _shown(params: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, np.ndarray):
            shown[key] = f"<{value.size} floats: {', '.join(f'{x:.4f}' for x in value[:4])}, ...>"
        elif hasattr(value, "isoformat"):
            shown[key] = value.isoformat()
        else:
            shown[key] = value
    return shown


def _existing_target(backend: str | None, dsn: str | None, home, database: str | None) -> Target:
    """The target, without creating an empty database on the way (explain only reads)."""
    target = open_target(make_server(backend, dsn=dsn, home=home), database, create=False)
    if target.kind != "dsn":
        with target.admin_connect() as conn:
            if not database_exists(conn, target.database):
                raise UsageError(f"database {target.database!r} does not exist on the "
                                 f"{target.kind} server; run `ctxbench seed` first")
    return target


def require_dataset(conn, database: str) -> None:
    """The workload's tables must be ctxbench's own and hold a loaded dataset."""
    from ctxbench.datagen.generator import current_dataset
    from ctxbench.db.migrate import guard_foreign_tables, owns_schema

    guard_foreign_tables(conn, f"database {database!r}")
    if not owns_schema(conn) or not current_dataset(conn):
        raise UsageError(f"database {database!r} holds no ctxbench dataset; run `ctxbench seed` first")


@queries_app.command("explain")
def explain(
    name: Annotated[str, typer.Argument(help="Query name (see `ctxbench queries list`).")],
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant to explain.")] =
        "as_shipped",
    analyze: Annotated[bool, typer.Option("--analyze/--no-analyze",
                                          help="Run the query (EXPLAIN ANALYZE).")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Sampler seed.")] = 1,
    index: Annotated[int, typer.Option("--index", help="Which sampled parameter set (0-based).",
                                       min=0)] = 0,
    surface: Annotated[str, typer.Option("--surface", help="builder or http limits.")] =
        "builder",
    backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
    as_json: Json = False,
) -> None:
    """EXPLAIN (ANALYZE, BUFFERS, SETTINGS) one query for a sampled parameter set."""
    query = catalog.get(name)
    if query is None:
        raise UsageError(f"unknown query {name!r}; allowed: {', '.join(catalog)}")
    query.variant(variant)  # fail on a bad variant before touching the database
    from ctxbench import bounds
    from ctxbench.measure.phases.warm import WarmSpec

    bounds.check(WarmSpec, "param_sets", index + 1, "--index + 1 (parameter sets drawn)",
                 "phases.warm.param_sets")
    target = _existing_target(backend, dsn, home, database)
    with target.connect() as conn:
        require_dataset(conn, target.database)
        profile = DatasetProfile.from_database(conn)
        ps = ParamSampler(profile, seed, surface=surface).sample(name, index + 1,
                                                                 stream="explain")[index]
        plan = query.explain(conn, ps.params, variant, analyze=analyze)
    numbers = plan_numbers(plan)
    sql, _ = query.sql_and_args(ps.params, variant)
    v = query.variant(variant)
    if as_json:
        out.print_json(json.dumps({"query": name, "variant": variant, "param_id": ps.id,
                                   "kind": ps.kind, "params": _shown(ps.params),
                                   "settings": dict(v.settings), "sql": sql,
                                   "summary": numbers, "plan": plan}, default=str))
        return
    out.print(f"[bold]{name}[/] [{variant}]  param set {ps.id} ({ps.kind})", highlight=False)
    out.print(f"params: {json.dumps(_shown(ps.params), default=str)}", highlight=False)
    if v.settings:
        out.print("SET LOCAL: " + ", ".join(f"{k}={val}" for k, val in v.settings.items()))
    if v.on_start:
        out.print(f"server-start action (run after every cache reset in cold phases): "
                  f"{v.on_start.text()}", highlight=False)
    if v.shipped_noop_sets:
        out.print("shipped no-op statements (outside a transaction): "
                  + "; ".join(v.shipped_noop_sets))
    for line in numbered_outline(plan):
        out.print(line, highlight=False, markup=False)
    parts = []
    if numbers["planning_ms"] is not None:
        parts.append(f"planning {numbers['planning_ms']} ms")
    if numbers["execution_ms"] is not None:
        parts.append(f"execution {numbers['execution_ms']} ms")
    if numbers["rows"] is not None:  # buffers and rows are only measured with ANALYZE
        parts.append(f"buffers hit {numbers['shared_hit']} read {numbers['shared_read']}")
        parts.append(f"rows {numbers['rows']:g}")
    if parts:
        out.print(" | ".join(parts), highlight=False)
    if numbers["settings"]:
        out.print("non-default planner settings: " + ", ".join(
            f"{k}={val}" for k, val in numbers["settings"].items()), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(queries_app, name="queries")
