"""A fault during `ctxbench load`: the test's own embedded server is killed mid-run. The lost
connection is detected once, ends the load phase early, is recorded once (not one error row per
remaining request), and the run still leaves valid measurements and a report marked incomplete,
with exit code 3 (infrastructure)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import own_embedded_server

from ctxbench.db.embedded import EmbeddedServer
from ctxbench.results import ResultsDir

pytestmark = [pytest.mark.db, pytest.mark.slow]

SCENARIO = """
name = "load_fault"
[database]
name = "load_fault_synthetic"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[[budgets]]
phase = "load"
metric = "p95"
max = 60000.0
"""
DURATION_S = 120  # the fault must end the load long before this


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    """A server of the test's own (a fresh one each time): the test kills it."""
    with own_embedded_server("ctxbench-loadfault-") as server:
        yield server


def wait_for_measurements(out: Path, proc: subprocess.Popen[str], n: int,
                          timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() if proc.stdout else "exited")
        for path in out.glob("*/measurements.jsonl"):
            if len(path.read_text(errors="replace").splitlines()) >= n:
                return path.parent
        time.sleep(0.2)
    raise AssertionError("the load never recorded measurements")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_killed_server_ends_the_load_once_with_exit_3_and_a_report(own_server: EmbeddedServer,
                                                                    tmp_path: Path, workers: int) -> None:
    """Without workers the one Locust process detects the loss; with a worker, the worker does
    and tells the master, which ends the test (each process records its loss once)."""
    path = tmp_path / "fault.toml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctxbench", "load", "--scenario", str(path), "--synthetic-ms", "5",
         "--users", "4", "--pool-size", "4", "--duration", str(DURATION_S), "--workers", str(workers),
         "--out", str(tmp_path / "out"), "--home", str(own_server.home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path),
        env={**os.environ, "COLUMNS": "2000"})
    folder = wait_for_measurements(tmp_path / "out", proc, 40)
    before = len(list(ResultsDir(folder).iter_measurements()))
    killed_at = time.monotonic()
    os.kill(int((own_server.pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=180)
    seconds = time.monotonic() - killed_at

    assert proc.returncode == 3, out
    assert seconds < DURATION_S / 2, out  # the fault ended the load phase, not the clock
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "connection to the server was lost" in errors[0], out
    assert errors[0].rstrip().endswith(")"), out  # the whole message on that one line

    results = ResultsDir(folder)
    ms = list(results.iter_measurements())  # valid, typed JSONL
    ok = [m for m in ms if m.ok]
    failed = [m for m in ms if not m.ok]
    assert len(ok) >= before >= 40  # what was measured before the fault is kept
    assert len(failed) == 1, [m.error for m in failed]  # recorded once, not per request
    meta = results.read_meta()
    assert meta is not None and meta.status == "incomplete"
    assert "connection to the server was lost" in (meta.error or "")
    assert meta.error.count("connection to the server was lost") == 1
    (phase,) = results.read_phases()
    assert phase.phase == "load" and phase.status == "failed" and "lost" in (phase.error or "")
    report = (folder / "report.md").read_text()
    assert "incomplete" in report.lower() and "Load run" in report
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run"]["status"] == "incomplete"
    assert not list(folder.rglob("*.tmp"))
    for log in folder.glob("locust*.log"):  # Locust itself ended cleanly (one quit, not two)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
