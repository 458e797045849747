"""The pytest-benchmark suite (bench/) runs once in CI, with very few rounds.

It is not collected by ``pytest -q`` (the test paths are ``tests/``), so this test runs it in a
subprocess against the shared test dataset and checks what it produced: one benchmark per
query of the catalog, all passed, each with percentiles in its extra_info.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxbench.queries import catalog

pytestmark = [pytest.mark.db, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


def test_bench_suite_has_one_passing_benchmark_per_query(tmp_path: Path, dataset_target) -> None:
    report = tmp_path / "bench.json"
    env = {**os.environ, "CTXBENCH_BENCH_DSN": dataset_target.dsn, "CTXBENCH_BENCH_PARAM_SETS": "5"}
    cmd = [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider",
           "--benchmark-only", "--benchmark-min-rounds=3", "--benchmark-max-time=0.01",
           "--benchmark-warmup=off", f"--benchmark-json={report}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "ctxbench percentiles" in proc.stdout
    benchmarks = json.loads(report.read_text())["benchmarks"]
    by_query = {b["extra_info"]["query"]: b for b in benchmarks}
    assert sorted(by_query) == sorted(catalog) and len(benchmarks) == len(catalog)
    for name, b in by_query.items():
        info = b["extra_info"]
        assert b["stats"]["rounds"] >= 3, name
        assert info["rounds"] == b["stats"]["rounds"]
        assert info["p50_ms"] <= info["p95_ms"] <= info["p99_ms"], name
        assert info["p99_ms"] <= b["stats"]["max"] * 1000 + 1e-4, name  # a latency that happened (4 decimals)
        assert info["p50_ms"] >= b["stats"]["min"] * 1000 - 1e-4, name
        assert info["param_sets"] >= 1 and (info["param_sets"] > 1 or not info["takes_params"]), name
