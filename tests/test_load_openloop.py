"""Open-loop latency accounting on a synthetic server of known speed (``SELECT pg_sleep``).

One lane, one connection, the same code path as the Locust user (schedule → execute_one),
without Locust. When the service time S exceeds the inter-arrival time I, the lane falls
behind: latency from the intended start must grow by about S - I per request while the service
time stays flat, and the difference must show up as lag. A closed-loop client timing the same
calls would report only the flat service time: the coordinated omission this mode avoids.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from ctxbench.load.execute import execute_one
from ctxbench.load.schedule import NS, Lane, RatePlan
from ctxbench.load.workload import SleepQuery, SyntheticSampler
from ctxbench.measure.executor import open_pool

pytestmark = pytest.mark.db


def run_lane(dsn: str, *, rate: float, sleep_ms: float, n: int) -> tuple[list, Lane]:
    """Serve n arrivals of a constant-rate schedule back to back, as a Locust lane does."""
    pool = open_pool(dsn, 1, prepare_threshold=None, statement_timeout_ms=10_000)
    query, params = SleepQuery(sleep_ms), SyntheticSampler().sample("synthetic_sleep", n, "t")
    try:
        with pool.connection() as conn:  # connection set up outside the measured part
            conn.execute("SELECT 1")
        start = time.perf_counter_ns() + 20_000_000
        lane = Lane(RatePlan(rate), t0_ns=start, lanes=1, index=0, arrival="constant",
                    rng=random.Random(0), pick=lambda: 0, start_ns=start)
        done = []
        for ps in params:
            while (wait := lane.wait_ns(time.perf_counter_ns())):
                time.sleep(wait / NS)
            arrival = lane.pop(time.perf_counter_ns())
            assert arrival is not None
            done.append(execute_one(pool, query, "as_shipped", ps, intended_ns=arrival.intended_ns,
                                    labels={"mode": "open"}).measurement)
        return done, lane
    finally:
        pool.close()


def slope(y: list[float]) -> float:
    return float(np.polyfit(np.arange(len(y)), np.asarray(y), 1)[0])


def test_overload_grows_latency_from_the_intended_start_not_the_service_time(pg_server) -> None:
    rate, sleep_ms, n = 50.0, 40.0, 30  # arrivals every 20 ms, each takes >= 40 ms
    interval_ms = 1000.0 / rate
    done, lane = run_lane(pg_server.dsn("postgres"), rate=rate, sleep_ms=sleep_ms, n=n)
    assert all(m.ok for m in done), [m.error for m in done if not m.ok]
    latency = [m.latency_ns / 1e6 for m in done]
    service = [m.metrics["service_ms"] for m in done]
    lag = [m.metrics["lag_ms"] for m in done]
    # the three parts add up to the latency exactly (to float rounding of the ms values)
    for m in done:
        parts = m.metrics["lag_ms"] + m.metrics["pool_wait_ms"] + m.metrics["service_ms"]
        assert parts == pytest.approx(m.latency_ns / 1e6, abs=1e-6)
    assert min(service) >= sleep_ms  # pg_sleep is a floor
    expected_growth = sleep_ms - interval_ms  # per request, at the very least
    assert slope(latency) >= 0.8 * expected_growth
    assert slope(lag) >= 0.8 * expected_growth
    assert abs(slope(service)) < 0.2 * slope(latency)  # the server itself did not slow down
    assert latency[-1] - latency[0] >= 0.8 * expected_growth * (n - 1)
    # what a closed-loop tool would have reported for the same requests: flat
    closed_view = [m.metrics["pool_wait_ms"] + m.metrics["service_ms"] for m in done]
    assert abs(slope(closed_view)) < 0.2 * slope(latency)
    # every arrival that fell due was counted, including the ones still waiting: the backlog
    assert sum(lane.scheduled.values()) > n


def test_below_capacity_the_lane_keeps_its_schedule(pg_server) -> None:
    rate, sleep_ms, n = 25.0, 5.0, 25  # arrivals every 40 ms, each takes ~5 ms
    done, lane = run_lane(pg_server.dsn("postgres"), rate=rate, sleep_ms=sleep_ms, n=n)
    lag = [m.metrics["lag_ms"] for m in done]
    interval_ms = 1000.0 / rate
    # on schedule: the typical lag is scheduler jitter, far below one inter-arrival time, and
    # it does not accumulate
    assert float(np.median(lag)) < interval_ms / 2
    assert abs(slope(lag)) < 0.1 * (interval_ms - sleep_ms)
    assert sum(lane.scheduled.values()) <= n + 1
