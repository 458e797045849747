"""The client side of one Locust process: connections, the mix, parameters, lanes, requests.

A process that runs users (the local process, or each worker) opens a pool, warms it, and gives
every user a lane: its own seeded mix choices and parameter sets and, in the open modes, its
share of the arrival plan. ``serve`` is one request of one user; what it measured goes to the
courier (``post``). A lost connection is recorded once and ends the run (``fail``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent

from ctxbench.load.execute import execute_cached, execute_one
from ctxbench.load.schedule import NS, WARMUP_STEP, Lane, RatePlan
from ctxbench.load.settings import LoadSettings
from ctxbench.load.workload import LaneParams, Mix, SyntheticSampler, build_mix, synthetic_mix
from ctxbench.measure.executor import open_pool
from ctxbench.scenario import Scenario

log = logging.getLogger("ctxbench.load")

PLAN_LEAD_S = 0.2  # the plan reaches every worker before its first arrival is due


@dataclass
class LaneState:
    key: str
    index: int
    pick: Any
    params: LaneParams
    lane: Lane | None = None


@dataclass
class Failure:
    """The error that ends this process's run (set once)."""

    message: str | None = None
    code: int = 3


class Clients:
    def __init__(self, *, failure: Failure, fail: Callable[[str, int], None],
                 post: Callable[[int, dict[str, Any]], None], fire: Callable[..., None],
                 worker_index: Callable[[], int]) -> None:
        self.failure = failure
        self.fail = fail
        self.post = post
        self.fire = fire  # Locust's request event
        self.worker_index = worker_index  # a worker learns its index from the master
        self.scenario: Scenario | None = None
        self.settings: LoadSettings | None = None
        self.mix: Mix | None = None
        self.pool: Any = None
        self.cached: Any = None  # ctxbench.cache.CachedExecutor when [load] cache is on
        self.sampler: Any = None
        self.plan: RatePlan | None = None
        self.t0_ns: int | None = None
        self.lanes_total = 1
        self.workers_total = 1
        self.lanes: list[LaneState] = []
        self.draining = False
        self.accounting_closed = False  # no arrival counts after the drain: none can be served
        self.started_ns = time.perf_counter_ns()

    def restart(self) -> None:
        """A new test starts."""
        self.draining = False
        self.accounting_closed = False
        self.started_ns = time.perf_counter_ns()

    def stop(self) -> None:
        """The test is ending: start nothing more, count no more arrivals (after a last flush)."""
        self.draining = True

    def close_accounting(self) -> None:
        self.accounting_closed = True

    # -- set-up --------------------------------------------------------------------------------
    def prepare(self, scenario: Scenario, settings: LoadSettings, dsn: str) -> None:
        """Connections, mix and parameter sampler (once)."""
        if self.pool is not None or self.failure.message:
            return
        self.scenario, self.settings = scenario, settings
        s = settings
        self.mix = synthetic_mix(s.synthetic_ms) if s.synthetic_ms else build_mix(scenario)
        self.pool = open_pool(dsn, s.pool_size, prepare_threshold=scenario.database.prepare_threshold,
                              statement_timeout_ms=scenario.database.statement_timeout_ms)
        if s.cache != "off":
            from ctxbench.cache.runtime import executor_for_load

            self.cached = executor_for_load(self.pool, s.cache)
        if s.synthetic_ms:
            self.sampler = SyntheticSampler()
        else:
            from ctxbench.queries import DatasetProfile, ParamSampler

            with self.pool.connection() as conn:
                profile = DatasetProfile.from_database(conn)
            self.sampler = ParamSampler(profile, s.seed, surface=scenario.queries.surface)
            self.warm_connections()

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

    def close(self) -> None:
        if self.cached is not None:
            self.cached.close()
            self.cached = None
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    # -- the arrival plan ------------------------------------------------------------------------
    def plan_payload(self, plan: RatePlan, lanes: int, workers: int) -> dict[str, Any]:
        """The plan as the master sends it: it starts PLAN_LEAD_S from now, on every process."""
        return {"plan": plan.to_json(), "t0_epoch_ns": time.time_ns() + int(PLAN_LEAD_S * NS),
                "lanes": max(1, int(lanes)), "workers": workers}

    def apply_plan(self, payload: dict[str, Any]) -> None:
        self.plan = RatePlan.from_json(payload["plan"])
        self.t0_ns = time.perf_counter_ns() + (int(payload["t0_epoch_ns"]) - time.time_ns())
        self.lanes_total = int(payload["lanes"])
        self.workers_total = int(payload.get("workers", 1))
        for st in self.lanes:
            st.lane = None  # rebuilt on the new plan at the next request

    def scheduled(self) -> Counter[tuple[int, str]]:
        """Arrivals that fell due on this process's lanes since the last call."""
        scheduled: Counter[tuple[int, str]] = Counter()
        if self.mix is None or self.accounting_closed:
            return scheduled
        now = time.perf_counter_ns()
        for st in self.lanes:
            if st.lane is not None:
                st.lane.advance(now)
                for (step, item), n in st.lane.drain_scheduled().items():
                    scheduled[(step, self.mix.names[item])] += n
        return scheduled

    # -- users ----------------------------------------------------------------------------------
    def new_lane(self) -> LaneState | None:
        if self.failure.message or self.settings is None or self.mix is None or self.sampler is None:
            return None
        index = len(self.lanes)
        worker = self.worker_index()
        key = f"w{worker}.u{index}"
        rng = random.Random(f"{self.settings.seed}:load.mix.{key}")
        params: Any = LaneParams(self.sampler, f"load.{key}")
        if self.cached is not None and self.scenario is not None:
            from ctxbench.cache.runtime import ZipfParams

            c = self.scenario.phases.cache  # the key population and Zipf exponent of cache.mix
            params = ZipfParams(self.sampler, key, self.settings.seed, keys=c.mix_keys, s=c.zipf_s)
        st = LaneState(key=key, index=index * max(1, self.workers_total) + worker,
                       pick=self.mix.picker(rng), params=params)
        self.lanes.append(st)
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
        if st is None or self.failure.message or self.pool is None:
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
        # capacity: the plan's warm-up period, before step 0; closed and open: the first seconds
        warmup = (step == WARMUP_STEP if s.mode == "capacity"
                  else start - reference < s.warmup_s * NS)
        if self.cached is not None:
            done = execute_cached(self.cached, query, variant, ps, intended_ns=intended, labels=labels,
                                  warmup=warmup)
        else:
            done = execute_one(self.pool, query, variant, ps, intended_ns=intended, labels=labels,
                               warmup=warmup)
        if done.connection_lost and self.failure.message:
            return  # the loss is recorded already: requests that were in flight with it are not data
        self.fire(request_type="SQL", name=done.name, response_time=done.response_time_ms,
                  response_length=done.measurement.rows, exception=done.exception, context={})
        if not self.draining:
            self.post(step, done.measurement.to_json())
        if done.connection_lost:
            why = " ".join(str(done.measurement.error).split())  # one line
            self.fail(f"the connection to the server was lost during the load phase ({done.name}: "
                      f"{why}); the load phase ended early after recording it once; the "
                      "measurements before it are kept", 3)
