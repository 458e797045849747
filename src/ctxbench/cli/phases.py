"""``ctxbench phases``: the registered phases — what each does to the server, what it measures and
how it is summarised (``ctxbench.measure.phases.REGISTRY``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich.table import Table

from ctxbench.cli.options import make_console

out = make_console()


def phases(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")
           ) -> None:
    """The phases a scenario can run ([phases].run), in their registry order, with their
    [phases.<name>] keys and defaults.

    Exit code: 0.
    """
    from ctxbench.measure.phases import DEFAULT_RUN, REGISTRY

    rows: list[dict[str, Any]] = [
        {"name": p.name, "default": p.name in DEFAULT_RUN, "effect": p.effect,
         "measured": list(p.measured), "summary": p.summary,
         "keys": {f.name: _default(f) for f in dataclasses.fields(p.spec)}}
        for p in REGISTRY]
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = Table("phase", "does to the server", "measures (phase names)", "keys (defaults)")
    for r in rows:
        table.add_row(r["name"] + (" *" if r["default"] else ""), r["effect"],
                      ", ".join(r["measured"]) + f"\n[dim]{r['summary']}[/]",
                      ", ".join(f"{k}={v}" for k, v in r["keys"].items()))
    out.print(table)
    out.print("* run by default ([phases].run = " + json.dumps(list(DEFAULT_RUN)) + ")", markup=False)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"phase spec key {f.name} has no default")  # every spec_field has one


def register(app: typer.Typer) -> None:
    app.command("phases")(phases)
