"""``ctxbench seed`` end to end, and every bad input it must refuse with a clear message."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ctxbench.cli import main
from ctxbench.db.target import Target

pytestmark = pytest.mark.db
PG15 = Path("/usr/lib/postgresql/15/bin")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the real ``ctxbench`` entry point in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["ctxbench", *args])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args, fragment", [
    (["--scale", "0"], "scale 0 is not allowed"),
    (["--scale", "-5"], "scale -5 is not allowed"),
    (["--scale", "50000000"], "scale 50000000 is not allowed"),
    (["--scale", "lots"], "Invalid value for '--scale'"),
    (["--scale", "1000", "--months", "0"], "months 0 is not allowed"),
    (["--scale", "1000", "--months", "25"], "months 25 is not allowed"),
    (["--scale", "1000", "--anchor", "2025-02-30"], "--anchor '2025-02-30' is not a date"),
    (["--scale", "1000", "--anchor", "yesterday"], "YYYY-MM-DD"),
    (["--scale", "1000", "--severities", "loud"], "allowed: documented, tests"),
    (["--scale", "1000", "--frobnicate"], "No such option"),
    ([], "Missing option '--scale'"),
])
def test_bad_input_exits_2_with_a_message(monkeypatch, capsys, args, fragment) -> None:
    # a DSN nobody listens on: validation must fail before any connection is tried
    code, out, err = run_cli(monkeypatch, capsys, "seed", *args,
                             "--dsn", "host=127.0.0.1 port=1 dbname=x")
    assert code == 2
    assert fragment in " ".join((out + err).split())


def test_unreachable_dsn_exits_3_without_the_password(monkeypatch, capsys) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000", "--dsn",
                             "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x connect_timeout=3")
    assert code == 3
    text = " ".join((out + err).split())
    assert "cannot connect" in text and "hunter2" not in text and "***" in text


def test_seed_loads_refuses_a_second_time_and_replaces(fresh_target: Target, monkeypatch,
                                                       capsys) -> None:
    dsn = fresh_target.dsn
    code, out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000", "--seed", "5",
                             "--anchor", "2025-10-31", "--months", "2", "--severities", "tests",
                             "--no-analyze", "--json", "--dsn", dsn)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows"]["resource_action_traces"] == 1000
    assert summary["params"]["severities"] == "tests" and summary["params"]["months"] == 2
    assert summary["checksum"].startswith("sha256:")
    assert {b["kind"] for b in summary["builds"]} >= {"primary key", "foreign key", "btree", "gin",
                                                       "hnsw"}
    assert summary["rows_per_second"]["resource_action_traces"] > 0
    with psycopg.connect(dsn) as conn:
        sev = {r[0] for r in conn.execute("SELECT DISTINCT alert_severity FROM resource_action_traces")}
    assert sev == {"critical", "high", "medium", "low"}

    code, out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000", "--dsn", dsn)
    assert code == 2
    assert "already holds a dataset" in " ".join(err.split()) and "--replace" in err

    code, out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000", "--seed", "6",
                             "--anchor", "2025-10-31", "--replace", "--default-partition",
                             "--dsn", dsn)
    assert code == 0, err
    text = " ".join(out.split())
    assert "checksum: sha256:" in text and "resource_action_traces_default" in text
    assert summary["checksum"] not in text


def test_tables_ctxbench_did_not_create_are_left_alone(fresh_target: Target, monkeypatch,
                                                      capsys) -> None:
    with fresh_target.connect() as conn:
        conn.execute("CREATE TABLE resource_action_traces (id int, note text)")
        conn.execute("INSERT INTO resource_action_traces VALUES (1, 'theirs'), (2, 'also theirs')")
    code, _out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000", "--replace",
                             "--dsn", fresh_target.dsn)
    assert code == 2
    text = " ".join(err.split())
    assert "resource_action_traces" in text and "did not create" in text
    with fresh_target.connect() as conn:
        rows = conn.execute("SELECT id, note FROM resource_action_traces ORDER BY id").fetchall()
        assert rows == [(1, "theirs"), (2, "also theirs")]
        assert conn.execute("SELECT to_regclass('action_histories')").fetchone()[0] is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg15_without_pgvector() -> Iterator[str]:
    """The system PostgreSQL 15 (no pgvector package exists for it here), in a temp cluster."""
    if not (PG15 / "initdb").exists():
        pytest.skip(f"no system PostgreSQL 15 at {PG15}")
    as_user = ["runuser", "-u", "embedded_postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="ctxbench-pg15-", dir="/var/tmp" if as_user else None))
    home.chmod(0o755)
    data = home / "data"
    if as_user:
        shutil.chown(home, "embedded_postgres", "embedded_postgres")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C.UTF-8"}
    subprocess.run([*as_user, str(PG15 / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "--no-sync"], check=True, capture_output=True, env=env)
    subprocess.run([*as_user, str(PG15 / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w",
                    "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, env=env)
    try:
        dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        for _ in range(50):
            try:
                psycopg.connect(dsn).close()
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        yield dsn
    finally:
        subprocess.run([*as_user, str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, env=env)
        shutil.rmtree(home, ignore_errors=True)


def test_a_server_without_pgvector_exits_3_naming_what_is_missing(pg15_without_pgvector, monkeypatch,
                                                                  capsys) -> None:
    code, _out, err = run_cli(monkeypatch, capsys, "seed", "--scale", "1000",
                             "--dsn", pg15_without_pgvector)
    assert code == 3
    text = " ".join(err.split())
    assert "pgvector is not available" in text and "PostgreSQL 15" in text
    with psycopg.connect(pg15_without_pgvector) as conn:  # nothing was created there
        assert conn.execute("SELECT to_regclass('resource_action_traces')").fetchone()[0] is None
