"""The phases: each puts the server in a stated condition, then measures the query core.

A phase is one module of this package that defines its ``[phases.<name>]`` spec and its body and
ends with a ``Phase`` registration (``base.Phase``: name, spec, measured names, what it does to
the server, how it is summarised); ``REGISTRY`` below lists them in their default order. The
scenario's ``[phases]`` tables, the allowed names of ``phases.run`` and of budget phases, and the
phase runner's dispatch all come from ``REGISTRY``: to add a phase, write its module and add one
line here.

- cold: every sample is the first execution after its own cache reset, on a new connection.
- warm: a warm-up over the *same* parameter sets that are then measured, then shuffled passes.
- before_analyze / after_analyze: statistics cleared (autovacuum off) or freshly ANALYZEd,
  then a cold and a warm part ("<phase>.cold", "<phase>.warm").
- hnsw_warmup: from cold, searches 1..N, per prewarm mode (none / index / index+heap).
- cache: the service's read path (Redis L1, L2 map, single-flight) in front of the core.
"""

from __future__ import annotations

from ctxbench.measure.phases import analyze, cache, cold, hnsw_warmup, warm
from ctxbench.measure.phases.base import (
    Phase,
    PhaseContext,
    Progress,
    RunState,
    SilentProgress,
    run_guarded,
)

REGISTRY: tuple[Phase, ...] = (
    cold.PHASE,
    warm.PHASE,
    analyze.BEFORE,
    analyze.AFTER,
    hnsw_warmup.PHASE,
    cache.PHASE,
)
NAMES: tuple[str, ...] = tuple(p.name for p in REGISTRY)
MEASURED: tuple[str, ...] = tuple(m for p in REGISTRY for m in p.measured)
DEFAULT_RUN: tuple[str, ...] = ("before_analyze", "after_analyze", "hnsw_warmup")


def get(name: str) -> Phase:
    for phase in REGISTRY:
        if phase.name == name:
            return phase
    raise KeyError(name)


__all__ = ["DEFAULT_RUN", "MEASURED", "NAMES", "REGISTRY", "Phase", "PhaseContext", "Progress",
           "RunState", "SilentProgress", "get", "run_guarded"]
