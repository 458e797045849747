"""Faults during `ctxbench load` through the cache (`[load] cache = true`), real parts only.

- The test's own embedded server is killed mid-run: the lost database connection ends the load
  phase exactly as without the cache (one failed row, exit 3, report incomplete), although
  cache hits could still have been served.
- A statement timeout (SQLSTATE 57014) is a query-level failure: measured, and the run goes on.
- Redis killed mid-run: the read path falls through to L2 and the database as the service did;
  the run goes on, each request says so (``redis_error``) and the report's Cache section warns.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers import own_embedded_server, own_redis_server

from ctxbench.cache.server import RedisServer
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.results import ResultsDir

pytestmark = [pytest.mark.db, pytest.mark.slow]

SCENARIO = """
name = "load_cache_fault"
[database]
name = "load_cache_fault"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
scale = 1000
seed = 11
[queries.weights]
list_incidents = 1
get_incident = 1
[load]
cache = true
[phases.cache]
mix_keys = 400
[[budgets]]
phase = "load"
metric = "p95"
max = 60000.0
"""
DURATION_S = 120  # the fault must end the load long before this


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    """A server of the test's own (a fresh one each time): the test kills it."""
    with own_embedded_server("ctxbench-loadcachefault-") as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own: the Redis test kills it."""
    with own_redis_server("ctxbench-loadcache-redis-") as server:
        yield server


def lines(out: Path) -> list[dict]:
    rows = []
    for path in out.glob("*/measurements.jsonl"):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line being appended right now
                rows.append(json.loads(line))
    return rows


def tier(row: dict) -> str:
    m = row.get("metrics") or {}
    return "hit" if m.get("l1") or m.get("l2") else "miss" if m.get("db_queries") else "other"


def wait_for(out: Path, done, proc: subprocess.Popen[str] | None = None, timeout: float = 240) -> list[dict]:
    """The measurements so far, once ``done(rows)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(proc.stdout.read() if proc.stdout else "exited")
        rows = lines(out)
        if done(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError("the load never recorded the measurements the test waits for")


def hits_and_misses(rows: list[dict], n: int = 60) -> bool:
    kinds = {tier(r) for r in rows if r.get("ok")}
    return len(rows) >= n and {"hit", "miss"} <= kinds


def test_a_killed_server_ends_a_cached_load_once_with_exit_3(own_server: EmbeddedServer,
                                                            own_redis: RedisServer, tmp_path: Path) -> None:
    path = tmp_path / "fault.toml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctxbench", "load", "--scenario", str(path), "--users", "4",
         "--pool-size", "4", "--duration", str(DURATION_S), "--workers", "0",
         "--out", str(tmp_path / "out"), "--home", str(own_server.home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path),
        env={**os.environ, "COLUMNS": "2000", "CTXBENCH_REDIS_URL": own_redis.url(1)})
    before = wait_for(tmp_path / "out", hits_and_misses, proc)
    killed_at = time.monotonic()
    os.kill(int((own_server.pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=180)
    seconds = time.monotonic() - killed_at

    assert proc.returncode == 3, out
    assert seconds < DURATION_S / 2, out  # the lost database ended the load phase, not the clock
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "connection to the server was lost" in errors[0], out

    (folder,) = (tmp_path / "out").iterdir()
    results = ResultsDir(folder)
    ms = list(results.iter_measurements())  # valid, typed JSONL
    failed = [m for m in ms if not m.ok]
    assert len(failed) == 1, [m.error for m in failed]  # recorded once, not once per later miss
    assert failed[0].labels.get("cache") == "as_shipped"
    assert failed[0].metrics["db_queries"] >= 1  # the miss that found the database gone
    ok = [m for m in ms if m.ok]
    assert len(ok) >= len([r for r in before if r["ok"]])  # what was measured before it is kept
    kinds = {("hit" if m.metrics["l1"] or m.metrics["l2"] else "miss" if m.metrics["db_queries"] else "other")
             for m in ok}
    assert {"hit", "miss"} <= kinds  # the cache was really in the path before the loss
    meta = results.read_meta()
    assert meta is not None and meta.status == "incomplete"
    assert (meta.error or "").count("connection to the server was lost") == 1
    (phase,) = results.read_phases()
    assert phase.phase == "load" and phase.status == "failed" and "lost" in (phase.error or "")
    report = (folder / "report.md").read_text()
    assert "incomplete" in report.lower() and "## Cache (the service's read path)" in report
    assert json.loads((folder / "summary.json").read_text())["run"]["status"] == "incomplete"
    assert not list(folder.rglob("*.tmp"))
    for log in folder.glob("locust*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _run_in_thread(sc, settings, out_dir: Path, dsn: str) -> tuple[threading.Thread, dict]:
    from ctxbench.runs.load import run_load

    result: dict = {}

    def run() -> None:
        try:
            result["outcome"] = run_load(sc, settings, out_dir=out_dir, dsn=dsn)
        except BaseException as exc:  # re-raised by the test
            result["error"] = exc

    t = threading.Thread(target=run, name="ctxbench-test-load")
    t.start()
    return t, result


def _finish(t: threading.Thread, result: dict):
    t.join(300)
    assert not t.is_alive()
    if "error" in result:
        raise result["error"]
    return result["outcome"]


def test_a_statement_timeout_in_a_cached_load_is_a_measured_failure(tmp_path: Path, dataset_target,
                                                                   own_redis: RedisServer,
                                                                   monkeypatch) -> None:
    """The test holds an ACCESS EXCLUSIVE lock on the traces for a while: every cache miss then
    waits for it until statement_timeout cancels it (57014). Those are failed measurements
    (+inf latency), the run goes on and ends by its clock, with exit code 1 (error budget)."""
    from test_load_locust import dataset_scenario

    from ctxbench.load.settings import LoadSettings

    monkeypatch.setenv("CTXBENCH_REDIS_URL", own_redis.url(2))
    sc = dataset_scenario(tmp_path, dataset_target,
                          "[database]\nstatement_timeout_ms = 300\n[load]\ncache = true\n"
                          "[phases.cache]\nmix_keys = 400\n")
    duration = 20
    settings = LoadSettings.from_scenario(sc, users=4, spawn_rate=4, duration_s=duration)
    out_dir = tmp_path / "runs"
    started = time.monotonic()
    t, result = _run_in_thread(sc, settings, out_dir, dataset_target.dsn)
    wait_for(out_dir, hits_and_misses, timeout=120)
    with dataset_target.connect() as conn:
        conn.autocommit = False
        conn.execute("LOCK TABLE resource_action_traces IN ACCESS EXCLUSIVE MODE")
        try:
            wait_for(out_dir, lambda rows: sum(not r.get("ok") for r in rows) >= 3, timeout=60)
        finally:
            conn.rollback()
    released = len(lines(out_dir))
    outcome = _finish(t, result)
    assert time.monotonic() - started >= duration  # the failures did not end the run early

    ms = list(ResultsDir(outcome.results_dir).iter_measurements())
    failed = [m for m in ms if not m.ok]
    assert len(failed) >= 3 and all("QueryCanceled" in (m.error or "") for m in failed), \
        [m.error for m in failed][:5]
    assert all(m.metrics["db_queries"] >= 1 for m in failed)  # misses waiting for the lock
    after = ms[released:]  # measured after the lock was released: the database answers again
    assert any(m.ok and m.metrics["db_queries"] >= 1 for m in after)
    meta = ResultsDir(outcome.results_dir).read_meta()
    assert meta is not None and meta.status == "complete", meta.error
    assert outcome.exit_code == 1  # the error_rate budget (max 0) failed: measured, not infrastructure
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    assert any(v["metric"] == "error_rate" and v["verdict"] == "FAIL" for v in summary["verdicts"])


def test_redis_killed_mid_run_falls_back_to_l2_and_the_database_and_the_report_says_so(
        tmp_path: Path, dataset_target, own_redis: RedisServer, monkeypatch) -> None:
    """Redis is not the measured system's database: when it dies the service served from L2 and
    the database, and so does the read path. The run goes on (exit 0: no request failed), every
    cached read after the kill carries ``redis_error``, and the report warns."""
    from test_load_locust import dataset_scenario

    from ctxbench.load.settings import LoadSettings

    monkeypatch.setenv("CTXBENCH_REDIS_URL", own_redis.url(3))
    sc = dataset_scenario(tmp_path, dataset_target, "[load]\ncache = true\n[phases.cache]\nmix_keys = 400\n")
    settings = LoadSettings.from_scenario(sc, users=4, spawn_rate=4, duration_s=16)
    out_dir = tmp_path / "runs"
    t, result = _run_in_thread(sc, settings, out_dir, dataset_target.dsn)
    wait_for(out_dir, hits_and_misses, timeout=120)
    os.kill(int(own_redis.pid_file.read_text().split()[0]), signal.SIGKILL)
    killed_at = datetime.now(UTC)
    killed = len(lines(out_dir))
    wait_for(out_dir, lambda rows: len(rows) >= killed + 40, timeout=60)
    outcome = _finish(t, result)

    ms = list(ResultsDir(outcome.results_dir).iter_measurements())
    assert [m.error for m in ms if not m.ok] == []  # a lost Redis fails no request
    before = [m for m in ms[:killed] if m.metrics["cached"]]
    settled = (killed_at + timedelta(seconds=1)).isoformat(timespec="milliseconds")
    after = [m for m in ms if m.metrics["cached"] and m.ts > settled]  # finished after the kill
    assert before and not any(m.metrics["redis_error"] for m in before)
    assert after and all(m.metrics["redis_error"] == 1 and not m.metrics["l1"] for m in after)
    assert any(m.metrics["l2"] for m in after) and any(m.metrics["db_queries"] for m in after)
    meta = ResultsDir(outcome.results_dir).read_meta()
    assert meta is not None and meta.status == "complete", meta.error
    assert outcome.exit_code == 0
    report = (outcome.results_dir / "report.md").read_text()
    assert "Redis failed during the run" in report and "fell through to L2 and then the database" in report


def test_one_rule_tells_a_lost_connection_from_a_failed_query(dataset_target) -> None:
    """Real errors from a real server through ``ctxbench.db.faults.connection_lost`` and through
    the cache's read path (which carries the verdict in ``Outcome.connection_lost``)."""
    import psycopg

    from ctxbench.cache import CachedExecutor, single_connection
    from ctxbench.db.faults import connection_lost, server_answers

    with dataset_target.connect() as admin, dataset_target.connect() as conn:
        conn.execute("SET statement_timeout = 50")
        with pytest.raises(psycopg.errors.QueryCanceled) as timeout:
            conn.execute("SELECT pg_sleep(1)")
        assert timeout.value.sqlstate == "57014" and not connection_lost(timeout.value, conn)
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as bad:
            conn.execute("SELECT 'x'::int")
        assert not connection_lost(bad.value, conn)

        ex = CachedExecutor(lambda: single_connection(conn), None)
        with admin.transaction():  # the miss waits for this lock until statement_timeout cancels it
            admin.execute("LOCK TABLE resource_action_traces IN ACCESS EXCLUSIVE MODE")
            slow = ex.request("list_incidents", {"limit": 5, "offset": 0})
        assert slow.error is not None and "QueryCanceled" in slow.error and not slow.connection_lost
        assert slow.tier == "miss" and slow.db_queries == 1

        conn.execute("SET statement_timeout = 0")
        pid = conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        gone = ex.request("list_incidents", {"limit": 5, "offset": 0})
        assert gone.connection_lost and gone.error is not None and gone.tier == "miss"
        with pytest.raises(psycopg.OperationalError) as terminated:
            conn.execute("SELECT 1")
        assert connection_lost(terminated.value, conn)

        # no connection at all: asked to the server only then
        refused = psycopg.OperationalError("connection failed")
        assert connection_lost(refused, None, server_answers=lambda: False)
        assert not connection_lost(refused, None, server_answers=lambda: True)
        assert server_answers(dataset_target.dsn)
        assert connection_lost(psycopg.errors.AdminShutdown("terminating connection"), None)
        assert connection_lost(psycopg.errors.lookup("08006")("connection failure"), None)
