"""The life of a load run: provision the data, run Locust headless, finish the results folder,
build the reports, decide the exit code.

``run_load`` is ``ctxbench load``; ``finalize`` also finishes a folder the plain ``locust``
command wrote (the locustfile calls it when Locust quits, see ``finish_locust_run``).

Locust runs as the plain ``locust`` command would (``python -m locust -f <locustfile>
--headless --csv --html``), as a subprocess, so that gevent's monkey-patching never touches
this process; with ``workers > 0`` it is a master bound to 127.0.0.1 plus that many worker
processes, exactly the layout one would start by hand on several machines. The DSN reaches
the Locust processes through ``CTXBENCH_DSN`` (never on a command line, where ``ps`` shows it).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ctxbench import load as load_package
from ctxbench import signals
from ctxbench.db import control
from ctxbench.db.connect import server_facts
from ctxbench.db.dsn import mask_password
from ctxbench.db.target import Target
from ctxbench.errors import CtxbenchError, InfraError, UsageError
from ctxbench.load import meta as load_meta
from ctxbench.load.settings import LoadSettings
from ctxbench.load.workload import Mix, build_mix, synthetic_mix
from ctxbench.measure import phases as ph
from ctxbench.report.build import build_reports
from ctxbench.results import PhaseRecord, ResultsDir
from ctxbench.results.model import RunMeta, utc_now
from ctxbench.runs import session
from ctxbench.scenario import Scenario

log = logging.getLogger("ctxbench.load")

STARTUP_ALLOWANCE_S = 90.0  # locust start-up, worker connection, report building
WORKER_EXIT_WAIT_S = 15.0


@dataclass
class LoadOutcome:
    results_dir: Path
    exit_code: int
    verdict: str
    reports: Any
    capacity: dict[str, Any] | None
    locust: dict[str, Any] | None


def phase_record(meta: RunMeta, locust: dict[str, Any] | None, capacity: dict[str, Any] | None,
                 error: str | None) -> PhaseRecord:
    """The load phase as the report lists phases: what was done, and Locust's totals."""
    load = meta.extra.get("load", {})
    notes = [load_meta.latency_definition(str(load.get("mode", "closed")))]
    if capacity:
        notes.append(str(capacity.get("summary")))
    events: list[dict[str, Any]] = [{"event": "load", **{k: load.get(k) for k in (
        "mode", "users", "workers", "pool_size", "duration_s", "rate", "arrival", "warmup_s")}}]
    if locust and locust.get("total"):
        events.append({"event": "locust_totals", **locust["total"]})
    return PhaseRecord(run_id=meta.run_id, phase="load", started_at=meta.started_at,
                       ended_at=meta.ended_at, status="failed" if error else "complete",
                       notes=notes, events=events, error=error)


@dataclass
class Finished:
    exit_code: int
    verdict: str
    reports: Any
    capacity: dict[str, Any] | None


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def finalize(path: Path | str, *, strict: bool = False, error: str | None = None) -> Finished:
    """Merge what Locust wrote into meta.json, build the reports and decide the exit code.

    Exit code: the report's (0 pass, 1 a budget failed; INCONCLUSIVE 0 unless strict); in
    capacity mode the search is the run's check (``analysis.load.capacity_verdict``): 1 when
    the first step failed, 0 with a capacity, an undecided first step is INCONCLUSIVE; 3 when
    the run broke (an error, nothing measured, a capacity search without an answer).
    """
    results = ResultsDir(path)
    meta = results.read_meta()
    if meta is None:
        raise FileNotFoundError(f"{path}: no meta.json")
    capacity = read_json(results.path / load_meta.CAPACITY_FILE)
    locust = read_json(results.path / load_meta.LOCUST_SUMMARY_FILE)
    if capacity is not None:
        meta.extra["capacity"] = capacity
    if locust is not None:
        meta.extra["locust"] = locust
        if locust.get("error") and not error:
            error = str(locust["error"])
    files = sorted(p.name for p in results.path.glob(f"{load_meta.LOCUST_CSV_PREFIX}*"))
    if files:
        meta.extra.setdefault("locust", {})["files"] = files
    measured = results.path / "measurements.jsonl"
    if not error and (not measured.exists() or measured.stat().st_size == 0):
        error = "no request was measured (see locust.log)"
    mode = meta.extra.get("load", {}).get("mode")
    if mode == "capacity" and (capacity is None or not capacity.get("complete")):
        error = error or "the capacity search did not finish (see capacity.json / locust.log)"
    if error:
        meta.error = error
    meta.status = "incomplete" if error else "complete"
    meta.ended_at = meta.ended_at or utc_now()
    results.write_meta(meta)
    if not results.read_phases():
        results.append_phase(phase_record(meta, locust, capacity, error))
    reports = build_reports(results.path, strict=strict)
    code = 3 if error else int(reports.exit_code)
    return Finished(code, str(reports.verdict), reports, capacity)


