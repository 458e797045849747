"""``before_analyze`` / ``after_analyze``: statistics cleared (autovacuum off) or freshly ANALYZEd,
then a cold part and a warm part ("<phase>.cold", "<phase>.warm")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctxbench.config import spec_field
from ctxbench.db import control
from ctxbench.measure.phases.base import Phase, PhaseContext, RunState, run_guarded, stats_state
from ctxbench.measure.phases.cold import REMEDY_COLD_DOC, ColdSpec, measure_cold
from ctxbench.measure.phases.warm import WarmSpec, measure_warm
from ctxbench.results import PhaseRecord


@dataclass
class AnalyzeSpec:
    cold_samples: int = spec_field(20, lo=0, hi=10000)
    remedy_cold_samples: int | None = spec_field(None, lo=0, hi=10000, doc=REMEDY_COLD_DOC)
    param_sets: int = spec_field(50, lo=0, hi=100000)
    remedy_param_sets: int | None = spec_field(None, lo=0, hi=100000,
                                               doc="warm parameter sets in the remedy-schema stage")
    warmup_passes: int = spec_field(1, lo=0, hi=100)
    repeats: int = spec_field(2, lo=1, hi=1000)

    def cold_part(self) -> ColdSpec:
        """The cold part is the ``cold`` phase's measurement: one spec, one body."""
        return ColdSpec(samples=self.cold_samples, remedy_samples=self.remedy_cold_samples)

    def warm_part(self, remedy_stage: bool) -> WarmSpec:
        sets = self.param_sets
        if remedy_stage and self.remedy_param_sets is not None:
            sets = self.remedy_param_sets
        return WarmSpec(param_sets=sets, warmup_passes=self.warmup_passes, repeats=self.repeats)


def clear_statistics(ctx: PhaseContext) -> dict[str, Any]:
    with ctx.target.connect() as conn:
        return control.clear_statistics(conn)


def analyze(ctx: PhaseContext) -> dict[str, Any]:
    with ctx.target.connect() as conn:
        return control.analyze(conn)


def measure_analyze(ctx: PhaseContext, phase: str, spec: AnalyzeSpec, *, fresh: bool) -> list[PhaseRecord]:
    """before_analyze (statistics absent) or after_analyze (ANALYZE first), cold then warm."""
    def prepare(record: PhaseRecord) -> None:
        if phase == "before_analyze":
            if fresh:
                with ctx.target.connect() as conn:
                    control.set_autovacuum(conn, False)
                    state = control.statistics_state(conn)
                record.notes.append("tables freshly loaded in this run, never analyzed, autovacuum off")
                record.events.append({"type": "statistics", **state})
            else:
                state = clear_statistics(ctx)
                record.notes.append("statistics cleared: pg_statistic rows deleted and reltuples "
                                    "reset to -1, autovacuum off on the tables")
                record.events.append({"type": "clear_statistics", **state})
        else:
            result = analyze(ctx)
            record.notes.append(f"ANALYZE of the three tables took {result['analyze_seconds']} s")
            record.events.append({"type": "analyze", **result})
        record.stats_state = stats_state(ctx)

    records = [run_guarded(ctx, phase, prepare)]
    cold_samples = spec.cold_part().for_stage(ctx.remedy_stage)
    if cold_samples > 0:
        records.append(measure_cold(ctx, f"{phase}.cold", cold_samples))
    warm_spec = spec.warm_part(ctx.remedy_stage)
    if warm_spec.param_sets > 0:
        records.append(measure_warm(ctx, f"{phase}.warm", warm_spec))
    return records


def _before(ctx: PhaseContext, spec: AnalyzeSpec, state: RunState) -> None:
    measure_analyze(ctx, "before_analyze", spec, fresh=state.fresh_statistics)


def _after(ctx: PhaseContext, spec: AnalyzeSpec, state: RunState) -> None:
    measure_analyze(ctx, "after_analyze", spec, fresh=False)


_SUMMARY = "latency per (query, variant) of each part, as cold and warm; plan changes across ANALYZE"
BEFORE = Phase(
    name="before_analyze", spec=AnalyzeSpec, run=_before, summary=_SUMMARY,
    measured=("before_analyze.cold", "before_analyze.warm"),
    effect="no statistics: tables freshly loaded, or pg_statistic rows deleted and reltuples reset; "
           "autovacuum off")
AFTER = Phase(
    name="after_analyze", spec=AnalyzeSpec, run=_after, summary=_SUMMARY,
    measured=("after_analyze.cold", "after_analyze.warm"),
    effect="ANALYZE of the three tables (timed)")
