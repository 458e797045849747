"""Turning a load results folder into a finished run: metadata, report, exit code.

Used by ``ctxbench load`` after Locust exits, and by the locustfile itself when the plain
``locust`` command was given ``--ctxbench-results`` (then the Locust master owns the folder).
Either way the report comes from ``ctxbench.report.build_reports`` over measurements.jsonl,
exactly as for ``ctxbench run``; budgets on the ``load`` phase gate the exit code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxbench import __version__
from ctxbench.db.dsn import mask_password
from ctxbench.load.settings import LoadSettings
from ctxbench.measure.environment import git_revision, machine_facts
from ctxbench.results import PhaseRecord, ResultsDir, RunMeta
from ctxbench.results.model import utc_now
from ctxbench.scenario import Scenario

CAPACITY_FILE = "capacity.json"
ARRIVALS_FILE = "arrivals.json"
LOCUST_SUMMARY_FILE = "locust_summary.json"
LOCUST_CSV_PREFIX = "locust"
LOCUST_HTML = "locust.html"


def run_budgets(scenario: Scenario, settings: LoadSettings) -> list[dict[str, Any]]:
    """The budgets the report applies. A capacity search steps the rate *until* a budget
    breaks, so the failing top step is the expected outcome, not a failed run: there every
    budget is switched off in the report (same patterns, labels mode=capacity, threshold null)
    and the search's own verdict (capacity.json) decides."""
    budgets = scenario.resolved_budgets()
    if settings.mode != "capacity":
        return budgets
    off = []
    for b in budgets:
        op = "max" if "max" in b else "min"
        off.append({"query": b["query"], "phase": b["phase"], "variant": b.get("variant", "*"),
                    "metric": b["metric"], "labels": {"mode": "capacity"}, op: None})
    return budgets + off


def new_meta(run_id: str, scenario: Scenario, settings: LoadSettings, mix_shares: dict[str, float],
             *, driver: str) -> RunMeta:
    return RunMeta(run_id=run_id, kind="load", scenario_name=scenario.name,
                   scenario_text=mask_password(scenario.text), started_at=utc_now(),
                   ctxbench_version=__version__,
                   git_sha=git_revision(), machine=machine_facts(),
                   budgets=run_budgets(scenario, settings),
                   extra={"load": {**settings.to_json(), "driver": driver}, "mix": mix_shares,
                          "sampler_seed": settings.seed,
                          "latency_definition": latency_definition(settings.mode)})


def latency_definition(mode: str) -> str:
    if mode == "closed":
        return ("closed loop: latency = connection wait + execute + fetch, from when the user "
                "was ready to send")
    return ("open loop: latency = end - intended start (lag + connection wait + execute + "
            "fetch); coordinated omission avoided")


def phase_record(meta: RunMeta, locust: dict[str, Any] | None, capacity: dict[str, Any] | None,
                 error: str | None) -> PhaseRecord:
    """The load phase as the report lists phases: what was done, and Locust's totals."""
    load = meta.extra.get("load", {})
    notes = [latency_definition(str(load.get("mode", "closed")))]
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

    Exit code: the report's (0 pass, 1 a budget failed); in capacity mode 1 when not even the
    first step kept its budget (the capacity is below the lowest rate tried), else 0; 3 when
    the run broke (an error, nothing measured, a capacity search without an answer).
    """
    from ctxbench.report.build import build_reports

    results = ResultsDir(path)
    meta = results.read_meta()
    if meta is None:
        raise FileNotFoundError(f"{path}: no meta.json")
    capacity = read_json(results.path / CAPACITY_FILE)
    locust = read_json(results.path / LOCUST_SUMMARY_FILE)
    if capacity is not None:
        meta.extra["capacity"] = capacity
    if locust is not None:
        meta.extra["locust"] = locust
        if locust.get("error") and not error:
            error = str(locust["error"])
    files = sorted(p.name for p in results.path.glob(f"{LOCUST_CSV_PREFIX}*"))
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
    if mode == "capacity" and not error and capacity is not None:
        code = 1 if capacity.get("capacity_rps") is None else 0
    return Finished(code, str(reports.verdict), reports, capacity)