def finish_locust_run(results: Path, *, strict: bool, error: str | None, error_code: int) -> int:
    """The end of a plain ``locust`` run given ``--ctxbench-results``: its master (or single
    process) owned the folder; finish it, build the reports, and return the exit code Locust
    should exit with (the error's code when the run broke)."""
    try:
        done = finalize(results, strict=strict, error=error)
    except Exception as exc:
        log.error("ctxbench: building the report failed: %s", exc)
        return 3
    code = error_code if error else done.exit_code
    log.info("ctxbench: verdict %s, exit code %d, report %s", done.verdict, code,
             results / "report.md")
    if done.capacity:
        log.info("ctxbench: %s", done.capacity.get("summary"))
    return code


def locustfile_path() -> Path:
    """The locustfile ``ctxbench load`` runs (the package's copy of bench/locustfile.py)."""
    return Path(load_package.__file__).with_name("locustfile.py")


def require_locust() -> None:
    if importlib.util.find_spec("locust") is None:
        raise UsageError("ctxbench load needs Locust, which is not installed: "
                         "pip install 'ctxbench[load]'")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mix_for(scenario: Scenario, settings: LoadSettings) -> Mix:
    return synthetic_mix(settings.synthetic_ms) if settings.synthetic_ms else build_mix(scenario)


def locust_commands(scenario: Scenario, settings: LoadSettings, results: Path, *,
                    port: int | None = None, locustfile: Path | None = None) -> list[list[str]]:
    """[master-or-local command, worker commands...] for this run."""
    base = [sys.executable, "-m", "locust", "-f", str(Path(locustfile or locustfile_path()).resolve())]
    scenario_arg = str(scenario_copy(scenario, results))
    main = [*base, "--headless", "-u", str(settings.users), "-r", f"{settings.spawn_rate:g}",
            "--csv", str(results.resolve() / load_meta.LOCUST_CSV_PREFIX),
            "--html", str(results.resolve() / load_meta.LOCUST_HTML),
            "--only-summary", "--stop-timeout", "5", "--ctxbench-scenario", scenario_arg,
            "--ctxbench-results", str(results.resolve()), "--ctxbench-managed",
            *settings.locust_options()]
    if settings.mode != "capacity":
        main += ["-t", f"{math.ceil(settings.duration_s)}s"]
    if settings.workers == 0:
        return [main]
    assert port is not None
    main += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(settings.workers), "--expect-workers-max-wait", "60"]
    workers = [[*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
               for _ in range(settings.workers)]
    return [main, *workers]


def scenario_copy(scenario: Scenario, results: Path) -> Path:
    """The scenario text next to the results: what every Locust process reads (and a record)."""
    folder = results.resolve() / "scenario"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_-]+', '-', scenario.name)}.toml"
    text = mask_password(scenario.text)  # children get the DSN by environment, never from here
    if not text.strip():
        text = f'name = "{scenario.name}"\n'
    elif "name" not in scenarios_keys(text):
        text = f'name = "{scenario.name}"\n' + text
    path.write_text(text, encoding="utf-8")
    return path


def scenarios_keys(text: str) -> set[str]:
    import tomllib

    return set(tomllib.loads(text))


def prepare_target(scenario: Scenario, settings: LoadSettings, meta: RunMeta, *, dsn: str | None,
                   home: Path | None, progress: ph.Progress) -> Target:
    """Server up, database there, dataset reused or loaded, statistics fresh."""
    from ctxbench.runs.session import prepare_dataset

    target = session.open_scenario_target(scenario, meta, dsn=dsn, home=home)
    if not settings.synthetic_ms:
        dataset, fresh = prepare_dataset(target, scenario, progress)
        meta.dataset = {**dataset.get("params", {}), "checksum": dataset.get("checksum"),
                        "freshly_loaded": fresh}
        with target.connect() as conn:
            state = control.statistics_state(conn)
            if state["state"] != "analyzed":
                progress.log("tables have no statistics: running ANALYZE before the load")
                meta.extra["analyze"] = control.analyze(conn)
            else:
                meta.extra["analyze"] = {"skipped": "statistics present", **state}
    with target.connect() as conn:
        meta.server = server_facts(conn)
    return target


