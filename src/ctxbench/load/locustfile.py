"""Locust entry point shipped inside the package (``ctxbench load`` runs this file; the plain
``locust`` command can too, and ``bench/locustfile.py`` is this file for the repository).

Composition, like ``ctxbench.runs``: when a plain ``locust`` run was given
``--ctxbench-results``, this process owns the folder, and when Locust quits it finishes the run
(meta.json, reports, exit code) through ``ctxbench.runs.load``.
"""

from typing import Any

from locust import events

from ctxbench.load.process import PROCESS
from ctxbench.load.users import ContextApiUser, CtxbenchShape

__all__ = ["ContextApiUser", "CtxbenchShape"]


@events.quitting.add_listener
def _finish_results_folder(environment: Any, **_: Any) -> None:
    owned = PROCESS.owned_results()  # after the process wrote and closed its files
    if owned is None:
        return
    from ctxbench.runs.load import finish_locust_run  # reports are imported only here

    environment.process_exit_code = finish_locust_run(owned.path, strict=owned.strict,
                                                      error=owned.error, error_code=owned.error_code)
