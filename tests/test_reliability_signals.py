"""SIGTERM and SIGINT end `run`, `vector` and `load` the same orderly way: measuring stops, the
server state ctxbench changed is put back, child processes stop, the report is written marked
interrupted, and the exit code is 143 / 130 — end to end, in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctxbench.db import control
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target
from ctxbench.results import ResultsDir

pytestmark = [pytest.mark.db, pytest.mark.slow]

SETTINGS = """
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
"""

RUN = """
name = "sig_{name}"
[database]
cache_reset = "evict"
name = "signals_tiny"
{settings}
[dataset]
scale = 1000
seed = 5
[queries]
include = ["list_incidents", "count_incidents"]
[phases]
run = ["after_analyze", "before_analyze", "warm"]
[phases.after_analyze]
cold_samples = 1
param_sets = 2
repeats = 1
[phases.before_analyze]
cold_samples = 2
param_sets = 400
repeats = 50
[phases.warm]
param_sets = 400
repeats = 50
"""

VECTOR = """
name = "sig_vector"
[database]
cache_reset = "evict"
name = "signals_tiny"
{settings}
[dataset]
scale = 1000
seed = 5
[vector]
queries = 400
ef_search = [10, 20, 40, 80]
selectivities = [1.0, 0.5]
iterative_scans = []
stats = ["before_analyze"]
crosscheck = 0
warmup_passes = 3
hnsw_warmup = false
cache_dir = "{cache}"
"""


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CTXBENCH_STOP_GRACE_S": "60"}
    return subprocess.Popen([sys.executable, "-m", "ctxbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=str(cwd), env=env,
                            start_new_session=True)


def wait_for_measurements(out: Path, proc: subprocess.Popen[str], n: int, phase: str = "",
                          timeout: float = 420) -> Path:
    """The results folder once it holds ``n`` measurements (of ``phase``, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        for folder in out.glob("*/"):
            path = folder / "measurements.jsonl"
            if path.exists():
                lines = path.read_text().splitlines()
                if sum(1 for ln in lines if f'"phase":"{phase}' in ln) >= n:
                    return folder
        time.sleep(0.3)
    raise AssertionError(f"no {n} measurements within {timeout} s")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out, time.monotonic() - t0


def check_folder(folder: Path, signame: str) -> None:
    results = ResultsDir(folder)
    meta = results.read_meta()
    assert meta is not None and meta.status == "incomplete" and meta.error == f"interrupted by {signame}"
    assert list(results.iter_measurements())  # every line valid, typed JSON
    assert not list(folder.rglob("*.tmp"))
    report = (folder / "report.md").read_text()
    assert f"interrupted by {signame}" in report
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run"]["complete"] is False


def check_server_restored(pg_server: EmbeddedServer) -> None:
    target = Target(pg_server, "signals_tiny")
    with target.connect() as conn:
        assert control.pending_restore(conn) == {}
        off = conn.execute("SELECT count(*) FROM pg_class c, pg_options_to_table(c.reloptions) "
                           "WHERE option_name = 'autovacuum_enabled' AND option_value = 'false'"
                           ).fetchone()[0]
        assert off == 0
        assert control.statistics_state(conn)["state"] == "analyzed"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_interrupted_in_before_analyze(pg_server: EmbeddedServer, tmp_path: Path,
                                           sig: int, code: int) -> None:
    path = tmp_path / "run.toml"
    path.write_text(RUN.format(name=sig.name.lower(), settings=SETTINGS))
    proc = start("run", "--scenario", str(path), "--out", str(tmp_path / "out"),
                 "--home", str(pg_server.home), cwd=tmp_path)
    # statistics were cleared and autovacuum switched off when before_analyze measures
    folder = wait_for_measurements(tmp_path / "out", proc, 20, "before_analyze.warm")
    rc, out, seconds = stop(proc, sig)
    assert rc == code, out
    assert f"interrupted by {sig.name}" in out and "Traceback" not in out
    assert seconds < 60
    check_folder(folder, sig.name)
    check_server_restored(pg_server)
    meta = ResultsDir(folder).read_meta()
    assert meta is not None and any("autovacuum" in r for r in meta.extra["restored"])


def test_vector_interrupted_by_sigterm(pg_server: EmbeddedServer, tmp_path: Path) -> None:
    path = tmp_path / "vector.toml"
    path.write_text(VECTOR.format(settings=SETTINGS, cache=tmp_path / "cache"))
    proc = start("vector", "--scenario", str(path), "--out", str(tmp_path / "out"),
                 "--home", str(pg_server.home), cwd=tmp_path)
    folder = wait_for_measurements(tmp_path / "out", proc, 30, "before_analyze.vector")
    rc, out, seconds = stop(proc, signal.SIGTERM)
    assert rc == 143, out
    assert seconds < 60
    check_folder(folder, "SIGTERM")
    check_server_restored(pg_server)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_load_interrupted_stops_every_locust_process(pg_server: EmbeddedServer, tmp_path: Path,
                                                     sig: int, code: int) -> None:
    path = tmp_path / "load.toml"
    path.write_text(f'name = "sig_load"\n[database]\nname = "signals_synthetic"\n{SETTINGS}')
    proc = start("load", "--scenario", str(path), "--synthetic-ms", "5", "--users", "2",
                 "--workers", "1", "--duration", "300", "--out", str(tmp_path / "out"),
                 "--home", str(pg_server.home), cwd=tmp_path)
    folder = wait_for_measurements(tmp_path / "out", proc, 20, "load")
    kids = children_of(proc.pid)
    assert len(kids) == 2  # the Locust master and its worker
    rc, out, seconds = stop(proc, sig)
    assert rc == code, out
    assert seconds < 60
    time.sleep(0.5)
    assert [k for k in kids if alive(k)] == []
    check_folder(folder, sig.name)
    n = len(list(ResultsDir(folder).iter_measurements()))
    time.sleep(2)  # nothing keeps writing after ctxbench exited
    assert len(list(ResultsDir(folder).iter_measurements())) == n
