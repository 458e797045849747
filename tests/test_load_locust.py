"""Locust runs end to end, headless, against the embedded server (each a few seconds).

Locust runs in subprocesses (as ``ctxbench load`` and the plain ``locust`` command run it), so
its gevent monkey-patching never reaches the test process.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxbench import scenario as scenarios
from ctxbench.datagen.generator import current_dataset
from ctxbench.load.settings import LoadSettings
from ctxbench.report.build import build_reports
from ctxbench.results import ResultsDir
from ctxbench.runs.load import run_load

pytestmark = [pytest.mark.db, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


def dataset_scenario(tmp: Path, dataset_target, body: str = "") -> scenarios.Scenario:
    """A load scenario whose [dataset] is exactly the shared test dataset, so it is reused."""
    with dataset_target.connect() as conn:
        params = current_dataset(conn)["params"]
    text = (f'name = "loadtest"\n[dataset]\nscale = {params["scale"]}\nseed = {params["seed"]}\n'
            f'months = {params["months"]}\nanchor = "{params["anchor"]}"\n'
            f'severities = "{params["severities"]}"\n'
            f'default_partition = {str(params["default_partition"]).lower()}\n'
            "[queries.weights]\nlist_incidents = 4\nget_incident = 3\n"
            "[[budgets]]\nphase = 'load'\nmetric = 'p95'\nmax = 60000.0\n"
            "[[budgets]]\nphase = 'load'\nmetric = 'error_rate'\nmax = 0.0\n" + body)
    path = tmp / "loadtest.toml"
    path.write_text(text)
    return scenarios.load(path)


def measurements(folder: Path) -> list:
    return list(ResultsDir(folder).iter_measurements())


def locust_aggregate(folder: Path) -> dict[str, str]:
    with (folder / "locust_stats.csv").open() as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    return rows["Aggregated"]


def test_closed_loop_run_writes_locust_stats_exact_latencies_and_the_report(
        tmp_path: Path, dataset_target) -> None:
    sc = dataset_scenario(tmp_path, dataset_target)
    with dataset_target.connect() as conn:
        checksum = current_dataset(conn)["checksum"]
    settings = LoadSettings.from_scenario(sc, users=2, spawn_rate=2, duration_s=6)
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=dataset_target.dsn)
    folder = out.results_dir
    assert out.exit_code == 0, (folder / "report.md").read_text()
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust.html", "meta.json",
                 "summary.json", "report.md", "report.html", "junit.xml"):
        assert (folder / name).exists(), name
    ms = measurements(folder)
    locust_total = json.loads((folder / "locust_summary.json").read_text())["total"]["requests"]
    assert len(ms) == locust_total > 0  # one process: every request Locust counted is recorded
    assert 0 < int(locust_aggregate(folder)["Request Count"]) <= locust_total  # CSV: last write
    assert {m.phase for m in ms} == {"load"} and all(m.ok for m in ms)
    assert {m.labels["mode"] for m in ms} == {"closed"}
    mix = {f"{q}[as_shipped]" for q in ("list_incidents", "get_incident")}
    assert mix <= {f"{m.query}[{m.variant}]" for m in ms}
    meta = ResultsDir(folder).read_meta()
    assert meta.kind == "load" and meta.status == "complete"
    assert meta.dataset["checksum"] == checksum and not meta.dataset["freshly_loaded"]
    assert meta.extra["locust"]["total"]["requests"] == locust_total
    summary = json.loads((folder / "summary.json").read_text())
    assert {g["phase"] for g in summary["groups"]} == {"load"}
    assert "Load run" in (folder / "report.md").read_text()
    # the default error budget: one check on every request of the run pooled, decided (a
    # closed loop of 6 s on list/get requests far exceeds the 368 error-free samples it needs)
    (whole,) = [v for v in summary["verdicts"] if (v["query"], v["phase"]) == ("all", "all")]
    measured = [m for m in ms if not m.warmup]
    assert len(measured) >= 368, len(measured)
    assert (whole["metric"], whole["budget_source"], whole["n"]) == ("error_rate", "default",
                                                                   len(measured))
    assert whole["verdict"] == "PASS" and whole["estimate"] == 0.0
    assert "Whole run (every query and phase pooled): ✅ PASS" in (folder / "report.md").read_text()


def test_plain_locust_command_gates_on_a_percentile(tmp_path: Path, pg_server) -> None:
    """`locust -f bench/locustfile.py ... --ctxbench-results DIR`: a p95 budget below the
    server's floor (pg_sleep 20 ms) fails the run with exit 1; the same data re-judged against
    a generous budget passes."""
    sleep_ms = 20.0
    toml = tmp_path / "gate.toml"
    toml.write_text(f'name = "gate"\n[[budgets]]\nphase = "load"\nmetric = "p95"\nmax = {sleep_ms / 2}\n')
    folder = tmp_path / "gate-run"
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
           "-u", "2", "-r", "2", "-t", "4s", "--host", pg_server.dsn("postgres"),
           "--ctxbench-scenario", str(toml), "--ctxbench-results", str(folder),
           "--ctxbench-synthetic-ms", str(sleep_ms), "--ctxbench-pool-size", "2",
           "--csv", str(folder / "locust"), "--only-summary"]
    env = {k: v for k, v in os.environ.items() if k != "CTXBENCH_DSN"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    ms = measurements(folder)
    assert ms and all(m.latency_ns >= sleep_ms * 1e6 for m in ms)  # exact, never below the floor
    summary = json.loads((folder / "summary.json").read_text())
    fails = [v for v in summary["verdicts"] if v["verdict"] == "FAIL"]
    assert any(v["metric"] == "p95" for v in fails), summary["verdicts"]
    assert (folder / "locust_stats.csv").exists() and (folder / "junit.xml").exists()
    results = ResultsDir(folder)
    meta = results.read_meta()
    # generous: p95 within a minute, and at most half the requests failed (the default 1 % needs
    # 368 error-free requests, about as many as this 4 s run makes)
    meta.budgets = [{"query": "*", "phase": "load", "metric": "p95", "max": 60000.0},
                    {"query": "all", "phase": "all", "metric": "error_rate", "max": 0.5}]
    results.write_meta(meta)
    again = build_reports(folder)
    assert again.exit_code == 0 and again.verdict == "PASS"


def test_distributed_open_loop_run_with_two_workers(tmp_path: Path, dataset_target) -> None:
    sc = dataset_scenario(tmp_path, dataset_target)
    settings = LoadSettings.from_scenario(sc, users=4, spawn_rate=4, duration_s=6, workers=2,
                                          mode="open", rate=20.0, pool_size=2)
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=dataset_target.dsn)
    folder = out.results_dir
    assert out.exit_code == 0, (folder / "report.md").read_text()
    for i in (1, 2):
        log = (folder / f"locust-worker-{i}.log").read_text()
        assert "ready: 2 connection(s)" in log, log[-2000:]
    ms = measurements(folder)
    locust_total = json.loads((folder / "locust_summary.json").read_text())["total"]["requests"]
    # workers stop recording when the master drains them; requests finishing after that are
    # only in Locust's counts (at most one in flight per user)
    assert 0 < len(ms) <= locust_total <= len(ms) + settings.users
    assert {m.labels["mode"] for m in ms} == {"open"}
    assert all("lag_ms" in m.metrics and m.metrics["lag_ms"] >= 0 for m in ms)
    assert len({m.seq for m in ms if m.query == "list_incidents"}) == sum(
        m.query == "list_incidents" for m in ms)  # one numbering over both workers


def test_capacity_search_finds_the_known_capacity_of_a_synthetic_server(
        tmp_path: Path, pg_server) -> None:
    """One connection serving pg_sleep(40 ms) handles at most 1000/40 = 25 req/s. Stepping
    10, 20, 30 ... req/s with a 150 ms p95 budget must stop at the first step above 25."""
    sleep_ms, budget_ms = 40.0, 150.0
    sc = scenarios.load_text('name = "capacity"\n', "<test>")
    settings = LoadSettings.from_scenario(
        sc, mode="capacity", synthetic_ms=sleep_ms, pool_size=1, users=3, spawn_rate=3,
        arrival="constant", start_rate=10.0, step_rate=10.0, step_seconds=2.0, max_rate=60.0,
        budget_ms=budget_ms)
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=pg_server.dsn("postgres"))
    server_capacity = 1000.0 / sleep_ms
    plan = settings.plan()
    rates = [plan.rate_of(k) for k in range(plan.n_steps)]
    expected = max(r for r in rates if r < server_capacity)
    cap = out.capacity
    assert cap is not None and cap["complete"], cap
    assert cap["capacity_rps"] == expected, json.dumps(cap["steps"], indent=1)
    failing = cap["steps"][-1]
    assert not failing["passed"] and failing["rate"] == min(r for r in rates if r > server_capacity)
    # past capacity the time goes into queueing (lag), not into the server
    assert failing["lag_p95_ms"] > failing["service_p95_ms"] >= sleep_ms
    assert out.exit_code == 0
    folder = out.results_dir
    assert json.loads((folder / "capacity.json").read_text()) == ResultsDir(folder).read_meta().extra[
        "capacity"]
    assert "Capacity" in (folder / "report.md").read_text()
    rows = json.loads((folder / "summary.json").read_text())["verdicts"]
    check = [v for v in rows if v["metric"] == "capacity"]
    assert len(check) == 1 and check[0]["verdict"] == "PASS" and check[0]["estimate"] == expected
    # past capacity errors are expected: the report's budgets are off, the run-wide one included
    assert not [v for v in rows if v["phase"] == "all"]


def test_capacity_warm_up_period_runs_before_the_first_step_and_is_not_judged(
        tmp_path: Path, pg_server) -> None:
    """warmup_s in capacity mode: a period at start_rate before step 0, recorded as warm-up,
    apart from every step's arrivals, samples and verdict."""
    sc = scenarios.load_text('name = "capwarm"\n', "<test>")
    settings = LoadSettings.from_scenario(
        sc, mode="capacity", synthetic_ms=5.0, pool_size=2, users=2, spawn_rate=2,
        arrival="constant", start_rate=20.0, step_rate=20.0, step_seconds=1.5, max_rate=40.0,
        budget_ms=500.0, warmup_s=2.0)
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=pg_server.dsn("postgres"))
    folder = out.results_dir
    cap = out.capacity
    assert cap is not None and cap["complete"] and cap["plan"]["warmup_s"] == 2.0, cap
    ms = measurements(folder)
    warm = [m for m in ms if m.warmup]
    first = [m for m in ms if not m.warmup and m.labels["step_rate"] == "20"]
    # 2 s at 20 req/s on a constant grid: 40 warm-up arrivals, every one served and flagged
    assert len(warm) == cap["warmup"]["served"] == cap["warmup"]["scheduled"] == 40
    assert {m.labels["step_rate"] for m in warm} == {"20"}  # at the start rate
    step0 = cap["steps"][0]
    assert step0["rate"] == 20.0 and step0["scheduled"] == 30  # 1.5 s at 20/s: no warm-up in it
    assert step0["completed"] == len(first) == 30 and step0["missing"] == 0
    arrivals = json.loads((folder / "arrivals.json").read_text())
    assert sum(arrivals["warmup_scheduled"].values()) == 40
    assert sum(arrivals["scheduled"].values()) == sum(s["scheduled"] for s in cap["steps"])
    report = (folder / "report.md").read_text()
    assert "A warm-up period of 2 s at 20 req/s" in report and "warm-up 2 s" in report


