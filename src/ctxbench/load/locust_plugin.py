"""The Locust side of ctxbench: options, the Context API user, the load shape, and shipping
exact measurements to the process that owns the results folder.

Importing this module imports locust, which monkey-patches the standard library for gevent:
only Locust processes (the locustfile) import it. psycopg 3 waits cooperatively under gevent,
so the query core runs unchanged.

Roles: the *local* process (no --master/--worker) or the *master* owns the results folder and,
in capacity mode, the search; the local process or *workers* run users. Every process that
runs users sends ``(step, measurement)`` batches and per-step arrival counts every 0.5 s
as a Locust custom message (delivered in-process when local); when the test stops, the
master asks every worker to flush and waits for the acknowledgements, so no measurement is
lost between a worker and the folder.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, User, events, task
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from ctxbench import scenario as scenarios
from ctxbench.errors import CtxbenchError, UsageError
from ctxbench.load import finalize as fin
from ctxbench.load.capacity import CapacitySearch, thresholds_for
from ctxbench.load.execute import execute_cached, execute_one, open_pool
from ctxbench.load.schedule import NS, Lane, RatePlan
from ctxbench.load.settings import LoadSettings
from ctxbench.load.sink import MeasurementSink
from ctxbench.load.workload import LaneParams, Mix, SyntheticSampler, build_mix, synthetic_mix
from ctxbench.results import Measurement, ResultsDir

log = logging.getLogger("ctxbench.load")

MSG_PLAN = "ctxbench_plan"
MSG_BATCH = "ctxbench_batch"
MSG_DRAIN = "ctxbench_drain"
MSG_DRAINED = "ctxbench_drained"
MSG_ERROR = "ctxbench_error"
FLUSH_INTERVAL_S = 0.5
DRAIN_TIMEOUT_S = 10.0
PLAN_LEAD_S = 0.2  # the plan reaches every worker before its first arrival is due
SPAWN_WAIT_S = 30.0  # open modes start their schedule once every user runs (or after this)

# (option suffix, type, help); each becomes --ctxbench-<suffix>, default: the scenario's value
OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("mode", str, "closed | open | capacity (default: the scenario's load.mode)"),
    ("rate", float, "open mode: total arrivals per second over all users"),
    ("arrival", str, "open modes: poisson (default) or constant inter-arrival times"),
    ("think-time-ms", float, "closed mode: pause between a user's requests"),
    ("pool-size", int, "pooled connections per Locust process"),
    ("warmup-s", float, "seconds at the start whose requests are recorded as warm-up"),
    ("seed", int, "root seed of mix choices and parameters (default: the scenario's)"),
    ("start-rate", float, "capacity: first step's arrival rate"),
    ("step-rate", float, "capacity: rate added per step"),
    ("step-seconds", float, "capacity: length of a step"),
    ("max-rate", float, "capacity: highest rate tried"),
    ("metric", str, "capacity: percentile that must stay within budget (p50 p90 p95 p99)"),
    ("budget-ms", float, "capacity: latency budget (default: the scenario's budgets)"),
    ("cache", str, "off, or a cache variant (as_shipped, tuned, no_singleflight): requests go "
     "through the service's read path (Redis + L2 + single-flight); Redis from CTXBENCH_REDIS_URL "
     "or ctxbench's own"),
)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--ctxbench-scenario", type=str, default="load",
                        help="ctxbench scenario file or shipped name (mix, weights, budgets, [load])")
    parser.add_argument("--ctxbench-dsn", type=str, default=None, env_var="CTXBENCH_DSN",
                        is_secret=True, help="PostgreSQL DSN of the seeded database (else --host if "
                        "it is a DSN, else the running embedded server)")
    parser.add_argument("--ctxbench-results", type=str, default=None,
                        help="results folder: write ctxbench measurements (exact latencies), meta "
                        "and reports there; budgets then decide the exit code")
    parser.add_argument("--ctxbench-managed", action="store_true", default=False,
                        include_in_web_ui=False, help="(set by `ctxbench load`)")
    parser.add_argument("--ctxbench-synthetic-ms", type=float, default=None, include_in_web_ui=False,
                        help="replace the query mix by SELECT pg_sleep(ms) (checks the harness)")
    for suffix, typ, text in OPTIONS:
        parser.add_argument(f"--ctxbench-{suffix}", type=typ, default=None, help=text)


def _settings_from(opts: Any) -> tuple[scenarios.Scenario, LoadSettings]:
    scenario = scenarios.find(getattr(opts, "ctxbench_scenario", None) or "load")
    overrides: dict[str, Any] = {s.replace("-", "_"): getattr(opts, "ctxbench_" + s.replace("-", "_"), None)
                                 for s, _, _ in OPTIONS}
    overrides["synthetic_ms"] = getattr(opts, "ctxbench_synthetic_ms", None)
    overrides["users"] = getattr(opts, "num_users", None)
    overrides["spawn_rate"] = getattr(opts, "spawn_rate", None)
    overrides["duration_s"] = float(opts.run_time) if getattr(opts, "run_time", None) else None
    return scenario, LoadSettings.from_scenario(scenario, **overrides)


def _resolve_dsn(opts: Any, host: str | None, scenario: scenarios.Scenario) -> str:
    if getattr(opts, "ctxbench_dsn", None):
        return str(opts.ctxbench_dsn)
    if host and (host.startswith(("postgres://", "postgresql://")) or "=" in host):
        return host
    if os.environ.get("CTXBENCH_DSN"):  # a worker's own setting (the master may send none)
        return os.environ["CTXBENCH_DSN"]
    from ctxbench.db.embedded import EmbeddedServer, default_home

    server = EmbeddedServer(default_home(), {})
    if server.state_file.exists():
        return server.dsn(scenario.database_name)
    raise UsageError("no database to load: pass --ctxbench-dsn DSN (or --host DSN, or CTXBENCH_DSN), "
                     "or start the embedded server with the scenario's data (`ctxbench load` does)")


@dataclass
class LaneState:
    key: str
    index: int
    pick: Any
    params: LaneParams
    lane: Lane | None = None


class Process:
    """Everything one Locust process holds for ctxbench (one instance per process)."""

    def __init__(self) -> None:
        self.env: Any = None
        self.scenario: scenarios.Scenario | None = None
        self.settings: LoadSettings | None = None
        self.mix: Mix | None = None
        self.pool: Any = None
        self.cached: Any = None  # ctxbench.cache.CachedExecutor when [load] cache = true
        self.sampler: Any = None
        self.error: str | None = None
        self.error_code = 3
        self.plan: RatePlan | None = None
        self.t0_ns: int | None = None
        self.lanes_total = 1
        self.workers_total = 1
        self.lane_states: list[LaneState] = []
        self.lane_counter = 0
        self.outbox: list[tuple[int, dict[str, Any]]] = []
        self.draining = False
        self.accounting_closed = False  # no arrival counts after the drain: none can be served
        self.arrivals: Counter[str] = Counter()  # master/local: arrivals that fell due, by request
        self.started_ns = time.perf_counter_ns()
        self.flusher: Any = None
        self.sink: MeasurementSink | None = None
        self.search: CapacitySearch | None = None
        self.results: Path | None = None
        self.owner = False  # this process writes meta.json and the reports (plain locust)
        self.drain_waiting: set[str] = set()

    # -- roles ---------------------------------------------------------------------------
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

    # -- set-up --------------------------------------------------------------------------
    def init(self, env: Any) -> None:
        self.env = env
        runner = env.runner
        runner.register_message(MSG_BATCH, self.on_batch)
        runner.register_message(MSG_DRAINED, self.on_drained)
        runner.register_message(MSG_ERROR, self.on_error)
        runner.register_message(MSG_PLAN, self.on_plan)
        runner.register_message(MSG_DRAIN, self.on_drain)
        if self.is_worker:
            return  # settings arrive with the master's first spawn message
        opts = env.parsed_options
        self.scenario, self.settings = _settings_from(opts)
        self.mix = synthetic_mix(self.settings.synthetic_ms) if self.settings.synthetic_ms \
            else build_mix(self.scenario)
        if self.settings.mode == "capacity":
            thresholds, errors = thresholds_for(self.mix.items, self.scenario.resolved_budgets(),
                                                self.settings.metric, self.settings.budget_ms,
                                                {"mode": "capacity"})
            plan = self.settings.plan()
            assert plan is not None
            self.search = CapacitySearch(plan, metric=self.settings.metric, thresholds_ms=thresholds,
                                         max_error_rates=errors)
        if self.settings.cache != "off":
            from ctxbench.cache.runtime import reset_for_run

            try:
                reset_for_run()  # an empty cache at the start, in a Redis database ctxbench owns
            except CtxbenchError as exc:
                self.fail(str(exc), exc.exit_code)
        if getattr(opts, "ctxbench_results", None):
            self.open_results(Path(opts.ctxbench_results), managed=bool(opts.ctxbench_managed))

    def open_results(self, path: Path, *, managed: bool) -> None:
        assert self.scenario is not None and self.settings is not None and self.mix is not None
        self.results = path
        if managed:
            meta = ResultsDir(path).read_meta()
            run_id = meta.run_id if meta else path.name
        else:
            if (path / "measurements.jsonl").exists():
                raise UsageError(f"--ctxbench-results {path} already holds measurements of another "
                                 "run; give a new folder")
            self.owner = True
            run_id = path.name
            meta = fin.new_meta(run_id, self.scenario, self.settings, self.mix.shares(),
                                driver="locust")
            self._describe_target(meta)
            path.mkdir(parents=True, exist_ok=True)
            ResultsDir(path).create().write_meta(meta)
        self.sink = MeasurementSink(path, run_id, on_measurement=self._feed_search)

    def _describe_target(self, meta: Any) -> None:
        """Best effort: which server and dataset a plain ``locust`` run measured."""
        assert self.scenario is not None
        try:
            from ctxbench.datagen.generator import current_dataset
            from ctxbench.db.connect import connect, server_facts
            from ctxbench.db.dsn import mask_password

            dsn = _resolve_dsn(self.env.parsed_options, self.env.host, self.scenario)
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
        if self.pool is not None or self.error:
            return
        try:
            if self.is_worker:
                self.scenario, self.settings = _settings_from(self.env.parsed_options)
            assert self.scenario is not None and self.settings is not None
            s = self.settings
            self.mix = synthetic_mix(s.synthetic_ms) if s.synthetic_ms else build_mix(self.scenario)
            dsn = _resolve_dsn(self.env.parsed_options, self.env.host, self.scenario)
            self.pool = open_pool(dsn, s.pool_size,
                                  prepare_threshold=self.scenario.database.prepare_threshold,
                                  statement_timeout_ms=self.scenario.database.statement_timeout_ms)
            if s.cache != "off":
                from ctxbench.cache.runtime import executor_for_load

                self.cached = executor_for_load(self.pool, s.cache)
            if s.synthetic_ms:
                self.sampler = SyntheticSampler()
            else:
                from ctxbench.queries import DatasetProfile, ParamSampler

                with self.pool.connection() as conn:
                    profile = DatasetProfile.from_database(conn)
                self.sampler = ParamSampler(profile, s.seed, surface=self.scenario.queries.surface)
                self.warm_connections()
            from ctxbench.db.dsn import mask_password

            log.info("ctxbench: %s ready: %d connection(s) to %s, %d requests in the mix",
                     f"worker {self.env.runner.worker_index}" if self.is_worker else "process",
                     s.pool_size, mask_password(dsn), len(self.mix.items))
        except CtxbenchError as exc:
            self.fail(str(exc), exc.exit_code)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}", 3)

    def warm_connections(self) -> None:
        """Run every request of the mix once on every pooled connection, untimed.

        A new backend first fills its catalog caches (relation descriptors of every partition
        and index, the vector type, plans); a long-running service's connections have done
        that long ago. Without this, the first second of a run measures connection start-up.
        """
        assert self.pool is not None and self.mix is not None and self.settings is not None
        t0 = time.perf_counter()
        conns = [self.pool.getconn() for _ in range(self.settings.pool_size)]
        sets = [(query, variant, self.sampler.sample(query.name, 1, stream="load.connection-warmup")[0])
                for query, variant in self.mix.items]
        failures: list[int] = []

        def warm(conn: Any) -> None:
            for query, variant, ps in sets:
                try:
                    query.execute(conn, ps.params, variant)
                except Exception:
                    failures.append(1)  # it will fail in the run too, and be recorded there

        try:
            gevent.joinall([gevent.spawn(warm, conn) for conn in conns])  # connections in parallel
        finally:
            for conn in conns:
                self.pool.putconn(conn)
        failed = len(failures)
        log.info("ctxbench: warmed %d connection(s) with the %d requests of the mix in %.2f s%s",
                 len(conns), len(self.mix.items), time.perf_counter() - t0,
                 f" ({failed} failed)" if failed else "")

    def fail(self, message: str, code: int = 3) -> None:
        from ctxbench.db.dsn import mask_password

        self.error, self.error_code = mask_password(message), code
        log.error("ctxbench: %s", self.error)
        if self.is_worker:
            self.env.runner.send_message(MSG_ERROR, {"error": self.error, "code": code})
        else:
            self.env.process_exit_code = code
            gevent.spawn_later(0.1, self.env.runner.quit)

    # -- the arrival plan ------------------------------------------------------------------
    def start_plan(self, lanes: int) -> None:
        """Master/local: fix the arrival plan's start and tell every worker."""
        assert self.settings is not None
        plan = self.settings.plan()
        if plan is None:
            return
        workers = 1
        if self.is_master:
            workers = max(1, len([c for c in self.env.runner.clients.all if c.state != STATE_MISSING]))
        payload = {"plan": plan.to_json(), "t0_epoch_ns": time.time_ns() + int(PLAN_LEAD_S * NS),
                   "lanes": max(1, int(lanes)), "workers": workers}
        if self.is_master:
            self.env.runner.send_message(MSG_PLAN, payload)
        self.apply_plan(payload)

    def apply_plan(self, payload: dict[str, Any]) -> None:
        self.plan = RatePlan.from_json(payload["plan"])
        self.t0_ns = time.perf_counter_ns() + (int(payload["t0_epoch_ns"]) - time.time_ns())
        self.lanes_total = int(payload["lanes"])
        self.workers_total = int(payload.get("workers", 1))
        for st in self.lane_states:
            st.lane = None  # rebuilt on the new plan at the next request

    def on_plan(self, environment: Any, msg: Any, **_: Any) -> None:
        self.apply_plan(msg.data)

    # -- users -------------------------------------------------------------------------------
    def new_lane(self) -> LaneState | None:
        if self.error or self.settings is None or self.mix is None or self.sampler is None:
            return None
        index = self.lane_counter
        self.lane_counter += 1
        worker = int(getattr(self.env.runner, "worker_index", 0) or 0)
        key = f"w{worker}.u{index}"
        rng = random.Random(f"{self.settings.seed}:load.mix.{key}")
        params: Any = LaneParams(self.sampler, f"load.{key}")
        if self.cached is not None and self.scenario is not None:
            from ctxbench.cache.runtime import ZipfParams

            c = self.scenario.phases.cache  # the key population and Zipf exponent of cache.mix
            params = ZipfParams(self.sampler, key, self.settings.seed, keys=c.mix_keys, s=c.zipf_s)
        st = LaneState(key=key, index=index * max(1, self.workers_total) + worker,
                       pick=self.mix.picker(rng), params=params)
        self.lane_states.append(st)
        return st

    def _lane(self, st: LaneState) -> Lane | None:
        if st.lane is None and self.plan is not None and self.t0_ns is not None:
            assert self.settings is not None
            st.lane = Lane(self.plan, t0_ns=self.t0_ns, lanes=self.lanes_total, index=st.index,
                           arrival=self.settings.arrival,
                           rng=random.Random(f"{self.settings.seed}:load.arrivals.{st.key}"),
                           pick=st.pick, start_ns=time.perf_counter_ns())
        return st.lane

    def serve(self, st: LaneState | None) -> None:
        """One request of one user: the next arrival (open) or right away (closed)."""
        if st is None or self.error or self.pool is None:
            gevent.sleep(0.5)
            return
        if self.draining:  # the test is ending: start nothing that ctxbench would not record
            gevent.sleep(0.05)
            return
        s, mix = self.settings, self.mix
        assert s is not None and mix is not None
        intended: int | None = None
        step = 0
        if s.mode == "closed":
            item = st.pick()
            reference = self.started_ns
        else:
            while True:
                lane = self._lane(st)
                if lane is None:
                    gevent.sleep(0.05)  # the plan has not arrived yet
                    continue
                wait = lane.wait_ns(time.perf_counter_ns())
                if wait is None:
                    gevent.sleep(0.25)  # the plan ended; the shape stops the test
                    return
                if wait == 0:
                    break
                gevent.sleep(min(wait / NS, 0.25))
                if self.draining:
                    return
            arrival = lane.pop(time.perf_counter_ns())
            assert arrival is not None
            item, intended, step = arrival.item, arrival.intended_ns, arrival.step
            reference = self.t0_ns or self.started_ns
        query, variant = mix.items[item]
        ps = st.params.next(query.name)
        labels = {"mode": s.mode}
        if s.mode == "capacity" and self.plan is not None:
            labels["step_rate"] = f"{self.plan.rate_of(step):g}"
        start = intended if intended is not None else time.perf_counter_ns()
        warmup = start - reference < s.warmup_s * NS
        if self.cached is not None:
            done = execute_cached(self.cached, query, variant, ps, intended_ns=intended, labels=labels,
                                  warmup=warmup)
        else:
            done = execute_one(self.pool, query, variant, ps, intended_ns=intended, labels=labels,
                               warmup=warmup)
        self.env.events.request.fire(request_type="SQL", name=done.name,
                                     response_time=done.response_time_ms,
                                     response_length=done.measurement.rows, exception=done.exception,
                                     context={})
        if not self.draining:
            self.outbox.append((step, done.measurement.to_json()))

    # -- shipping measurements ---------------------------------------------------------------
    def flush(self) -> None:
        if self.mix is None:
            return
        now = time.perf_counter_ns()
        scheduled: Counter[tuple[int, str]] = Counter()
        for st in self.lane_states:
            if st.lane is not None and not self.accounting_closed:
                st.lane.advance(now)
                for (step, item), n in st.lane.drain_scheduled().items():
                    scheduled[(step, self.mix.names[item])] += n
        items, self.outbox = self.outbox, []
        if not items and not scheduled:
            return
        payload = {"m": items, "s": [[k, name, n] for (k, name), n in scheduled.items()]}
        self.env.runner.send_message(MSG_BATCH, payload)

    def flush_loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception:
                log.exception("ctxbench: shipping measurements failed")

    def on_batch(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data
        for step, name, n in data.get("s", []):
            self.arrivals[name] += int(n)
            if self.search is not None:
                self.search.add_scheduled(int(step), name, int(n))
        items = [(int(step), m) for step, m in data.get("m", [])]
        if self.sink is not None:
            self.sink.write(items)
        elif self.search is not None:
            for step, m in items:
                self._feed_search(step, Measurement.from_json(m))

    def _feed_search(self, step: int, m: Any) -> None:
        if self.search is None or m.labels.get("mode") != "capacity":
            return
        name = f"{m.query}[{m.variant}]"
        self.search.add_result(step, name, m.latency_ns / 1e6, m.ok, m.metrics.get("lag_ms"),
                               m.metrics.get("service_ms"))

    def on_drain(self, environment: Any, msg: Any, **_: Any) -> None:
        self.draining = True
        self.flush()
        self.accounting_closed = True
        send_stats = getattr(self.env.runner, "_send_stats", None)
        if send_stats is not None:  # Locust's own counts, up to the same instant
            send_stats()
        self.env.runner.send_message(MSG_DRAINED, {})

    def on_drained(self, environment: Any, msg: Any, **_: Any) -> None:
        self.drain_waiting.discard(msg.node_id)

    def on_error(self, environment: Any, msg: Any, **_: Any) -> None:
        if not self.error:
            self.error, self.error_code = str(msg.data.get("error")), int(msg.data.get("code", 3))
            log.error("ctxbench: worker %s: %s", msg.node_id, self.error)
            self.env.process_exit_code = self.error_code
            gevent.spawn_later(0.1, self.env.runner.quit)

    def drain(self) -> None:
        """Test stopping: get every measurement of the test into the folder before it ends."""
        if self.is_master:
            clients = [c.id for c in self.env.runner.clients.all if c.state != STATE_MISSING]
            self.drain_waiting = set(clients)
            if clients:
                self.env.runner.send_message(MSG_DRAIN, {})
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while self.drain_waiting and time.monotonic() < deadline:
                gevent.sleep(0.05)
            if self.drain_waiting:
                log.warning("ctxbench: %d worker(s) did not flush their last measurements",
                            len(self.drain_waiting))
        elif self.runs_users:
            self.flush()  # local: users still finishing are flushed again at test_stop

    # -- capacity search (master/local) --------------------------------------------------------
    def capacity_tick(self, users: int, spawn_rate: float) -> tuple[int, float] | None:
        search = self.search
        assert search is not None
        if self.t0_ns is None:
            return users, spawn_rate
        elapsed = (time.perf_counter_ns() - self.t0_ns) / NS
        for k in search.due(elapsed):
            v = search.judge(k)
            log.info("ctxbench: step %d at %g req/s: %s (%s)", k, v.rate,
                     "PASS" if v.passed else "FAIL", v.reason)
            self.write_capacity()
        if search.finished:
            log.info("ctxbench: %s", search.result()["summary"])
            return None
        return users, spawn_rate

    def write_capacity(self) -> None:
        if self.search is not None and self.results is not None:
            ResultsDir(self.results).write_json(fin.CAPACITY_FILE, self.search.result())

    # -- the end ------------------------------------------------------------------------------
    def write_locust_summary(self) -> None:
        if self.results is None:
            return
        stats = self.env.runner.stats

        def row(e: Any) -> dict[str, Any]:
            return {"requests": e.num_requests, "failures": e.num_failures,
                    "rps": round(e.total_rps, 3), "median_ms": e.median_response_time,
                    "p95_ms": e.get_response_time_percentile(0.95),
                    "p99_ms": e.get_response_time_percentile(0.99), "max_ms": e.max_response_time}

        summary = {"schema_version": 1,
                   "note": "Locust's own statistics (response times bucketed to about 2 significant "
                           "digits above 100 ms); the exact figures are in the report",
                   "total": row(stats.total),
                   "by_name": {name: row(e) for (name, _method), e in sorted(stats.entries.items())},
                   "error": self.error}
        ResultsDir(self.results).write_json(fin.LOCUST_SUMMARY_FILE, summary)

    def write_arrivals(self) -> None:
        """Every arrival that fell due before the drain, by request (open loop and capacity):
        the report counts those never served as latencies over every budget."""
        if self.results is None or self.settings is None or self.settings.mode == "closed":
            return
        ResultsDir(self.results).write_json(fin.ARRIVALS_FILE, {
            "schema_version": 1, "mode": self.settings.mode,
            "duration_s": self.settings.duration_s, "scheduled": dict(sorted(self.arrivals.items()))})

    def quitting(self) -> None:
        if self.owns_results:
            self.write_capacity()
            self.write_arrivals()
            self.write_locust_summary()
            if self.sink is not None:
                self.sink.close()
            if self.owner and self.results is not None:
                self.finish_standalone()
            elif self.results is not None:
                self.env.process_exit_code = self.error_code if self.error else 0
        if self.cached is not None:
            self.cached.close()
            self.cached = None
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def finish_standalone(self) -> None:
        assert self.results is not None
        try:
            done = fin.finalize(self.results, strict=bool(self.scenario and self.scenario.output.strict),
                                error=self.error)
        except Exception as exc:
            log.error("ctxbench: building the report failed: %s", exc)
            self.env.process_exit_code = 3
            return
        code = self.error_code if self.error else done.exit_code
        self.env.process_exit_code = code
        log.info("ctxbench: verdict %s, exit code %d, report %s", done.verdict, code,
                 self.results / "report.md")
        if done.capacity:
            log.info("ctxbench: %s", done.capacity.get("summary"))


PROCESS = Process()


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
    PROCESS.draining = False
    PROCESS.accounting_closed = False
    PROCESS.started_ns = time.perf_counter_ns()
    if PROCESS.runs_users:
        PROCESS.prepare_users()
        if PROCESS.flusher is None:
            PROCESS.flusher = gevent.spawn(PROCESS.flush_loop)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    PROCESS.drain()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if PROCESS.owns_results:
        if PROCESS.runs_users:
            PROCESS.flush()
            PROCESS.draining = True
            PROCESS.accounting_closed = True
        PROCESS.write_capacity()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    PROCESS.quitting()


class ContextApiUser(User):
    """A Context API client. Closed mode: requests back to back (plus think time), each on a
    pooled connection. Open modes: one lane of the arrival schedule, requests at their
    intended start times, latency counted from there."""

    def wait_time(self) -> float:
        s = PROCESS.settings
        return s.think_time_ms / 1000.0 if s is not None and s.mode == "closed" else 0.0

    def on_start(self) -> None:
        self.lane_state = PROCESS.new_lane()

    @task
    def context_api_request(self) -> None:
        PROCESS.serve(self.lane_state)


class CtxbenchShape(LoadTestShape):
    """Users, spawn rate and run time as given (-u/-r/-t); in capacity mode, the stepped
    arrival-rate search that stops at the first step over budget."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options
        users = int(getattr(opts, "num_users", None) or 1)
        spawn = float(getattr(opts, "spawn_rate", None) or users)
        run_time = getattr(opts, "run_time", None)
        s = PROCESS.settings
        if PROCESS.error:
            return None
        if s is not None and s.mode != "closed" and PROCESS.t0_ns is None and (
                self.runner.user_count >= users or self.get_run_time() > SPAWN_WAIT_S):
            PROCESS.start_plan(users)  # every lane is up: the schedule starts now
            log.info("ctxbench: %s arrivals %s over %d users", s.mode,
                     PROCESS.plan.to_json() if PROCESS.plan else {}, users)
        if s is not None and s.mode == "capacity" and PROCESS.search is not None:
            if run_time and self.get_run_time() > float(run_time):
                log.warning("ctxbench: --run-time ended the capacity search before it finished")
                return None
            return PROCESS.capacity_tick(users, spawn)
        if run_time and self.get_run_time() > float(run_time):
            return None
        return users, spawn


__all__ = ["ContextApiUser", "CtxbenchShape"]
