"""What every phase shares: the context it measures in, the record it writes, and ``Phase``, the
registration that makes a module a phase (see ``ctxbench.measure.phases``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

from ctxbench.db import control
from ctxbench.db.target import Target
from ctxbench.measure import tails
from ctxbench.measure.executor import ConnectionSpec, Recorder
from ctxbench.queries import ParamSampler, ParamSet, Query
from ctxbench.results import PhaseRecord, ResultsDir
from ctxbench.results.model import utc_now


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


@dataclass
class RunState:
    """What a phase may need to know about the run around it."""

    source: str = "<scenario>"          # the scenario file, for error messages
    fresh_statistics: bool = False      # tables loaded in this run and never analyzed yet
    redis_url: str | None = None        # the cache phase's Redis (default: ctxbench starts one)
    home: Path | None = None            # the embedded server's home (where a Redis lives too)


Fail = Callable[[str, Any, str], NoReturn]  # (key, value, what is allowed) -> raises UsageError


@dataclass(frozen=True)
class Phase:
    """A phase: one module defines its spec and its body, then registers this in
    ``ctxbench.measure.phases.REGISTRY``; names are never listed anywhere else."""

    name: str                        # in [phases].run and the table [phases.<name>]
    spec: type                       # the dataclass of its [phases.<name>] table
    measured: tuple[str, ...]        # the phase names its measurements carry
    effect: str                      # what it does to the server before measuring
    summary: str                     # how its measurements are summarised
    run: Callable[[PhaseContext, Any, RunState], None]
    once: bool = False               # measured in the first schema stage only
    check: Callable[[Any, Fail, bool], None] | None = None  # (spec, fail, selected): extra rules


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


def stats_state(ctx: PhaseContext) -> str:
    with ctx.target.connect() as conn:
        return control.statistics_state(conn)["state"]

