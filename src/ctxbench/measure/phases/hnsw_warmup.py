"""``hnsw_warmup``: from cold, searches 1..N, per prewarm mode (none / index / index+heap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctxbench.config import spec_field
from ctxbench.db import control
from ctxbench.errors import UsageError
from ctxbench.measure import plans
from ctxbench.measure.phases.base import Fail, Phase, PhaseContext, RunState, run_guarded, stats_state
from ctxbench.queries import ParamSet, Query, catalog
from ctxbench.results import PhaseRecord

MODES = ("none", "index", "index+heap")


@dataclass
class HnswWarmupSpec:
    searches: int = spec_field(50, lo=1, hi=100000, doc="searches 1..N after each cold start")
    repeats: int = spec_field(3, lo=1, hi=1000, doc="cold starts per prewarm mode")
    modes: list[str] = spec_field(factory=lambda: list(MODES))
    query: str = spec_field("semantic_search")
    variant: str = spec_field("as_shipped")


def measure_hnsw_warmup(ctx: PhaseContext, spec: HnswWarmupSpec, query: Query) -> PhaseRecord:
    phase = "hnsw_warmup"

    def body(record: PhaseRecord) -> None:
        record.stats_state = stats_state(ctx)
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


def _run(ctx: PhaseContext, spec: HnswWarmupSpec, state: RunState) -> None:
    query = catalog.get(spec.query)
    if query is None or not query.has_variant(spec.variant):
        raise UsageError(f"{state.source}: phases.hnsw_warmup names an unknown query/variant "
                         f"{spec.query}[{spec.variant}]")
    measure_hnsw_warmup(ctx, spec, query)


def _check(spec: HnswWarmupSpec, fail: Fail, selected: bool) -> None:
    for i, mode in enumerate(spec.modes):
        if mode not in MODES:
            fail(f"phases.hnsw_warmup.modes[{i}]", mode, "allowed: " + ", ".join(MODES))


PHASE = Phase(
    name="hnsw_warmup", spec=HnswWarmupSpec, measured=("hnsw_warmup",), run=_run, check=_check,
    once=True,
    effect="a cache reset before each curve; then no prewarm, pg_prewarm of the HNSW indexes, or "
           "of indexes + heap",
    summary="latency by search number per prewarm mode; searches to steady state")
