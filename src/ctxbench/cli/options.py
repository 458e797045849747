"""Options shared by every command that talks to a database, and how they become a Target."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ctxbench.db.target import Target, make_server, open_target

Backend = Annotated[str | None, typer.Option(
    "--backend", help="embedded (default), dsn, or testcontainers.", show_default=False)]
Dsn = Annotated[str | None, typer.Option(
    "--dsn", envvar="CTXBENCH_DSN", help="Use an existing server (implies --backend dsn).",
    show_default=False)]
Home = Annotated[Path | None, typer.Option(
    "--home", envvar="CTXBENCH_HOME", help="Folder of the embedded server's cluster.",
    show_default=False)]
Database = Annotated[str | None, typer.Option(
    "--database", "-d", help="Database to use (default: 'ctxbench', created by ctxbench; with "
    "--dsn: the DSN's database).", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def target_from(backend: str | None, dsn: str | None, home: Path | None, database: str | None,
                settings: dict | None = None) -> Target:
    return open_target(make_server(backend, dsn=dsn, home=home, settings=settings), database)


def exclusive_server(backend: str | None, dsn: str | None, home: Path | None
                     ) -> contextlib.AbstractContextManager[object]:
    """For commands that stop, reconfigure or load the embedded server (seed, snapshot, db
    up/down/restart): wait (bounded) while a run measures there, then refuse (exit 3), and keep
    a run from starting meanwhile. A DSN or container server is not ctxbench's to guard."""
    from ctxbench.db.embedded import default_home
    from ctxbench.db.locks import no_run_on

    if (backend or "embedded") != "embedded" or dsn or os.environ.get("CTXBENCH_DSN"):
        return contextlib.nullcontext()
    return no_run_on(home or default_home())


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal (CI logs, pipes) it is 160 columns wide
    instead of rich's 80, so tables and verdict lines are not wrapped mid-word."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console
