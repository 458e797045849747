"""``cold``: every sample is the first execution after its own cache reset, on a new connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctxbench.config import spec_field
from ctxbench.db import control
from ctxbench.measure import plans, tails
from ctxbench.measure.phases.base import (
    Phase,
    PhaseContext,
    RunState,
    distinct_note,
    run_guarded,
    space_labels,
    stats_state,
)
from ctxbench.queries import Query
from ctxbench.results import PhaseRecord

REMEDY_COLD_DOC = ("cold samples per remedy pair in the remedy-schema stage (a PASS of p95 "
                   "needs many; the as-shipped stage only needs enough to FAIL); default: the same")


@dataclass
class ColdSpec:
    samples: int = spec_field(20, lo=1, hi=10000)
    remedy_samples: int | None = spec_field(None, lo=1, hi=10000, doc=REMEDY_COLD_DOC)

    def for_stage(self, remedy_stage: bool) -> int:
        """Cold samples in this schema stage."""
        return self.remedy_samples if remedy_stage and self.remedy_samples is not None else self.samples


class StartActions:
    """Variants that declare a server-start action (``Variant.on_start``): run it after each
    cache reset of that variant only, before its sample or plan, and sum up what it cost."""

    def __init__(self, ctx: PhaseContext) -> None:
        self.ctx = ctx
        self.runs: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def after_reset(self, q: Query, variant: str) -> None:
        action = q.variant(variant).on_start
        if action is None:
            return
        with self.ctx.connections.open() as conn:
            done = control.run_on_start(conn, action.targets())
        done["action"] = action.text()
        self.runs.setdefault((q.name, variant), []).append(done)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for (query, variant), runs in self.runs.items():
            secs = [r["seconds"] for r in runs]
            out.append({
                "type": "on_start", "query": query, "variant": variant,
                "action": runs[-1]["action"], "runs": len(runs),
                "seconds_mean": round(sum(secs) / len(secs), 3), "seconds_max": max(secs),
                "blocks": max(r["blocks"] for r in runs), "mb": max(r["mb"] for r in runs),
                "relations": runs[-1]["relations"],
                "resident_blocks_min": min(r["resident_blocks"] for r in runs)})
        return out


def measure_cold(ctx: PhaseContext, phase: str, samples: int) -> PhaseRecord:
    """``samples`` cold executions per (query, variant), each after its own cache reset (and
    the variant's server-start action, when it declares one)."""

    def body(record: PhaseRecord) -> None:
        record.stats_state = stats_state(ctx)
        sets = {(q.name, v): ctx.sampler.sample(q.name, samples, stream=phase, distinct=True)
                for q, v in ctx.workload}
        order = [(i, q, v) for i in range(samples) for q, v in ctx.workload]
        ctx.rng(phase).shuffle(order)
        ctx.progress.start(f"{phase}: {len(order)} cold executions", len(order) + len(ctx.workload))
        methods: dict[str, int] = {}
        reset_seconds = 0.0
        measured: dict[tuple[str, str], list] = {}
        starts = StartActions(ctx)
        for i, q, v in order:
            outcome = control.reset_caches(ctx.target, ctx.cache_reset)
            methods[outcome.method] = methods.get(outcome.method, 0) + 1
            reset_seconds += outcome.seconds
            starts.after_reset(q, v)
            ps = sets[(q.name, v)][i]
            with ctx.connections.open() as conn:
                m = ctx.recorder.measure(conn, phase, q, v, ps,
                                         labels={"cache": "cold", "stats": record.stats_state,
                                                 **space_labels(sets[(q.name, v)])})
            measured.setdefault((q.name, v), []).append((ps, m))
            ctx.progress.advance()
        for q, v in ctx.workload:  # plan capture: its own reset, so it shows the cold buffers
            control.reset_caches(ctx.target, ctx.cache_reset)
            starts.after_reset(q, v)
            with ctx.connections.open() as conn:
                plans.capture(ctx.results, conn, phase, q, v, ctx.plan_set(q),
                              note="first execution after a cache reset")
            for n, pick in enumerate(tails.tail_picks(measured.get((q.name, v), []),
                                                      limit=ctx.tail_plans), start=1):
                control.reset_caches(ctx.target, ctx.cache_reset)
                starts.after_reset(q, v)
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
        record.events += starts.events()
        if any("OS cache stayed warm" in m for m in methods):
            record.notes.append("the OS page cache could not be dropped: 'cold' means shared buffers "
                                "only; reads may still be served from the OS cache")
        else:
            record.notes.append("OS page cache dropped before every sample; the VM's host may "
                                "still cache the disk")

    return run_guarded(ctx, phase, body)


def _run(ctx: PhaseContext, spec: ColdSpec, state: RunState) -> None:
    measure_cold(ctx, "cold", spec.for_stage(ctx.remedy_stage))


PHASE = Phase(
    name="cold", spec=ColdSpec, measured=("cold",), run=_run,
    effect="before every sample: server restart + OS page cache dropped (or buffers evicted), "
           "the variant's server-start action if it declares one (on_start: pg_prewarm), "
           "a new connection",
    summary="latency per (query, variant): percentiles over distinct parameter sets; budgets")
