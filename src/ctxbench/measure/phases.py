"""The phases: each puts the server in a stated condition, then measures the query core.

- cold: every sample is the first execution after its own cache reset, on a new connection.
- warm: a warm-up over the *same* parameter sets that are then measured (a warm-up with other
  parameters leaves the measured pages cold), then shuffled measured passes.
- before_analyze / after_analyze: statistics cleared (autovacuum off) or freshly ANALYZEd,
  then a cold and a warm part ("<phase>.cold", "<phase>.warm").
- hnsw_warmup: from cold, searches 1..N, per prewarm mode (none / index / index+heap).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ctxbench.db import control
from ctxbench.db.target import Target
from ctxbench.measure import plans, statements, tails
from ctxbench.measure.executor import ConnectionSpec, Recorder
from ctxbench.queries import ParamSampler, ParamSet, Query
from ctxbench.results import PhaseRecord, ResultsDir
from ctxbench.results.model import utc_now
from ctxbench.scenario import AnalyzeSpec, ColdSpec, HnswWarmupSpec, WarmSpec


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def log(self, message: str) -> None: ...


class SilentProgress:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        pass


@dataclass
class PhaseContext:
    target: Target
    results: ResultsDir
    run_id: str
    recorder: Recorder
    connections: ConnectionSpec
    sampler: ParamSampler
    workload: list[tuple[Query, str]]  # (query, variant) pairs to measure
    cache_reset: str = "restart"
    seed: int = 0
    progress: Progress = field(default_factory=SilentProgress)
    tail_plans: int = tails.TAIL_PLANS  # plans of the tail's parameter sets per group and phase
    remedy_stage: bool = False  # measuring the pairs that need remedy schema variants

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def plan_set(self, query: Query) -> ParamSet:
        """The one parameter set every phase captures its plan with, so a plan change between
        phases reflects the server's state (cache, statistics), not different parameters."""
        return self.sampler.sample(query.name, 1, stream="plan")[0]


def space_labels(sets: list[ParamSet]) -> dict[str, str]:
    """``param_space=exhausted`` when the sampler could not draw as many distinct statements as
    asked (see ``ctxbench.analysis.data``: executions are then the unit of evidence)."""
    return {"param_space": "exhausted"} if len({ps.id for ps in sets}) < len(sets) else {}


def distinct_note(sets: dict[tuple[str, str], list[ParamSet]]) -> str | None:
    short = {f"{q}[{v}]" if v != "as_shipped" else q: len({ps.id for ps in s})
             for (q, v), s in sets.items() if len({ps.id for ps in s}) < len(s)}
    if not short:
        return None
    return ("fewer distinct statements than parameter sets drawn (the parameter space is "
            "smaller): " + ", ".join(f"{k} {n}" for k, n in sorted(short.items())))


def _record(ctx: PhaseContext, phase: str) -> PhaseRecord:
    return PhaseRecord(run_id=ctx.run_id, phase=phase, started_at=utc_now())


def _finish(ctx: PhaseContext, record: PhaseRecord) -> PhaseRecord:
    record.ended_at = utc_now()
    if record.status == "running":
        record.status = "complete"
    ctx.results.append_phase(record)
    return record


def run_guarded(ctx: PhaseContext, phase: str, body: Callable[[PhaseRecord], None]) -> PhaseRecord:
    """Run a phase body; a failure is written to phases.jsonl before it propagates."""
    record = _record(ctx, phase)
    try:
        body(record)
    except BaseException as exc:
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        _finish(ctx, record)
        raise
    return _finish(ctx, record)


def _stats_state(ctx: PhaseContext) -> str:
    with ctx.target.connect() as conn:
        return control.statistics_state(conn)["state"]


