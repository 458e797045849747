"""No password in any file ctxbench writes nor on any child process's command line: a run, a
load, a vector study and a crosscheck against a DSN carrying a test password, with `ps` sampled
throughout and every written file scanned afterwards.

The embedded server trusts local TCP connections (initdb --auth=trust), so the password is not
checked by the server here; what is tested is that ctxbench never repeats what it was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from ctxbench.analysis import verdicts
from ctxbench.db.connect import connect
from ctxbench.db.embedded import EmbeddedServer

pytestmark = [pytest.mark.db, pytest.mark.slow]

PASSWORD = "Tst-" + uuid.uuid4().hex[:12]


class PsWatcher:
    """Samples every process's command line until stopped; remembers any that held the secret."""

    def __init__(self) -> None:
        self.leaks: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        args = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    except OSError:
                        continue
                    if PASSWORD.encode() in args:
                        self.leaks.append(args.decode(errors="replace"))
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> PsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scan(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def test_no_password_in_files_or_command_lines(pg_server: EmbeddedServer, tmp_path: Path) -> None:
    db = f"secrets_{uuid.uuid4().hex[:6]}"
    with connect(pg_server.dsn()) as conn:
        conn.execute("DROP ROLE IF EXISTS ctxbench_secret")
        conn.execute(f"CREATE ROLE ctxbench_secret SUPERUSER LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {db} OWNER ctxbench_secret")
    dsn = f"postgresql://ctxbench_secret:{PASSWORD}@127.0.0.1:{pg_server.port}/{db}"
    scenario = tmp_path / "secret.toml"
    scenario.write_text(f"""
name = "secret"
[database]
backend = "dsn"
dsn = "{dsn}"
cache_reset = "evict"
[dataset]
scale = 1000
seed = 3
[queries]
include = ["list_incidents", "semantic_search"]
[phases]
run = ["warm"]
[phases.warm]
param_sets = 3
repeats = 1
[vector]
queries = 10
ef_search = [10]
selectivities = [1.0]
iterative_scans = []
stats = ["as_found"]
compare_variants = ["as_shipped"]
crosscheck = 0
hnsw_warmup = false
cache_dir = "{tmp_path / 'cache'}"
""")
    out = tmp_path / "out"
    base = [sys.executable, "-m", "ctxbench"]
    # the DSN reaches ctxbench through the scenario file or CTXBENCH_DSN, as the README advises
    commands = [
        [*base, "run", "--scenario", str(scenario), "--out", str(out)],
        [*base, "load", "--scenario", str(scenario), "--out", str(out), "--users", "1",
         "--duration", "3"],
        [*base, "vector", "--scenario", str(scenario), "--out", str(out)],
        [*base, "crosscheck", "--query", "list_incidents", "--sets", "2", "--rounds", "1"],
    ]
    env = {**os.environ, "CTXBENCH_DSN": dsn}
    try:
        with PsWatcher() as ps:
            for cmd in commands:
                before = set(out.glob("*/summary.json"))
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), timeout=900,
                                      env=env)
                assert PASSWORD not in proc.stdout + proc.stderr
                written = set(out.glob("*/summary.json")) - before
                if cmd[3] == "crosscheck":  # no budgets: it either ran or it did not
                    assert proc.returncode == 0 and not written, proc.stdout + proc.stderr
                    continue
                # the run finished and exited as its own report's verdict says (0 PASS/INCONCLUSIVE, 1 FAIL)
                assert len(written) == 1, proc.stdout + proc.stderr
                overall = json.loads(written.pop().read_text())["verdict"]["overall"]
                assert proc.returncode == verdicts.exit_code(overall), (overall, proc.stdout + proc.stderr)
        assert ps.samples > 10 and ps.leaks == []
        kinds = {p.parent.name.split("-")[0] for p in out.glob("*/meta.json")}
        assert len(list(out.glob("*/meta.json"))) == 3, kinds
        assert scan(tmp_path) == [str(scenario)]  # only the user's own file holds it
    finally:
        with connect(pg_server.dsn()) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS ctxbench_secret")
