"""``ctxbench scale``: one scenario measured at several dataset sizes, in one study folder.

Layout: ``<out>/<run-id>/`` is a results folder of its own (``meta.json`` with ``kind = "scale"``,
``measurements.jsonl``, the reports) whose measurements are every point's, each labelled
``scale = N``; ``points/<point-run-id>/`` holds each point's complete run (its own meta, plans
and reports), made by the normal run lifecycle. Each size gets its own database
(``<database>_<N>``), reused while its dataset matches (or restored from a snapshot with
``dataset.snapshot``). The growth laws are built from the folder by the report
(``ctxbench.report.scale``), so ``ctxbench report DIR`` rebuilds them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ctxbench.errors import CtxbenchError, UsageError
from ctxbench.measure import phases as ph
from ctxbench.results import ResultsDir
from ctxbench.runs import session
from ctxbench.runs.phase_run import RunOutcome, run_scenario
from ctxbench.scenario import Scenario, select_workload

POINTS_DIR = "points"


def point_scenario(scenario: Scenario, scale: int) -> Scenario:
    """The scenario at one size: its own dataset scale, database and name."""
    return dataclasses.replace(
        scenario, name=f"{scenario.name}-{scale}",
        dataset=dataclasses.replace(scenario.dataset, scale=scale),
        database=dataclasses.replace(scenario.database, name=f"{scenario.database_name}_{scale}"))


def _copy_measurements(point_dir: Path, study: ResultsDir, scale: int) -> int:
    n = 0
    for m in ResultsDir(point_dir).iter_measurements():
        m.labels = {**(m.labels or {}), "scale": str(scale)}
        study.append_measurement(m)
        n += 1
    return n


def run_scale_study(scenario: Scenario, *, points: list[int] | None = None,
                    out_dir: Path | None = None, dsn: str | None = None, home: Path | None = None,
                    progress: ph.Progress | None = None) -> RunOutcome:
    progress = progress or ph.SilentProgress()
    sizes = sorted(set(points or scenario.scale.points))
    if len(sizes) < 2:
        raise UsageError(f"a scale study needs at least two sizes; got {sizes}")
    for n in sizes:
        if not 1000 <= n <= 10_000_000:
            raise UsageError(f"scale point {n} is not allowed; allowed range: 1000 .. 10000000")
    workload = select_workload(scenario)  # fail on a bad selection before anything runs
    study, meta = session.start(scenario, "scale", out_dir, extra={
        "workload": [f"{q.name}[{v}]" for q, v in workload], "phases": scenario.phases.run,
        "sampler_seed": scenario.sampler_seed,
        "scale": {"points": sizes, "horizon": scenario.scale.horizon,
                  "bootstrap": scenario.scale.bootstrap, "runs": []}})
    runs: list[dict[str, Any]] = meta.extra["scale"]["runs"]
    error: BaseException | None = None
    try:
        for n in sizes:
            progress.log(f"scale point {n:,} traces")
            entry: dict[str, Any] = {"scale": n}
            runs.append(entry)
            point_error: CtxbenchError | None = None
            folder: Path | None
            try:
                outcome = run_scenario(point_scenario(scenario, n), out_dir=study.path / POINTS_DIR,
                                       dsn=dsn, home=home, progress=progress)
                folder = outcome.results_dir
            except CtxbenchError as exc:  # the point's folder is named in the message
                point_error = exc
                found = sorted((study.path / POINTS_DIR).glob(f"*-{scenario.name}-{n}"))
                folder = found[-1] if found else None
            if folder is not None:
                pmeta = ResultsDir(folder).read_meta()
                entry.update(dir=str(folder.relative_to(study.path)),
                             status=pmeta.status if pmeta else "incomplete",
                             dataset=pmeta.dataset if pmeta else {},
                             windows=(pmeta.extra or {}).get("windows") if pmeta else None,
                             measurements=_copy_measurements(folder, study, n))
            if point_error is not None:
                entry["error"] = str(point_error)
                study.write_meta(meta)
                raise point_error
            study.write_meta(meta)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    reports = session.finish(study, meta, None, error, strict=scenario.output.strict,
                             what="scale study")
    return RunOutcome(study.path, meta.status, reports.exit_code, reports.verdict, reports,
                      meta.error)
