"""``ctxbench db``: the server's lifecycle, its DSN and the schema."""

from __future__ import annotations

import json

import typer

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
from ctxbench.db import migrate as migrations
from ctxbench.db.connect import server_facts
from ctxbench.db.dsn import mask_password
from ctxbench.db.target import drop_database, make_server
from ctxbench.errors import UsageError

out = make_console()
db_app = typer.Typer(help="Start, stop and inspect the database server; apply the schema.",
                     no_args_is_help=True)


@db_app.command("up")
def up(backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
       as_json: Json = False) -> None:
    """Start the server (a second `up` reuses the running one) and create ctxbench's database."""
    with exclusive_server(backend, dsn, home):
        target = target_from(backend, dsn, home, database)
    info = {**target.server.status(), "database": target.database, "dsn": target.masked_dsn}
    if as_json:
        out.print_json(json.dumps(info))
    else:
        out.print(f"server up ({info['backend']}): {info['dsn']}")


@db_app.command("down")
def down(home: Home = None) -> None:
    """Stop the embedded server (data is kept)."""
    server = make_server("embedded", home=home)
    with exclusive_server("embedded", None, home):
        stopped = server.down()
    out.print("server stopped" if stopped else "server was not running")


@db_app.command("restart")
def restart(home: Home = None) -> None:
    """Restart the embedded server (empties shared buffers)."""
    server = make_server("embedded", home=home)
    with exclusive_server("embedded", None, home):
        server.up()
        server.restart()
    out.print("server restarted")


@db_app.command("status")
def status(backend: Backend = None, dsn: Dsn = None, home: Home = None,
           as_json: Json = False) -> None:
    """Show whether the server runs, where, and on which port."""
    info = make_server(backend, dsn=dsn, home=home).status()
    if as_json:
        out.print_json(json.dumps(info))
    else:
        for key, value in info.items():
            out.print(f"{key:12} {value}")


@db_app.command("url")
def url(backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
        show_password: bool = typer.Option(False, "--show-password",
                                           help="Print the password instead of ***.")) -> None:
    """Print the DSN of ctxbench's database (password masked unless --show-password)."""
    target = target_from(backend, dsn, home, database)
    typer.echo(target.dsn if show_password else mask_password(target.dsn))


@db_app.command("migrate")
def migrate(backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
            variant: list[str] = typer.Option(None, "--variant",
                                              help="Schema variant to switch on (repeatable); "
                                                   "applied variants not named are switched off."),
            shipped: bool = typer.Option(False, "--shipped",
                                         help="Switch every schema variant off: the shipped "
                                              "schema.")) -> None:
    """Apply the Kubernaut schema (idempotent) and switch schema variants."""
    if shipped and variant:
        raise UsageError(f"--shipped switches every schema variant off; it cannot be combined "
                         f"with --variant {' '.join(variant)}")
    target = target_from(backend, dsn, home, database)
    wanted = [] if shipped else (list(variant) if variant else None)
    with target.connect() as conn:
        ran = migrations.migrate(conn, where=f"database {target.database!r}", variants=wanted)
    out.print("applied: " + ", ".join(ran) if ran else "schema is up to date")


@db_app.command("info")
def info(backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None) -> None:
    """Versions, extensions and non-default settings of the server."""
    target = target_from(backend, dsn, home, database)
    with target.connect() as conn:
        out.print_json(json.dumps(server_facts(conn)))


@db_app.command("reset")
def reset(backend: Backend = None, dsn: Dsn = None, home: Home = None, database: Database = None,
          yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Drop ctxbench's database (only if ctxbench created it)."""
    from ctxbench.db.target import open_target

    target = open_target(make_server(backend, dsn=dsn, home=home), database, create=False)
    if not yes:
        typer.confirm(f"drop database {target.database!r}?", abort=True)
    with exclusive_server(backend, dsn, home):
        dropped = drop_database(target)
    if not dropped:
        raise UsageError(f"database {target.database!r} does not exist; nothing was dropped")
    out.print(f"dropped {target.database}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
