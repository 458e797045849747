"""The life of one results folder, shared by `ctxbench run`, `ctxbench vector` and `ctxbench load`.

Start: a run id, the folder, meta.json written before anything can fail. Middle: the server
and database, the dataset (reused or loaded), the server's facts, the dataset profile. End:
autovacuum restored, meta.json finalised (complete or incomplete), reports built from the
folder, and a failure re-raised with the folder's path, so partial results are never lost.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from ctxbench import __version__
from ctxbench.db import control
from ctxbench.db.connect import server_facts
from ctxbench.db.target import Target, make_server, open_target
from ctxbench.errors import CtxbenchError, InfraError
from ctxbench.measure.environment import git_revision, machine_facts
from ctxbench.queries import DatasetProfile
from ctxbench.results import ResultsDir, RunMeta
from ctxbench.results.model import utc_now
from ctxbench.scenario import Scenario

ANCHOR_REUSE_DAYS = 7


def run_id_for(scenario: Scenario) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]+', '-', scenario.name)}"


def start(scenario: Scenario, kind: str, out_dir: Path | None, extra: dict[str, Any]) -> tuple[ResultsDir,
                                                                                               RunMeta]:
    """Create the results folder and write meta.json before anything can fail."""
    run_id = run_id_for(scenario)
    results = ResultsDir(Path(out_dir or scenario.output.dir) / run_id).create()
    meta = RunMeta(run_id=run_id, kind=kind, scenario_name=scenario.name, scenario_text=scenario.text,
                   started_at=utc_now(), ctxbench_version=__version__, git_sha=git_revision(),
                   machine=machine_facts(), budgets=scenario.resolved_budgets(), extra=extra)
    results.write_meta(meta)
    return results, meta


def open_scenario_target(scenario: Scenario, meta: RunMeta, *, dsn: str | None,
                         home: Path | None) -> Target:
    """The scenario's server and database (a --dsn overrides the scenario's backend)."""
    backend = "dsn" if dsn else scenario.database.backend
    server = make_server(backend, dsn=dsn or scenario.database.dsn, home=home,
                         settings=scenario.database.settings)
    target = open_target(server, scenario.database_name if backend != "dsn" else None)
    meta.backend, meta.target = target.kind, target.masked_dsn
    return target


def record_dataset(meta: RunMeta, dataset: dict[str, Any], fresh: bool) -> None:
    meta.dataset = {**dataset.get("params", {}), "checksum": dataset.get("checksum"),
                    "freshly_loaded": fresh, "load": dataset.get("summary", {})}
    anchor = dataset.get("params", {}).get("anchor")
    if anchor:
        age = (dt.datetime.now(dt.UTC).date() - dt.date.fromisoformat(str(anchor))).days
        if age > ANCHOR_REUSE_DAYS:
            meta.extra.setdefault("warnings", []).append(
                f"the dataset's time range ends {age} days ago ({anchor}): queries relative to NOW() "
                "(trend, top failing actions, namespace health) return little or nothing")


def describe_server(target: Target, results: ResultsDir, meta: RunMeta) -> DatasetProfile:
    """Server facts into meta.json, the dataset profile into profile.json (it is large)."""
    with target.connect() as conn:
        meta.server = server_facts(conn)
        profile = DatasetProfile.from_database(conn)
    results.write_json("profile.json", profile.to_json())
    results.write_meta(meta)
    return profile


def finish(results: ResultsDir, meta: RunMeta, target: Target | None, error: BaseException | None,
           *, strict: bool, what: str = "run"):
    """Finalise meta.json, build the reports, and re-raise a failure naming the folder."""
    from ctxbench.report.build import build_reports

    if error is not None:
        meta.error = f"{type(error).__name__}: {error}"
    if target is not None:
        _restore_autovacuum(target)
    results.close()
    meta.ended_at = utc_now()
    meta.status = "incomplete" if error else "complete"
    results.write_meta(meta)
    reports = build_reports(results.path, strict=strict)
    if error is None:
        return reports
    if isinstance(error, KeyboardInterrupt):
        raise error
    if isinstance(error, CtxbenchError):
        error.args = (f"{error} (partial results and report in {results.path})",)
        raise error
    raise InfraError(f"{what} failed: {type(error).__name__}: {error} "
                     f"(partial results and report in {results.path})") from error


def _restore_autovacuum(target: Target) -> None:
    """Leave the tables as a user expects them: autovacuum on (best effort after a failure)."""
    try:
        with target.connect() as conn:
            control.set_autovacuum(conn, True)
    except Exception:
        pass
