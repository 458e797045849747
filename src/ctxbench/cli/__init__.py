"""The ``ctxbench`` command: a thin typer app; each command group lives in its own module.

Every expected failure is a CtxbenchError, printed as one line (passwords masked) with the
exit code CI gates on; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer

from ctxbench import __version__
from ctxbench.cli.options import make_console
from ctxbench.db.dsn import mask_password
from ctxbench.errors import CtxbenchError

app = typer.Typer(
    name="ctxbench",
    help="Benchmark and performance-validation harness for the Kubernaut Context API workload "
    "on PostgreSQL + pgvector.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = make_console(stderr=True)
_state = {"debug": False}

# Command modules, each exposing ``register(app)``; a module not (yet) present is skipped.
COMMAND_MODULES = ("db", "seed", "queries", "run", "report", "compare", "plans", "load", "crosscheck",
                   "history", "export",
                   "vector", "bench", "remedies", "geometry", "scale", "redis", "phases")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ctxbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    _state["debug"] = debug


for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    from ctxbench import signals
    from ctxbench.cli.helpfix import polish

    try:
        with signals.orderly() as fired:
            try:
                polish(typer.main.get_command(app))(prog_name="ctxbench")
            except SystemExit:
                if fired:  # click turned the interrupt into "Aborted!" and exit 1
                    raise signals.Interrupted(fired[0]) from None
                raise
    except CtxbenchError as exc:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {mask_password(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        err.print(signals.describe(exc))
        sys.exit(signals.exit_code_of(exc))
