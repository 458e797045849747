"""``warm``: a warm-up over the *same* parameter sets that are then measured (a warm-up with other
parameters leaves the measured pages cold), then shuffled measured passes."""

from __future__ import annotations

from dataclasses import dataclass

from ctxbench.config import spec_field
from ctxbench.measure import plans, statements, tails
from ctxbench.measure.phases.base import (
    Phase,
    PhaseContext,
    RunState,
    distinct_note,
    run_guarded,
    space_labels,
    stats_state,
)
from ctxbench.results import PhaseRecord


@dataclass
class WarmSpec:
    param_sets: int = spec_field(50, lo=1, hi=100000, doc="distinct parameter sets per query")
    warmup_passes: int = spec_field(1, lo=0, hi=100, doc="untimed passes over the same sets first")
    repeats: int = spec_field(2, lo=1, hi=1000, doc="measured passes over the sets (shuffled)")


def measure_warm(ctx: PhaseContext, phase: str, spec: WarmSpec) -> PhaseRecord:
    """A warm-up over the same parameter sets that are then measured, then shuffled passes."""
    n_sets = spec.param_sets

    def body(record: PhaseRecord) -> None:
        record.stats_state = stats_state(ctx)
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


def _run(ctx: PhaseContext, spec: WarmSpec, state: RunState) -> None:
    measure_warm(ctx, "warm", spec)


PHASE = Phase(
    name="warm", spec=WarmSpec, measured=("warm",), run=_run,
    effect="none: a warm-up pass over the measured parameter sets, on one connection",
    summary="latency per (query, variant): one sample per parameter set (median of its repeats)")