def test_unreachable_database_exits_3_with_the_password_masked(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    dsn = "host=127.0.0.1 port=1 user=postgres password=sekret dbname=x"
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
           "-u", "1", "-r", "1", "-t", "2s", "--host", dsn, "--ctxbench-results", str(folder)]
    env = {k: v for k, v in os.environ.items() if k != "CTXBENCH_DSN"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "cannot connect" in proc.stderr and "sekret" not in proc.stderr + proc.stdout
    meta = ResultsDir(folder).read_meta()
    assert meta.status == "incomplete" and "cannot connect" in meta.error and "sekret" not in meta.error


def test_bad_cli_options_are_usage_errors(tmp_path: Path) -> None:
    ctxbench = [sys.executable, "-c", "from ctxbench.cli import main; main()"]
    env = {**os.environ, "COLUMNS": "300"}  # one line per message
    proc = subprocess.run([*ctxbench, "load", "--mode", "burst", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "mode" in proc.stderr and "closed, open, capacity" in proc.stderr
    proc = subprocess.run([*ctxbench, "load", "--mode", "open", "--rate", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "rate" in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_overloaded_open_loop_reports_achieved_below_offered_and_counts_the_backlog(
        tmp_path: Path, pg_server) -> None:
    """One connection serving pg_sleep(40 ms) handles at most 25 req/s; 75 req/s are offered.
    The run must say achieved < offered, and the arrivals still waiting at the end must enter
    the percentiles as latencies over every budget (not vanish with the worst latencies)."""
    sc = scenarios.load_text('name = "overload"\n[[budgets]]\nphase = "load"\nmetric = "p99"\n'
                             'max = 60000.0\n', "<test>")
    settings = LoadSettings.from_scenario(
        sc, mode="open", synthetic_ms=40.0, pool_size=1, users=3, spawn_rate=3,
        arrival="constant", rate=75.0, duration_s=4)
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=pg_server.dsn("postgres"))
    summary = json.loads((out.results_dir / "summary.json").read_text())
    acc = summary["open_loop"]
    assert acc["achieved_rps"] < 0.6 * acc["offered_rps"], acc
    assert acc["unserved_total"] > 0 and acc["scheduled"] == acc["served"] + acc["unserved_total"]
    (group,) = [g for g in summary["groups"] if g["phase"] == "load"]
    assert group["n_unserved"] == acc["unserved_total"]
    assert group["n_censored"] >= group["n_unserved"]
    # more than 1 % of the arrivals never finished: the p99 is "slower than anything measured"
    assert group["latency_ms"]["p99"]["value"] is None
    (p99,) = [v for v in summary["verdicts"] if v["metric"] == "p99"]
    assert p99["verdict"] == "FAIL", p99
    assert "Offered" in (out.results_dir / "report.md").read_text()
