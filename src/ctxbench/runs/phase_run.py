"""``ctxbench run``: scenario → database → data → measurements → reports.

The run writes as it goes (meta.json first, measurements line by line, phases as they end),
so a run that fails halfway still leaves its measurements and gets a report marked
incomplete. Reports are built only from the folder, exactly as ``ctxbench report`` would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxbench.db.target import Target
from ctxbench.measure import phases as ph
from ctxbench.measure import schema_stages
from ctxbench.measure.executor import ConnectionSpec, Recorder
from ctxbench.queries import schema_variants_needed
from ctxbench.runs import session
from ctxbench.scenario import Scenario, select_workload


@dataclass
class RunOutcome:
    results_dir: Path
    status: str
    exit_code: int
    verdict: str
    reports: Any = None
    error: str | None = None


def run_scenario(scenario: Scenario, *, out_dir: Path | None = None, dsn: str | None = None,
                 home: Path | None = None, progress: ph.Progress | None = None,
                 redis_url: str | None = None) -> RunOutcome:
    progress = progress or ph.SilentProgress()
    workload = select_workload(scenario)
    results, meta = session.start(scenario, "run", out_dir, extra={
        "workload": [f"{q.name}[{v}]" for q, v in workload], "phases": scenario.phases.run,
        "sampler_seed": scenario.sampler_seed, "prepare_threshold": scenario.database.prepare_threshold,
        "statement_timeout_ms": scenario.database.statement_timeout_ms,
        "cache_reset": scenario.database.cache_reset, "surface": scenario.queries.surface})
    error: BaseException | None = None
    target: Target | None = None
    sampler = None
    try:
        target = session.open_scenario_target(scenario, meta, dsn=dsn, home=home)
        stages = schema_stages.split(workload, list(scenario.database.schema_variants))
        if len(stages) > 1:
            # remedies first: if the run is cut short, what it came for is measured
            stages = [stages[1], stages[0]]
            meta.extra["schema_stages"] = [s.describe() for s in stages]
        _, fresh, profile = session.prepare_data(
            target, scenario, results, meta, progress,
            schema_variants=stages[1].schema if len(stages) > 1
            else schema_variants_needed(workload))
        ctx = ph.PhaseContext(
            target=target, results=results, run_id=meta.run_id,
            recorder=Recorder(results, meta.run_id),
            connections=ConnectionSpec(target.dsn, scenario.database.prepare_threshold,
                                       scenario.database.statement_timeout_ms),
            sampler=(sampler := session.windowed_sampler(scenario, profile, meta, workload, results)),
            workload=workload,
            cache_reset=scenario.database.cache_reset, seed=scenario.sampler_seed, progress=progress)
        for n, stage in enumerate(stages):
            remedy_stage = len(stages) > 1 and n == 0
            if remedy_stage:
                _build_stage_schema(ctx, stages[1].schema, stage)
            elif n:
                _restore_shipped_schema(ctx, stage)
            ctx.workload = stage.pairs
            ctx.remedy_stage = remedy_stage
            _run_phases(ctx, scenario, fresh and n == 0, remedies_stage=remedy_stage,
                        redis_url=redis_url, home=home)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    if sampler is not None:
        session.record_windows(sampler, meta)
    reports = session.finish(results, meta, target, error, strict=scenario.output.strict)
    return RunOutcome(results.path, meta.status, reports.exit_code, reports.verdict, reports, meta.error)


def _build_stage_schema(ctx: ph.PhaseContext, base: list[str], stage: schema_stages.Stage) -> None:
    """The remedies' schema variants, built one by one, timed and sized (phase remedy_schema)."""
    def body(record) -> None:
        ctx.progress.log(f"building remedy schema: {', '.join(stage.schema)}")
        record.events.extend(schema_stages.build(ctx.target, base, stage.schema))
        record.notes.append("the phases below measure the remedies on this schema: "
                            + ", ".join(f"{q.name}[{v}]" for q, v in stage.pairs)
                            + "; the remedy schema is removed before as_shipped is measured")
    ph.run_guarded(ctx, "remedy_schema", body)


def _restore_shipped_schema(ctx: ph.PhaseContext, stage: schema_stages.Stage) -> None:
    """Remove the remedies' schema variants, so as_shipped plans cannot use them."""
    def body(record) -> None:
        t0 = time.perf_counter()
        record.events.append({"type": "schema_removed",
                              "removed": schema_stages.restore(ctx.target, stage.schema),
                              "seconds": round(time.perf_counter() - t0, 3)})
        record.notes.append("remedy schema variants removed; the phases below measure: "
                            + ", ".join(f"{q.name}[{v}]" for q, v in stage.pairs))
    ph.run_guarded(ctx, "shipped_schema", body)


def _run_phases(ctx: ph.PhaseContext, scenario: Scenario, fresh: bool,
                remedies_stage: bool = False, *, redis_url: str | None = None,
                home: Path | None = None) -> None:
    spec = scenario.phases
    if "before_analyze" in spec.run and spec.run.index("before_analyze") != 0:
        ctx.progress.log("note: before_analyze does not run first; statistics are cleared for it")
    state = ph.RunState(source=scenario.source, fresh_statistics=fresh, redis_url=redis_url, home=home)
    for name in spec.run:
        phase = ph.get(name)
        if phase.once and remedies_stage:
            continue  # measured once: over the shipped schema, not in the remedy-schema stage
        t0 = time.perf_counter()
        phase.run(ctx, getattr(spec, name), state)
        state.fresh_statistics = False
        ctx.progress.log(f"phase {name} done in {time.perf_counter() - t0:.1f} s")