def run_load(scenario: Scenario, settings: LoadSettings, *, out_dir: Path | None = None,
             dsn: str | None = None, home: Path | None = None, strict: bool = False,
             progress: ph.Progress | None = None, locustfile: Path | None = None) -> LoadOutcome:
    progress = progress or ph.SilentProgress()
    from ctxbench.runs.validate import check_scenario

    require_locust()
    if not settings.synthetic_ms:
        check_scenario(scenario, "load")
    mix = mix_for(scenario, settings)
    run_id, results = session.create_results(scenario, out_dir)
    meta = load_meta.new_meta(run_id, scenario, settings, mix.shares(), driver="ctxbench load")
    results.write_meta(meta)
    error: str | None = None
    code = 0
    target: Target | None = None
    try:
        target = prepare_target(scenario, settings, meta, dsn=dsn, home=home, progress=progress)
        results.write_meta(meta)
        code = _run_locust(scenario, settings, results.path, target.dsn, progress, locustfile)
        if code != 0:
            error = _locust_error(results.path, code)
    except CtxbenchError as exc:
        meta.error = str(exc)
        meta.status = "incomplete"
        results.write_meta(meta)
        raise
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: Locust is stopped; report what was measured
        finalize(results.path, strict=strict, error=signals.describe(exc))
        raise
    finally:
        session.release(target)
    done = finalize(results.path, strict=strict, error=error)
    if error is not None:
        cls = UsageError if code == 2 else InfraError
        raise cls(f"load run failed: {error} (partial results and report in {results.path})")
    final = ResultsDir(results.path).read_meta()
    return LoadOutcome(results.path, done.exit_code, done.verdict, done.reports, done.capacity,
                       final.extra.get("locust") if final else None)


def _run_locust(scenario: Scenario, settings: LoadSettings, results: Path, dsn: str,
                progress: ph.Progress, locustfile: Path | None) -> int:
    port = free_port() if settings.workers else None
    commands = locust_commands(scenario, settings, results, port=port, locustfile=locustfile)
    env = {**os.environ, "CTXBENCH_DSN": dsn, "PYTHONUNBUFFERED": "1"}
    logs: list[IO[bytes]] = []
    procs: list[subprocess.Popen[bytes]] = []
    expected = settings.expected_seconds
    deadline = time.monotonic() + expected + STARTUP_ALLOWANCE_S
    try:
        for i, cmd in enumerate(commands):
            name = "locust.log" if i == 0 else f"locust-worker-{i}.log"
            fh: IO[bytes] = (results / name).open("wb")
            logs.append(fh)
            procs.append(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                          cwd=str(results)))
        label = (f"Locust {settings.mode}: {settings.users} users"
                 + (f", {settings.workers} workers" if settings.workers else "")
                 + (f", {settings.rate:g} req/s" if settings.mode == "open" else ""))
        progress.start(label, math.ceil(expected))
        master = procs[0]
        t0 = time.monotonic()
        shown = 0
        while master.poll() is None:
            if time.monotonic() > deadline:
                raise InfraError(f"Locust did not finish within {expected + STARTUP_ALLOWANCE_S:.0f} s; "
                                 f"stopped it (see {results / 'locust.log'})")
            for i, p in enumerate(procs[1:], start=1):
                if p.poll() not in (None, 0):
                    raise InfraError(f"Locust worker {i} exited with code {p.returncode} "
                                     f"(see {results / f'locust-worker-{i}.log'})")
            time.sleep(0.5)
            now = min(int(time.monotonic() - t0), math.ceil(expected))
            if now > shown:
                progress.advance(now - shown)
                shown = now
        for p in procs[1:]:
            try:
                p.wait(timeout=WORKER_EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                p.terminate()
        return int(master.returncode)
    finally:
        stop_processes(procs)
        for fh in logs:
            fh.close()


def stop_processes(procs: list[subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    """SIGTERM to every process still running, then SIGKILL to those alive after one shared
    grace period: no Locust master or worker outlives ctxbench."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in alive:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _locust_error(results: Path, code: int) -> str:
    """Why Locust exited with ``code``: the error ctxbench's Locust process recorded (e.g. a lost
    connection, once), else the last error lines of its log."""
    log_path = results / "locust.log"
    recorded = (read_json(results / load_meta.LOCUST_SUMMARY_FILE) or {}).get("error")
    if recorded:
        return f"{recorded} (see {log_path})"
    tail = _log_tail(log_path)
    return f"Locust exited with code {code}; see {log_path}" + (f": {tail}" if tail else "")


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    errors = [ln for ln in text if "error" in ln.lower()]
    return " | ".join((errors or text)[-lines:])
