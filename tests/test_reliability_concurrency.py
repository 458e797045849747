"""One run at a time per server: a second run on the same embedded home refuses at once, naming
the holder, and never measures under the first one's load; run ids and folders are unique;
parallel `db up` on a fresh home are safe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import throwaway_home

from ctxbench import scenario as scenarios
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.locks import BusyError, lock_database, lock_home
from ctxbench.results import ResultsDir
from ctxbench.runs.session import create_results, run_id_for

SCENARIO = """
name = "conc"
[database]
cache_reset = "evict"
name = "concurrency_tiny"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
scale = 1000
seed = 4
[queries]
include = ["list_incidents"]
[phases]
run = ["warm"]
[phases.warm]
param_sets = 200
repeats = 10
"""


def test_run_ids_and_folders_are_unique(tmp_path: Path) -> None:
    sc = scenarios.load_text('name = "same"\n', "same.toml")
    ids = {run_id_for(sc) for _ in range(200)}
    assert len(ids) == 200
    folders = {create_results(sc, tmp_path)[1].path for _ in range(50)}
    assert len(folders) == 50 and len(list(tmp_path.iterdir())) == 50


def test_a_home_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    first = lock_home(tmp_path)
    with pytest.raises(BusyError, match=f"pid {os.getpid()}"):
        lock_home(tmp_path)
    first.release()
    lock_home(tmp_path).release()


@pytest.mark.db
def test_an_advisory_lock_guards_a_dsn_database(fresh_target) -> None:
    first = lock_database(fresh_target.dsn, "the test database")
    with pytest.raises(BusyError, match="in use by another ctxbench run"):
        lock_database(fresh_target.dsn, "the test database")
    first.release()
    lock_database(fresh_target.dsn, "the test database").release()


@pytest.mark.db
@pytest.mark.slow
def test_a_second_run_on_the_same_server_refuses_and_the_first_is_undisturbed(
        pg_server: EmbeddedServer, tmp_path: Path) -> None:
    path = tmp_path / "conc.toml"
    path.write_text(SCENARIO)
    cmd = [sys.executable, "-m", "ctxbench", "run", "--scenario", str(path), "--out", str(tmp_path / "out"),
           "--home", str(pg_server.home)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = pg_server.home / "run.lock"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.1)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 3, second.stdout + second.stderr
    err = " ".join(second.stderr.split())
    assert f"pid {first.pid}" in err and "in use by another run" in err
    assert "Traceback" not in err
    out, _ = first.communicate(timeout=900)
    assert first.returncode == 0, out
    folders = sorted((tmp_path / "out").iterdir())
    assert len(folders) == 2  # each run its own folder
    done = [f for f in folders if ResultsDir(f).read_meta().status == "complete"]
    refused = [f for f in folders if f not in done]
    assert len(done) == 1 and len(refused) == 1
    assert not (refused[0] / "measurements.jsonl").exists()  # measured nothing
    assert lock.read_text() == ""  # released


@pytest.mark.db
@pytest.mark.slow
def test_parallel_db_up_on_a_fresh_home() -> None:
    with throwaway_home("ctxbench-conc-") as home:
        env = {**os.environ, "CTXBENCH_HOME": str(home)}
        cmd = [sys.executable, "-m", "ctxbench", "db", "up", "--json"]
        try:
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env) for _ in range(3)]
            outs = [p.communicate(timeout=600) for p in procs]
            assert [p.returncode for p in procs] == [0, 0, 0], outs
            assert {json.loads(o)["database"] for o, _ in outs} == {"ctxbench"}
            assert json.loads((home / "server.json").read_text())["port"]
        finally:
            subprocess.run([sys.executable, "-m", "ctxbench", "db", "down"], env=env, capture_output=True)


HOLD = ("import sys, time\nfrom pathlib import Path\nfrom ctxbench.db.locks import lock_home\n"
        "lock = lock_home(Path(sys.argv[1]))\nprint('held', flush=True)\ntime.sleep(120)\n")


@pytest.mark.db
def test_other_settings_never_restart_a_server_another_run_holds(pg_server: EmbeddedServer) -> None:
    """A command wanting other settings (e.g. `ctxbench seed` next to a running study) used to
    restart the server under the run: its connections died mid-phase. Now it is refused, and
    the server, its postmaster and its configuration stay as they were."""
    conf = pg_server.pgdata / "harness.conf"
    before_conf = conf.read_text()
    before_pid = (pg_server.pgdata / "postmaster.pid").read_text().split()[0]
    other = EmbeddedServer(pg_server.home, {**pg_server.settings, "work_mem": "17MB"})
    same = EmbeddedServer(pg_server.home, dict(pg_server.settings))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(pg_server.home)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match=f"in use by pid {holder.pid}"):
            other.up()
        assert same.up() is False  # same settings: no restart needed, nothing refused
        assert conf.read_text() == before_conf
        assert (pg_server.pgdata / "postmaster.pid").read_text().split()[0] == before_pid
    finally:
        holder.kill()
        holder.wait()
    # nobody holds it any more: the restart goes ahead, and back again
    try:
        assert other.up() is True
        assert "work_mem = '17MB'" in conf.read_text()
    finally:
        assert same.up() is True
    assert conf.read_text() == before_conf
