"""The phase runner end to end on a tiny dataset: every phase, files, exit codes, incomplete runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctxbench import scenario as scenarios
from ctxbench.cli import app
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.errors import InfraError
from ctxbench.results import ResultsDir
from ctxbench.runs.phase_run import run_scenario
from ctxbench.scenario import select_workload


def ctxbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctxbench", *args], capture_output=True, text=True,
                          timeout=600)


# Same settings as the session server, so the runner's `up` does not restart it with others.
SETTINGS = """
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
"""


def tiny(name: str, extra: str = "", *, queries: str = '["*"]', reset: str = "evict") -> str:
    return f"""
name = "{name}"
[database]
cache_reset = "{reset}"
name = "runner_tiny"
{SETTINGS}
[dataset]
scale = 1000
seed = 7
[queries]
include = {queries}
[phases]
run = ["before_analyze", "after_analyze", "hnsw_warmup"]
[phases.before_analyze]
cold_samples = 2
param_sets = 3
repeats = 1
[phases.after_analyze]
cold_samples = 2
param_sets = 3
repeats = 2
[phases.hnsw_warmup]
searches = 4
repeats = 1
modes = ["none", "index"]
{extra}
"""


@pytest.fixture(scope="module")
def full_run(pg_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory):
    sc = scenarios.load_text(tiny("tiny"), "tiny.toml")
    out = tmp_path_factory.mktemp("runs")
    outcome = run_scenario(sc, out_dir=out, home=pg_server.home)
    return sc, outcome


def test_every_phase_is_measured_and_recorded(full_run) -> None:
    sc, outcome = full_run
    assert outcome.status == "complete"
    folder = ResultsDir(outcome.results_dir)
    workload = select_workload(sc)
    ms = list(folder.iter_measurements())
    measured = Counter(m.phase for m in ms if not m.warmup)
    n = len(workload)
    assert measured["before_analyze.cold"] == 2 * n
    assert measured["before_analyze.warm"] == 3 * 1 * n
    assert measured["after_analyze.cold"] == 2 * n
    assert measured["after_analyze.warm"] == 3 * 2 * n
    assert measured["hnsw_warmup"] == 4 * 2
    warmups = Counter(m.phase for m in ms if m.warmup)
    assert warmups["after_analyze.warm"] == (3 + 1) * n  # the sets, plus the plan's set
    assert all(m.ok for m in ms), [m.error for m in ms if not m.ok][:3]
    # warm measurements use distinct parameter sets, never one repeated set (unless the query
    # takes no parameters at all: then every execution is the same statement by definition)
    for q, _ in workload:
        if q.parameterless:
            continue
        ids = {m.param_id for m in ms if m.query == q.name and m.phase == "after_analyze.warm"}
        assert len(ids) >= 2, q.name
    curve = sorted((m.labels["prewarm"], m.seq) for m in ms if m.phase == "hnsw_warmup")
    assert curve == [("index", i) for i in range(1, 5)] + [("none", i) for i in range(1, 5)]


def test_phase_records_state_what_was_done(full_run) -> None:
    _, outcome = full_run
    records = {r.phase: r for r in ResultsDir(outcome.results_dir).read_phases()}
    assert records["before_analyze"].stats_state == "no_stats"
    assert records["after_analyze"].stats_state == "analyzed"
    assert records["before_analyze.cold"].stats_state == "no_stats"
    assert records["after_analyze.warm"].stats_state == "analyzed"
    assert any(e["type"] == "analyze" for e in records["after_analyze"].events)
    cold = records["after_analyze.cold"]
    assert cold.cache_reset and cold.cache_reset.startswith("evict_buffers")
    prewarm = [e for e in records["hnsw_warmup"].events if e.get("mode") == "index"]
    assert prewarm and prewarm[0]["prewarm_blocks"] > 0
    assert all(r.status == "complete" for r in records.values())


def test_plans_and_metadata_are_written(full_run) -> None:
    sc, outcome = full_run
    folder = ResultsDir(outcome.results_dir)
    everything = folder.read_plans()
    plans = [p for p in everything if not p.get("role")]
    tails = [p for p in everything if p.get("role")]
    phases_with_plans = {p["phase"] for p in plans}
    assert {"before_analyze.cold", "after_analyze.warm", "hnsw_warmup"} <= phases_with_plans
    warm = [p for p in plans if p["phase"] == "after_analyze.warm"]
    assert len(warm) == len(select_workload(sc))
    assert all("summary" in p and p["summary"]["fingerprint"] for p in warm)
    # every phase captures a query's plan with the same parameter set: changes are the server's
    for q, v in select_workload(sc):
        ids = {p["param_id"] for p in plans if p["query"] == q.name and p["variant"] == v}
        assert len(ids) == 1, q.name
    # a cold capture is the first execution after the reset: the workload's relations are
    # read into shared buffers (not found there)
    cold_reads = [n.get("Shared Read Blocks", 0) for p in plans
                  if p["phase"] == "after_analyze.cold" and p["query"] == "success_rate"
                  for n in _nodes(p["plan"][0]["Plan"])
                  if str(n.get("Relation Name", "")).startswith("resource_action_traces")]
    assert cold_reads and sum(cold_reads) > 0, cold_reads
    # ... and the tail's sets: the slowest sample of each group first, with kind and latency
    for q, v in select_workload(sc):
        mine = [t for t in tails if (t["query"], t["variant"], t["phase"])
                == (q.name, v, "after_analyze.warm")]
        assert sorted(t["role"] for t in mine)[0] == "tail-1", (q.name, v)
        slowest = next(t for t in mine if t["role"] == "tail-1")
        assert slowest["why"] == "slowest sample" and slowest["param_kind"]
        assert slowest["measured_ms"] >= max(t["measured_ms"] or 0 for t in mine)
    meta = folder.read_meta()
    assert meta is not None and meta.status == "complete"
    assert meta.dataset["checksum"] and meta.dataset["scale"] == 1000
    assert meta.server["settings"]["shared_buffers"]
    assert "vector" in meta.server["extensions"]
    assert meta.scenario_text == sc.text
    assert meta.machine["cpu_count"]


def _nodes(node: dict) -> list[dict]:
    return [node] + [n for child in node.get("Plans", []) for n in _nodes(child)]


def test_reports_are_built_and_rebuildable(full_run) -> None:
    _, outcome = full_run
    folder = outcome.results_dir
    for name in ("summary.json", "report.md", "report.html", "junit.xml", "latencies.csv"):
        assert (folder / name).exists(), name
    before = json.loads((folder / "summary.json").read_text())
    (folder / "report.md").unlink()
    result = CliRunner().invoke(app, ["report", str(folder)])
    # the rebuilt report exits as its verdict says: 1 for FAIL, else 0 (not strict)
    expected = 1 if before["verdict"]["overall"] == "FAIL" else 0
    assert result.exit_code == expected, result.output
    assert (folder / "report.md").exists()
    after = json.loads((folder / "summary.json").read_text())
    before.pop("generated_at", None)
    after.pop("generated_at", None)
    assert before == after


def test_a_violated_budget_exits_1(pg_server: EmbeddedServer, tmp_path: Path) -> None:
    budget = ('\n[[budgets]]\nquery = "success_rate"\nphase = "after_analyze.warm"\n'
              'metric = "p50"\nmax = 0.0001\n')
    text = tiny("fail", budget, queries='["success_rate"]').replace(
        'run = ["before_analyze", "after_analyze", "hnsw_warmup"]', 'run = ["after_analyze"]').replace(
        "param_sets = 3\nrepeats = 2", "param_sets = 10\nrepeats = 2")
    path = tmp_path / "fail.toml"
    path.write_text(text)
    result = ctxbench("run", "--scenario", str(path), "--out", str(tmp_path / "out"),
                      "--home", str(pg_server.home))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout


def test_bad_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[dataset]\nscale = -5\n")
    result = ctxbench("run", "--scenario", str(path))
    assert result.returncode == 2
    assert "dataset.scale" in result.stderr and "Traceback" not in result.stderr


def test_a_run_failing_halfway_keeps_measurements_and_reports_incomplete(
        pg_server: EmbeddedServer, tmp_path: Path) -> None:
    class Exploding:
        count = 0

        def start(self, description: str, total: int) -> None:
            pass

        def advance(self, n: int = 1) -> None:
            self.count += n
            if self.count == 5:
                raise RuntimeError("simulated crash")

        def log(self, message: str) -> None:
            pass

    sc = scenarios.load_text(tiny("crash"), "crash.toml")
    with pytest.raises(InfraError, match="partial results"):
        run_scenario(sc, out_dir=tmp_path, home=pg_server.home, progress=Exploding())
    (folder,) = list(tmp_path.iterdir())
    results = ResultsDir(folder)
    assert results.read_meta().status == "incomplete"
    assert len(list(results.iter_measurements())) >= 4
    assert any(r.status == "failed" for r in results.read_phases())
    assert "incomplete" in (folder / "report.md").read_text().lower()


def test_exit_0_when_every_check_passes_even_strict(pg_server: EmbeddedServer,
                                                    tmp_path: Path) -> None:
    """A run whose every budget check is decided PASS exits 0, also with --strict; the
    summary says so (not an INCONCLUSIVE that exits 0 by leniency)."""
    # 10 executions cannot show the default error_rate <= 1 % (that needs 368): switched off
    budgets = ('\n[[budgets]]\nmetric = "p95"\noff = true\n'
               '\n[[budgets]]\nquery = "all"\nphase = "all"\nmetric = "error_rate"\noff = true\n'
               '\n[[budgets]]\nquery = "success_rate"\nphase = "after_analyze.warm"\n'
               'metric = "p50"\nmax = 60000.0\n')
    text = tiny("pass", budgets, queries='["success_rate"]').replace(
        'run = ["before_analyze", "after_analyze", "hnsw_warmup"]', 'run = ["after_analyze"]').replace(
        "cold_samples = 2\nparam_sets = 3\nrepeats = 2", "cold_samples = 0\nparam_sets = 10\nrepeats = 1")
    path = tmp_path / "pass.toml"
    path.write_text(text)
    result = ctxbench("run", "--scenario", str(path), "--out", str(tmp_path / "out"),
                      "--home", str(pg_server.home), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = list((tmp_path / "out").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["verdict"]["overall"] == "PASS"
    assert summary["verdict"]["counts"] == {"PASS": 1, "FAIL": 0, "INCONCLUSIVE": 0}  # the p50


def test_exit_3_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = ctxbench("run", "--scenario", "smoke", "--out", str(tmp_path / "out"), "--dsn",
                      "host=127.0.0.1 port=9 user=nobody dbname=nothing connect_timeout=3")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot connect" in result.stderr and "Traceback" not in result.stderr
    (folder,) = list((tmp_path / "out").iterdir())  # the failed run still left its folder
    assert json.loads((folder / "meta.json").read_text())["status"] == "incomplete"


def test_remedies_run_in_their_own_schema_stage(pg_server: EmbeddedServer, tmp_path: Path) -> None:
    """Each remedy schema variant is built, timed and sized, and the remedies measured with
    their own cold sample and warm parameter set counts; then the remedy schema is removed and
    as_shipped measured (its plans cannot use the remedy's index)."""
    text = f"""
name = "staged"
[database]
cache_reset = "evict"
name = "runner_staged"
{SETTINGS}
[dataset]
scale = 1000
seed = 7
[queries]
include = ["list_incidents", "success_rate"]
variants = ["as_shipped", "indexed", "rollup"]
[phases]
run = ["after_analyze"]
[phases.after_analyze]
cold_samples = 2
remedy_cold_samples = 3
param_sets = 3
remedy_param_sets = 4
repeats = 1
"""
    sc = scenarios.load_text(text, "staged.toml")
    outcome = run_scenario(sc, out_dir=tmp_path, home=pg_server.home)
    folder = ResultsDir(outcome.results_dir)
    records = folder.read_phases()
    names = [r.phase for r in records]
    assert names.count("after_analyze.cold") == 2 and "remedy_schema" in names
    built = next(r for r in records if r.phase == "remedy_schema")
    variants = {e["name"]: e for e in built.events if e["type"] == "schema_variant"}
    assert set(variants) == {"list_order_index", "trace_rollup"}
    assert variants["list_order_index"]["bytes"] > 0 and variants["list_order_index"]["seconds"] > 0
    assert {r["name"] for r in variants["trace_rollup"]["relations"]} >= {"trace_rollup"}
    cold = Counter((m.query, m.variant) for m in folder.iter_measurements()
                   if m.phase == "after_analyze.cold" and not m.warmup)
    assert cold == {("list_incidents", "as_shipped"): 2, ("success_rate", "as_shipped"): 2,
                    ("list_incidents", "indexed"): 3, ("success_rate", "rollup"): 3}
    plans = folder.read_plans()
    shipped = [p for p in plans if p["variant"] == "as_shipped" and p["query"] == "list_incidents"]
    indexed = [p for p in plans if p["variant"] == "indexed" and not p.get("role")]
    def walks_ts_index(p) -> bool:  # the parent index or its per-partition children
        return any("idx_rat_ts_id_desc" in line or "action_timestamp_id_idx" in line
                   for line in p["summary"]["outline"])
    assert shipped and not any(walks_ts_index(p) for p in shipped)
    assert any(walks_ts_index(p) for p in indexed), [p["summary"]["outline"] for p in indexed]
    meta = folder.read_meta()
    assert [s["name"] for s in meta.extra["schema_stages"]] == ["remedy schema",
                                                                "as_shipped schema"]
    # remedies first, then their schema removed before as_shipped is measured
    assert names.index("remedy_schema") < names.index("shipped_schema")
    removed = next(r for r in records if r.phase == "shipped_schema").events[0]["removed"]
    assert sorted(removed) == ["list_order_index", "trace_rollup"]
    summary = outcome.reports.summary_data
    entries = {e["query"]: e for e in summary["remedies"]}
    assert set(entries) == {"list_incidents", "success_rate"}
    indexed = entries["list_incidents"]["remedies"][0]
    assert indexed["variant"] == "indexed" and indexed["build"]["bytes"] > 0
    assert indexed["cold"]["n"] == 3 and indexed["warm"]["n"] == 4
    assert indexed["plan_changes"] and indexed["plan_changes"][0] != "same plan shape"
    assert entries["list_incidents"]["as_shipped"]["cold"]["n"] == 2
    diagnosed = [v for v in summary["verdicts"] if v["verdict"] != "PASS" and v["unit"] == "ms"]
    assert diagnosed and all(v["diagnosis"]["text"] for v in diagnosed)
    assert all(v["diagnosis"]["plan"]["role"].startswith("tail-") for v in diagnosed)
    md = (outcome.results_dir / "report.md").read_text()
    assert "## Remedies" in md and "## Diagnosis" in md and "plans diff" in md


def test_os_cache_that_cannot_be_dropped_is_reported_not_assumed(pg_server: EmbeddedServer,
                                                                  tmp_path: Path) -> None:
    """'Cold' is a property to report: where the OS page cache cannot be dropped (a non-root
    process, or a server ctxbench does not run), the cold phase says so in every record."""
    import os
    import pwd
    import shutil

    user = next((u for u in ("nobody", "embedded_postgres") if _has_user(u, pwd)), None)
    runuser = shutil.which("runuser") or shutil.which("su")
    if user is None or runuser is None or os.geteuid() != 0:
        pytest.skip("needs root and an unprivileged user to compare against")
    import inspect

    from ctxbench.db.embedded import drop_os_page_cache

    # ctxbench's own function, run by an unprivileged process (a system python: the test's venv
    # may live where that user cannot read)
    probe = f"import os\n{inspect.getsource(drop_os_page_cache)}\nprint(drop_os_page_cache())"
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    as_user = subprocess.run([runuser, "-u", user, "--", python, "-c", probe],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert as_user.stdout.strip() == "False", as_user.stderr  # the kernel refuses a non-root drop

    # a server reached by DSN: ctxbench evicts its buffers but cannot drop that host's OS cache
    sc = scenarios.load_text(tiny("dsncold", queries='["get_incident"]').replace(
        'run = ["before_analyze", "after_analyze", "hnsw_warmup"]', 'run = ["after_analyze"]'),
        "dsncold.toml")
    outcome = run_scenario(sc, out_dir=tmp_path, dsn=pg_server.dsn())
    records = [r for r in ResultsDir(outcome.results_dir).read_phases() if r.phase.endswith(".cold")]
    assert records and all("OS cache stayed warm" in (r.cache_reset or "") for r in records)
    assert all(any("could not be dropped" in n for n in r.notes) for r in records)


def _has_user(name: str, pwd) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_a_query_that_needs_no_remedy_is_judged_in_the_remedy_stage() -> None:
    """get_incident needs no remedy: its shipped statement is measured with the remedies'
    sample counts (remedy stage), while the other queries' as_shipped stay on the shipped
    schema."""
    from ctxbench.measure import schema_stages
    from ctxbench.queries import catalog

    workload = [(catalog["get_incident"], "as_shipped"), (catalog["list_incidents"], "as_shipped"),
                (catalog["list_incidents"], "skip")]
    shipped, remedied = schema_stages.split(workload, [])
    assert [(q.name, v) for q, v in remedied.pairs] == [("get_incident", "as_shipped"),
                                                         ("list_incidents", "skip")]
    assert [(q.name, v) for q, v in shipped.pairs] == [("list_incidents", "as_shipped")]
    assert "list_day_counts" in remedied.schema and shipped.schema == []
