"""One Locust process as ctxbench sees it: its role, its parts, and Locust's events.

Importing this module imports locust, which monkey-patches the standard library for gevent:
only Locust processes (the locustfile) import it. psycopg 3 waits cooperatively under gevent,
so the query core runs unchanged.

Roles: the *local* process (no --master/--worker) or the *master* owns the results folder
(``ResultsOwner``) and, in capacity mode, the search; the local process or *workers* run users
(``Clients``). The ``Courier`` carries measurements and control between them. Locust creates the
users and the shape itself, so they find their process through the module's ``PROCESS``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_CLEANUP, STATE_STOPPING, MasterRunner, WorkerRunner

from ctxbench import scenario as scenarios
from ctxbench.errors import CtxbenchError
from ctxbench.load import options
from ctxbench.load.clients import Clients, Failure
from ctxbench.load.courier import Courier
from ctxbench.load.owner import ResultsOwner
from ctxbench.load.settings import LoadSettings
from ctxbench.load.workload import build_mix, synthetic_mix
from ctxbench.results import RunMeta

log = logging.getLogger("ctxbench.load")


@dataclass(frozen=True)
class OwnedResults:
    """A results folder this process created for a plain ``locust`` run: it must be finished
    (meta.json, reports, exit code) when Locust quits."""

    path: Path
    strict: bool
    error: str | None
    error_code: int


class LocustProcess:
    def __init__(self) -> None:
        self.env: Any = None
        self.scenario: scenarios.Scenario | None = None
        self.settings: LoadSettings | None = None
        self.failure = Failure()
        self.clients: Clients | None = None
        self.courier: Courier | None = None
        self.owner: ResultsOwner | None = None

    # -- roles ------------------------------------------------------------------------------------
    @property
    def is_master(self) -> bool:
        return isinstance(self.env.runner, MasterRunner)

    @property
    def is_worker(self) -> bool:
        return isinstance(self.env.runner, WorkerRunner)

    @property
    def runs_users(self) -> bool:
        return not self.is_master

    @property
    def owns_results(self) -> bool:
        return not self.is_worker

    # -- set-up -----------------------------------------------------------------------------------
    def init(self, env: Any) -> None:
        self.env = env
        self.clients = Clients(failure=self.failure, fail=self.fail, post=self._post,
                               fire=env.events.request.fire,
                               worker_index=lambda: int(getattr(env.runner, "worker_index", 0) or 0))
        clients = self.clients
        self.courier = Courier(env.runner, scheduled=clients.scheduled, on_batch=self._receive,
                               on_plan=clients.apply_plan, on_error=self._worker_failed,
                               on_drain=clients.stop, after_drain=clients.close_accounting)
        if self.is_worker:
            return  # settings arrive with the master's first spawn message
        opts = env.parsed_options
        self.scenario, self.settings = options.settings_from(opts)
        mix = synthetic_mix(self.settings.synthetic_ms) if self.settings.synthetic_ms \
            else build_mix(self.scenario)
        self.owner = ResultsOwner(self.scenario, self.settings, mix)
        if self.settings.cache != "off":
            from ctxbench.cache.runtime import reset_for_run

            try:
                reset_for_run()  # an empty cache at the start, in a Redis database ctxbench owns
            except CtxbenchError as exc:
                self.fail(str(exc), exc.exit_code)
        if getattr(opts, "ctxbench_results", None):
            self.owner.open(Path(opts.ctxbench_results), managed=bool(opts.ctxbench_managed),
                            describe_target=self._describe_target)

    def _describe_target(self, meta: RunMeta) -> None:
        """Best effort: which server and dataset a plain ``locust`` run measured."""
        assert self.scenario is not None
        try:
            from ctxbench.datagen.generator import current_dataset
            from ctxbench.db.connect import connect, server_facts
            from ctxbench.db.dsn import mask_password

            dsn = options.resolve_dsn(self.env.parsed_options, self.env.host, self.scenario)
            meta.target = mask_password(dsn)
            meta.backend = "dsn"
            with connect(dsn) as conn:
                meta.server = server_facts(conn)
                if self.settings is not None and not self.settings.synthetic_ms:
                    ds = current_dataset(conn) or {}
                    meta.dataset = {**ds.get("params", {}), "checksum": ds.get("checksum")}
        except Exception as exc:  # the master may not reach the database; workers do
            meta.extra.setdefault("warnings", []).append(f"server facts not recorded: {exc}")

    def prepare_users(self) -> None:
        """Connections, mix and parameter sampler of a process that runs users (once)."""
        clients = self.clients
        assert clients is not None
        if clients.pool is not None or self.failure.message:
            return
        try:
            if self.is_worker:
                self.scenario, self.settings = options.settings_from(self.env.parsed_options)
            assert self.scenario is not None and self.settings is not None
            dsn = options.resolve_dsn(self.env.parsed_options, self.env.host, self.scenario)
            clients.prepare(self.scenario, self.settings, dsn)
            from ctxbench.db.dsn import mask_password

            assert clients.mix is not None
            log.info("ctxbench: %s ready: %d connection(s) to %s, %d requests in the mix",
                     f"worker {self.env.runner.worker_index}" if self.is_worker else "process",
                     self.settings.pool_size, mask_password(dsn), len(clients.mix.items))
        except CtxbenchError as exc:
            self.fail(str(exc), exc.exit_code)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}", 3)

    # -- failures -----------------------------------------------------------------------------------
    def fail(self, message: str, code: int = 3) -> None:
        """End the run on an error (once): a worker tells the master, the master or local
        process sets the exit code and quits."""
        from ctxbench.db.dsn import mask_password

        self.failure.message, self.failure.code = mask_password(message), code
        log.error("ctxbench: %s", self.failure.message)
        if self.is_worker:
            assert self.courier is not None
            self.courier.report_error(self.failure.message, code)
        else:
            self.env.process_exit_code = code
            gevent.spawn_later(0.1, self._quit)

    def _worker_failed(self, message: str, code: int, node: str) -> None:
        if not self.failure.message:
            self.failure.message, self.failure.code = message, code
            log.error("ctxbench: worker %s: %s", node, message)
            self.env.process_exit_code = code
            gevent.spawn_later(0.1, self._quit)

    def _quit(self) -> None:
        """Quit Locust, unless the shape ends the test: it does within a tick once a failure is
        set, and quitting under it makes Locust stop the users twice."""
        runner = self.env.runner
        if getattr(runner, "shape_greenlet", None) is not None:
            return
        if runner.state not in (STATE_STOPPING, STATE_CLEANUP):
            runner.quit()

    # -- measurements ----------------------------------------------------------------------------------
    def _post(self, step: int, measurement: dict[str, Any]) -> None:
        assert self.courier is not None
        self.courier.post(step, measurement)

    def _receive(self, data: dict[str, Any]) -> None:
        if self.owner is not None:
            self.owner.receive(data)

    # -- the arrival plan and the shape ---------------------------------------------------------------
    def start_plan(self, lanes: int) -> None:
        """Master/local: fix the arrival plan's start and tell every worker."""
        assert self.settings is not None and self.clients is not None and self.courier is not None
        plan = self.settings.plan()
        if plan is None:
            return
        workers = max(1, len(self.courier.live_workers())) if self.is_master else 1
        payload = self.clients.plan_payload(plan, lanes, workers)
        if self.is_master:
            self.courier.send_plan(payload)
        self.clients.apply_plan(payload)

    def capacity_tick(self, users: int, spawn_rate: float) -> tuple[int, float] | None:
        assert self.owner is not None and self.clients is not None
        return (users, spawn_rate) if self.owner.capacity_tick(self.clients.t0_ns) else None

    # -- Locust's events -------------------------------------------------------------------------------
    def test_start(self) -> None:
        assert self.clients is not None and self.courier is not None
        self.clients.restart()
        if self.runs_users:
            self.prepare_users()
            self.courier.start()

    def test_stopping(self) -> None:
        assert self.courier is not None
        if self.is_master:
            self.courier.drain_workers()
        elif self.runs_users:
            self.courier.flush()  # local: users still finishing are flushed again at test_stop

    def test_stop(self) -> None:
        assert self.clients is not None and self.courier is not None
        if self.owns_results:
            if self.runs_users:
                self.courier.flush()
                self.clients.stop()
                self.clients.close_accounting()
            if self.owner is not None:
                self.owner.write_capacity()

    def quitting(self) -> None:
        if self.owns_results and self.owner is not None:
            self.owner.close(self.env.runner.stats, self.failure.message)
            if self.owner.results is not None and not self.owner.standalone:
                self.env.process_exit_code = self.failure.code if self.failure.message else 0
        if self.clients is not None:
            self.clients.close()

    def owned_results(self) -> OwnedResults | None:
        """The folder of a plain ``locust`` run that this process must finish, if any."""
        owner = self.owner
        if not self.owns_results or owner is None or not owner.standalone or owner.results is None:
            return None
        return OwnedResults(owner.results, bool(self.scenario and self.scenario.output.strict),
                            self.failure.message, self.failure.code)


PROCESS = LocustProcess()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    try:
        PROCESS.init(environment)
    except CtxbenchError as exc:
        from ctxbench.db.dsn import mask_password

        sys.stderr.write(f"error: {mask_password(str(exc))}\n")
        sys.exit(exc.exit_code)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    PROCESS.test_start()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    PROCESS.test_stopping()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    PROCESS.test_stop()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    PROCESS.quitting()
