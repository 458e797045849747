"""``ctxbench redis``: the Redis of the cache tier, started by ctxbench like the embedded server."""

from __future__ import annotations

import json

import typer

from ctxbench.cli.options import Home, Json, make_console

out = make_console()
redis_app = typer.Typer(help="The Redis ctxbench starts for the cache tier (127.0.0.1, its own port).",
                        no_args_is_help=True)


def _server(home):
    from ctxbench.cache.server import RedisServer
    from ctxbench.db.embedded import default_home

    return RedisServer(home or default_home())


@redis_app.command("up")
def up(home: Home = None) -> None:
    """Start (or reuse) ctxbench's Redis and print its URL."""
    server = _server(home)
    started = server.up()
    out.print(f"{'started' if started else 'running'}: {server.url()}")


@redis_app.command("down")
def down(home: Home = None) -> None:
    """Stop ctxbench's Redis (it keeps no data on disk)."""
    out.print("stopped" if _server(home).down() else "not running")


@redis_app.command("status")
def status(home: Home = None, as_json: Json = False) -> None:
    info = _server(home).status()
    out.print_json(json.dumps(info)) if as_json else out.print(info)


@redis_app.command("url")
def url(home: Home = None) -> None:
    typer.echo(_server(home).url())


def register(app: typer.Typer) -> None:
    app.add_typer(redis_app, name="redis")