def cold(ctx: PhaseContext, phase: str, spec: ColdSpec | AnalyzeSpec) -> PhaseRecord:
    samples = spec.samples if isinstance(spec, ColdSpec) else spec.cold_samples
    more = spec.remedy_samples if isinstance(spec, ColdSpec) else spec.remedy_cold_samples
    if ctx.remedy_stage and more is not None:
        samples = more

    def body(record: PhaseRecord) -> None:
        record.stats_state = _stats_state(ctx)
        sets = {(q.name, v): ctx.sampler.sample(q.name, samples, stream=phase, distinct=True)
                for q, v in ctx.workload}
        order = [(i, q, v) for i in range(samples) for q, v in ctx.workload]
        ctx.rng(phase).shuffle(order)
        ctx.progress.start(f"{phase}: {len(order)} cold executions", len(order) + len(ctx.workload))
        methods: dict[str, int] = {}
        reset_seconds = 0.0
        measured: dict[tuple[str, str], list] = {}
        for i, q, v in order:
            outcome = control.reset_caches(ctx.target, ctx.cache_reset)
            methods[outcome.method] = methods.get(outcome.method, 0) + 1
            reset_seconds += outcome.seconds
            ps = sets[(q.name, v)][i]
            with ctx.connections.open() as conn:
                m = ctx.recorder.measure(conn, phase, q, v, ps,
                                         labels={"cache": "cold", "stats": record.stats_state,
                                                 **space_labels(sets[(q.name, v)])})
            measured.setdefault((q.name, v), []).append((ps, m))
            ctx.progress.advance()
        for q, v in ctx.workload:  # plan capture: its own reset, so it shows the cold buffers
            control.reset_caches(ctx.target, ctx.cache_reset)
            with ctx.connections.open() as conn:
                plans.capture(ctx.results, conn, phase, q, v, ctx.plan_set(q),
                              note="first execution after a cache reset")
            for n, pick in enumerate(tails.tail_picks(measured.get((q.name, v), []),
                                                      limit=ctx.tail_plans), start=1):
                control.reset_caches(ctx.target, ctx.cache_reset)
                with ctx.connections.open() as conn:
                    plans.capture(ctx.results, conn, phase, q, v, pick.ps, role=f"tail-{n}",
                                  extra=pick.extra(),
                                  note="tail: first execution after a cache reset")
            ctx.progress.advance()
        note = distinct_note(sets)
        if note:
            record.notes.append(note)
        record.cache_reset = ", ".join(sorted(methods)) if methods else None
        record.events.append({"type": "cache_resets", "count": sum(methods.values()),
                              "methods": methods, "seconds": round(reset_seconds, 2)})
        if any("OS cache stayed warm" in m for m in methods):
            record.notes.append("the OS page cache could not be dropped: 'cold' means shared buffers "
                                "only; reads may still be served from the OS cache")
        else:
            record.notes.append("OS page cache dropped before every sample; the VM's host may "
                                "still cache the disk")

    return run_guarded(ctx, phase, body)


def warm(ctx: PhaseContext, phase: str, spec: WarmSpec | AnalyzeSpec) -> PhaseRecord:
    n_sets = spec.param_sets
    if ctx.remedy_stage and getattr(spec, "remedy_param_sets", None) is not None:
        n_sets = spec.remedy_param_sets

    def body(record: PhaseRecord) -> None:
        record.stats_state = _stats_state(ctx)
        record.cache_reset = "none (warm)"
        sets = {(q.name, v): ctx.sampler.sample(q.name, n_sets, stream=phase, distinct=True)
                for q, v in ctx.workload}
        warmups = [(q, v, ps) for q, v in ctx.workload for ps in sets[(q.name, v)]]
        measured = [(q, v, ps) for _ in range(spec.repeats) for q, v, ps in warmups]
        # the plan's parameter set is warmed too, so the captured plan sees warm pages
        warmups += [(q, v, ctx.plan_set(q)) for q, v in ctx.workload if spec.warmup_passes]
        ctx.rng(phase).shuffle(measured)
        total = len(warmups) * spec.warmup_passes + len(measured) + len(ctx.workload)
        ctx.progress.start(f"{phase}: warm-up + {len(measured)} executions", total)
        labels = {"cache": "warm", "stats": record.stats_state or ""}
        exhausted = {key: space_labels(s) for key, s in sets.items()}
        with ctx.connections.open() as conn:
            for n in range(spec.warmup_passes):
                order = list(warmups)
                ctx.rng(f"{phase}:warmup:{n}").shuffle(order)
                for q, v, ps in order:
                    ctx.recorder.measure(conn, phase, q, v, ps, warmup=True, labels=labels, seq=0)
                    ctx.progress.advance()
            before = statements.snapshot(conn)
            done: dict[tuple[str, str], list] = {}
            for q, v, ps in measured:
                m = ctx.recorder.measure(conn, phase, q, v, ps,
                                         labels={**labels, **exhausted[(q.name, v)]})
                done.setdefault((q.name, v), []).append((ps, m))
                ctx.progress.advance()
            after = statements.snapshot(conn)
            for q, v in ctx.workload:
                plans.capture(ctx.results, conn, phase, q, v, ctx.plan_set(q),
                              note="after the warm-up and measured passes")
                for n, pick in enumerate(tails.tail_picks(done.get((q.name, v), []),
                                                          limit=ctx.tail_plans), start=1):
                    plans.capture(ctx.results, conn, phase, q, v, pick.ps, role=f"tail-{n}",
                                  extra=pick.extra(), note="tail: warm, after the measured passes")
                ctx.progress.advance()
        record.events.append({"type": "pg_stat_statements", "statements": statements.delta(before, after)})
        record.notes.append(f"{n_sets} parameter sets drawn per query without "
                            f"replacement, warm-up passes {spec.warmup_passes} over the same sets, "
                            f"{spec.repeats} measured passes (repeats of a set are summarised "
                            "by their median: one sample per set)")
        note = distinct_note(sets)
        if note:
            record.notes.append(note)

    return run_guarded(ctx, phase, body)


