"""The results owner: the one Locust process (the master, or the single local process) that
writes the results folder and, in capacity mode, runs the search.

It receives what every process running users measured (``receive``, from the courier), numbers
and appends the measurements (``MeasurementSink``), counts the arrivals that fell due, judges
capacity steps as they end, and at the end writes ``capacity.json``, ``arrivals.json`` and
``locust_summary.json``. Building the report is not its business (``ctxbench.runs.load``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctxbench.errors import UsageError
from ctxbench.load import meta as load_meta
from ctxbench.load.capacity import CapacitySearch, thresholds_for
from ctxbench.load.schedule import NS, WARMUP_STEP
from ctxbench.load.settings import LoadSettings
from ctxbench.load.sink import MeasurementSink
from ctxbench.load.workload import Mix
from ctxbench.results import Measurement, ResultsDir, RunMeta
from ctxbench.scenario import Scenario

log = logging.getLogger("ctxbench.load")


class ResultsOwner:
    def __init__(self, scenario: Scenario, settings: LoadSettings, mix: Mix) -> None:
        self.scenario = scenario
        self.settings = settings
        self.mix = mix
        self.results: Path | None = None
        self.standalone = False  # a plain `locust` run: this process also created meta.json
        self.sink: MeasurementSink | None = None
        self.arrivals: Counter[str] = Counter()  # arrivals that fell due, by request
        self.warmup_arrivals: Counter[str] = Counter()  # those of a capacity plan's warm-up period
        self.search: CapacitySearch | None = None
        if settings.mode == "capacity":
            thresholds, errors = thresholds_for(mix.items, scenario.resolved_budgets(),
                                                settings.metric, settings.budget_ms,
                                                {"mode": "capacity"})
            plan = settings.plan()
            assert plan is not None
            self.search = CapacitySearch(plan, metric=settings.metric, thresholds_ms=thresholds,
                                         max_error_rates=errors)

    def open(self, path: Path, *, managed: bool, describe_target: Callable[[RunMeta], None]) -> None:
        """Write into ``path``: the folder ``ctxbench load`` created (managed), or a new one of a
        plain ``locust`` run, whose meta.json this process writes (``describe_target`` adds
        what it can learn of the server and dataset)."""
        self.results = path
        if managed:
            meta = ResultsDir(path).read_meta()
            run_id = meta.run_id if meta else path.name
        else:
            if (path / "measurements.jsonl").exists():
                raise UsageError(f"--ctxbench-results {path} already holds measurements of another "
                                 "run; give a new folder")
            self.standalone = True
            run_id = path.name
            meta = load_meta.new_meta(run_id, self.scenario, self.settings, self.mix.shares(),
                                      driver="locust")
            describe_target(meta)
            path.mkdir(parents=True, exist_ok=True)
            ResultsDir(path).create().write_meta(meta)
        self.sink = MeasurementSink(path, run_id, on_measurement=self._feed_search)

    # -- during the test -----------------------------------------------------------------------
    def receive(self, data: dict[str, Any]) -> None:
        """One shipped batch: ``{"m": [[step, measurement], ...], "s": [[step, name, n], ...]}``."""
        for step, name, n in data.get("s", []):
            if int(step) == WARMUP_STEP:
                self.warmup_arrivals[name] += int(n)
            else:
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
        # a warm-up request (step WARMUP_STEP) goes to the warm-up's own account, never a step's
        cached = m.metrics.get("cached") == 1.0 and "hit_rate" in m.metrics
        self.search.add_result(step, name, m.latency_ns / 1e6, m.ok, m.metrics.get("lag_ms"),
                               m.metrics.get("service_ms"),
                               hit=bool(m.metrics["hit_rate"]) if cached else None)

    def capacity_tick(self, t0_ns: int | None) -> bool:
        """Judge the steps that are due; False once the search has its answer."""
        search = self.search
        assert search is not None
        if t0_ns is None:
            return True
        elapsed = (time.perf_counter_ns() - t0_ns) / NS
        for k in search.due(elapsed):
            v = search.judge(k)
            log.info("ctxbench: step %d at %g req/s: %s (%s)", k, v.rate,
                     "PASS" if v.passed else "FAIL", v.reason)
            self.write_capacity()
        if search.finished:
            log.info("ctxbench: %s", search.result()["summary"])
            return False
        return True

    # -- the end --------------------------------------------------------------------------------
    def write_capacity(self) -> None:
        if self.search is not None and self.results is not None:
            ResultsDir(self.results).write_json(load_meta.CAPACITY_FILE, self.search.result())

    def write_arrivals(self) -> None:
        """Every arrival that fell due before the drain, by request (open loop and capacity):
        the report counts those never served as latencies over every budget."""
        if self.results is None or self.settings.mode == "closed":
            return
        data: dict[str, Any] = {
            "schema_version": 1, "mode": self.settings.mode,
            "duration_s": self.settings.duration_s, "scheduled": dict(sorted(self.arrivals.items()))}
        if self.warmup_arrivals:  # the warm-up period before step 0: apart from the steps' arrivals
            data["warmup_scheduled"] = dict(sorted(self.warmup_arrivals.items()))
        ResultsDir(self.results).write_json(load_meta.ARRIVALS_FILE, data)

    def write_locust_summary(self, stats: Any, error: str | None) -> None:
        if self.results is None:
            return

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
                   "error": error}
        ResultsDir(self.results).write_json(load_meta.LOCUST_SUMMARY_FILE, summary)

    def close(self, stats: Any, error: str | None) -> None:
        """Write everything the folder still needs from this process and close the sink."""
        self.write_capacity()
        self.write_arrivals()
        self.write_locust_summary(stats, error)
        if self.sink is not None:
            self.sink.close()
