"""Fixtures of the pytest-benchmark suite: a seeded, analyzed database and a parameter sampler.

Not part of ``pytest -q`` (the test paths are ``tests/``); run it with ``pytest bench/
--benchmark-only``. Configuration by environment variable:

- ``CTXBENCH_BENCH_DSN``: benchmark an existing, already seeded database as is;
- otherwise the embedded server (``CTXBENCH_HOME``, as ``ctxbench run`` uses it) with the
  database ``ctxbench_bench``, seeded at ``CTXBENCH_BENCH_SCALE`` traces (default 5000) with
  ``CTXBENCH_BENCH_SEED`` (default 42), reused while those match;
- ``CTXBENCH_BENCH_PARAM_SETS``: distinct parameter sets per query (default 50), cycled.

pytest-benchmark reports min/max/mean/stddev/median/IQR but no percentiles; every benchmark
gets ``p50_ms``/``p95_ms``/``p99_ms`` (ctxbench's percentile definition) in ``extra_info``,
so they land in ``--benchmark-json`` / ``--benchmark-autosave`` files, and the terminal
summary lists them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from ctxbench.analysis.stats import PERCENTILE_METHOD, percentile

SCALE = int(os.environ.get("CTXBENCH_BENCH_SCALE", "5000"))
SEED = int(os.environ.get("CTXBENCH_BENCH_SEED", "42"))
PARAM_SETS = int(os.environ.get("CTXBENCH_BENCH_PARAM_SETS", "50"))
DATABASE = "ctxbench_bench"
_PERCENTILES: list[tuple[str, dict[str, Any]]] = []


def _seeded_dsn() -> str:
    """The embedded server's bench database, (re)seeded only when the wanted dataset differs."""
    from ctxbench import scenario as scenarios
    from ctxbench.db import control
    from ctxbench.db.target import make_server, open_target
    from ctxbench.measure.phases import SilentProgress
    from ctxbench.runs.session import prepare_dataset

    sc = scenarios.load_text(f'name = "bench"\n[database]\nname = "{DATABASE}"\n'
                             f"[dataset]\nscale = {SCALE}\nseed = {SEED}\n", "<bench>")
    target = open_target(make_server("embedded"), sc.database_name)
    prepare_dataset(target, sc, SilentProgress())
    with target.connect() as conn:
        if control.statistics_state(conn)["state"] != "analyzed":
            control.analyze(conn)
    return target.dsn


@pytest.fixture(scope="session")
def bench_dsn() -> str:
    return os.environ.get("CTXBENCH_BENCH_DSN") or _seeded_dsn()


@pytest.fixture(scope="session")
def bench_conn(bench_dsn: str) -> Iterator[psycopg.Connection]:
    from ctxbench.db.connect import connect

    conn = connect(bench_dsn, prepare_threshold=None, application_name="ctxbench-bench")
    conn.execute("SET statement_timeout = 60000")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def sampler(bench_conn: psycopg.Connection) -> Any:
    from ctxbench.queries import DatasetProfile, ParamSampler

    return ParamSampler(DatasetProfile.from_database(bench_conn), SEED)


@pytest.fixture
def add_percentiles() -> Any:
    """Call with the benchmark fixture after it ran: p50/p95/p99 into its extra_info."""

    def add(benchmark: Any) -> None:
        stats = getattr(benchmark, "stats", None)
        data = getattr(getattr(stats, "stats", None), "data", None)
        if not data:  # --benchmark-disable: the function ran once, untimed
            benchmark.extra_info["percentiles"] = "not measured (benchmarks disabled)"
            return
        ms = np.asarray(data, dtype=np.float64) * 1000.0
        info = {f"p{q}_ms": round(percentile(ms, q / 100), 4) for q in (50, 95, 99)}
        info.update(rounds=int(ms.size), percentile_method=PERCENTILE_METHOD)
        benchmark.extra_info.update(info)
        _PERCENTILES.append((benchmark.name, info))

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _PERCENTILES:
        return
    tr = terminalreporter
    tr.section("ctxbench percentiles (ms; pytest-benchmark has none)")
    width = max(len(name) for name, _ in _PERCENTILES)
    tr.write_line(f"{'benchmark':<{width}}  {'rounds':>7}  {'p50':>9}  {'p95':>9}  {'p99':>9}")
    for name, info in _PERCENTILES:
        tr.write_line(f"{name:<{width}}  {info['rounds']:>7}  {info['p50_ms']:>9.3f}  "
                      f"{info['p95_ms']:>9.3f}  {info['p99_ms']:>9.3f}")