def clear_statistics(ctx: PhaseContext, phase: str) -> dict[str, Any]:
    with ctx.target.connect() as conn:
        return control.clear_statistics(conn)


def analyze(ctx: PhaseContext) -> dict[str, Any]:
    with ctx.target.connect() as conn:
        return control.analyze(conn)


def analyze_phase(ctx: PhaseContext, phase: str, spec: AnalyzeSpec, *, fresh: bool) -> list[PhaseRecord]:
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
                state = clear_statistics(ctx, phase)
                record.notes.append("statistics cleared: pg_statistic rows deleted and reltuples "
                                    "reset to -1, autovacuum off on the tables")
                record.events.append({"type": "clear_statistics", **state})
        else:
            result = analyze(ctx)
            record.notes.append(f"ANALYZE of the three tables took {result['analyze_seconds']} s")
            record.events.append({"type": "analyze", **result})
        record.stats_state = _stats_state(ctx)

    records = [run_guarded(ctx, phase, prepare)]
    cold_samples = spec.cold_samples
    if ctx.remedy_stage and spec.remedy_cold_samples is not None:
        cold_samples = spec.remedy_cold_samples
    if cold_samples > 0:
        records.append(cold(ctx, f"{phase}.cold", spec))
    param_sets = spec.param_sets
    if ctx.remedy_stage and spec.remedy_param_sets is not None:
        param_sets = spec.remedy_param_sets
    if param_sets > 0:
        records.append(warm(ctx, f"{phase}.warm", spec))
    return records


def hnsw_warmup(ctx: PhaseContext, spec: HnswWarmupSpec, query: Query) -> PhaseRecord:
    phase = "hnsw_warmup"

    def body(record: PhaseRecord) -> None:
        record.stats_state = _stats_state(ctx)
        with ctx.target.connect() as conn:
            indexes = control.hnsw_indexes(conn)
            heaps = control.table_relations(conn)
        heaps = [h for h in heaps if h.startswith("resource_action_traces_")]
        total = len(spec.modes) * spec.repeats * spec.searches
        ctx.progress.start(f"{phase}: {spec.repeats}× {len(spec.modes)} modes × {spec.searches} searches",
                           total)
        methods: set[str] = set()
        for rep in range(spec.repeats):
            sets: list[ParamSet] = ctx.sampler.sample(query.name, spec.searches,
                                                                stream=f"{phase}.{rep}",
                                                                distinct=True)
            for mode in spec.modes:
                outcome = control.reset_caches(ctx.target, ctx.cache_reset)
                methods.add(outcome.method)
                event: dict[str, Any] = {"type": "prewarm", "mode": mode, "rep": rep}
                if mode != "none":
                    rels = indexes + (heaps if mode == "index+heap" else [])
                    with ctx.target.connect() as conn:
                        event.update(control.prewarm(conn, rels))
                record.events.append(event)
                with ctx.connections.open() as conn:
                    for i, ps in enumerate(sets, start=1):
                        ctx.recorder.measure(conn, phase, query, spec.variant, ps, seq=i,
                                             labels={"prewarm": mode, "rep": str(rep), "cache": "cold_start"})
                        ctx.progress.advance()
        record.cache_reset = ", ".join(sorted(methods))
        record.notes.append(f"each curve starts from a cache reset; {len(indexes)} HNSW partition "
                            "indexes; the same parameter sets are used for every mode within a repetition")
        control.reset_caches(ctx.target, ctx.cache_reset)
        with ctx.connections.open() as conn:
            plans.capture(ctx.results, conn, phase, query, spec.variant, ctx.plan_set(query),
                          note="first search after a cache reset, no prewarm")

    return run_guarded(ctx, phase, body)
