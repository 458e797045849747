"""What a load run sends: the weighted mix of (query, variant) pairs and per-lane parameters.

The mix comes from the scenario's query selection (``select_workload``: include/exclude,
variants, overrides) and its weights: ``[queries.weights]`` keyed by query name or by
``query[variant]``, and ``[queries.overrides.<query>] weight``; anything unweighted counts 1.
Every lane draws its mix choices and its parameter sets from its own seeded streams, so a
run is reproducible lane by lane, and lanes never replay each other's parameters.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from ctxbench.errors import UsageError
from ctxbench.queries import Executable
from ctxbench.scenario import Scenario

PARAM_SETS_PER_QUERY = 64  # distinct sets a lane cycles through per query (drawn lazily)


class ParamLike(Protocol):
    params: Any
    id: str
    kind: str | None


@dataclass
class Mix:
    """The (query, variant) pairs of a load run with their relative weights."""

    items: list[tuple[Executable, str]]
    weights: list[float]

    @property
    def names(self) -> list[str]:
        return [item_name(q.name, v) for q, v in self.items]

    def shares(self) -> dict[str, float]:
        total = sum(self.weights)
        return {n: w / total for n, w in zip(self.names, self.weights, strict=True)}

    def picker(self, rng: random.Random) -> Callable[[], int]:
        cum = list(itertools.accumulate(self.weights))
        indices = range(len(cum))

        def pick() -> int:
            if len(cum) == 1:
                return 0
            return rng.choices(indices, cum_weights=cum, k=1)[0]

        return pick


def item_name(query: str, variant: str) -> str:
    """How a request is named in Locust's statistics: ``query[variant]``."""
    return f"{query}[{variant}]"


def build_mix(scenario: Scenario) -> Mix:
    """The scenario's load mix; unknown weight keys and an all-zero mix are usage errors."""
    from ctxbench.scenario import select_workload

    workload = select_workload(scenario)
    qs = scenario.queries
    known_queries = {q.name for q, _ in workload}
    known_items = {item_name(q.name, v) for q, v in workload}
    for key, value in qs.weights.items():
        if key not in known_queries and key not in known_items:
            raise UsageError(f"{scenario.source}: queries.weights.{key} names no query of this run; "
                             f"use a query name or query[variant] from: {', '.join(sorted(known_items))}")
        if value < 0:
            raise UsageError(f"{scenario.source}: queries.weights.{key} = {value!r} is not allowed; "
                             "weights are >= 0")
    items: list[tuple[Executable, str]] = []
    weights: list[float] = []
    for q, v in workload:
        override = qs.overrides.get(q.name)
        w = qs.weights.get(item_name(q.name, v))
        if w is None and override is not None and override.weight is not None:
            w = override.weight
        if w is None:
            w = qs.weights.get(q.name, 1.0)
        if w > 0:
            items.append((q, v))
            weights.append(float(w))
    if not items:
        raise UsageError(f"{scenario.source}: every query of the load mix has weight 0")
    return Mix(items, weights)


@dataclass
class LaneParams:
    """A lane's parameter sets: per query, distinct sets drawn from the lane's own stream and
    cycled, so consecutive executions of a query never repeat one set."""

    sampler: Any  # ParamSampler-like: sample(query_name, n, stream=...) -> list[ParamSet]
    stream: str
    per_query: int = PARAM_SETS_PER_QUERY
    _cycles: dict[str, Any] = field(default_factory=dict)

    def next(self, query_name: str) -> ParamLike:
        cycle = self._cycles.get(query_name)
        if cycle is None:
            sets = self.sampler.sample(query_name, self.per_query, stream=self.stream)
            if not sets:
                raise UsageError(f"the parameter sampler returned no parameter set for {query_name}")
            cycle = self._cycles[query_name] = itertools.cycle(sets)
        return next(cycle)


# -- the synthetic workload (a server of known speed, for checking the harness itself) ------

@dataclass(frozen=True)
class SyntheticParams:
    params: dict[str, Any]
    id: str
    kind: str | None = None


@dataclass(frozen=True)
class SleepQuery:
    """``SELECT pg_sleep(s)``: a real round trip whose service time is known in advance (an
    ``Executable``, like the catalog's queries).

    With a pool of one connection it is a server of capacity 1/s requests per second; the
    load tests use it to check open-loop accounting and capacity search against known answers.
    """

    sleep_ms: float
    name: str = "synthetic_sleep"
    variants: tuple[str, ...] = ("as_shipped",)
    budget_ms: float = 500.0
    tags: frozenset[str] = frozenset()

    def execute(self, conn: psycopg.Connection, params: Any, variant: Any = "as_shipped") -> list[tuple]:
        return conn.execute("SELECT pg_sleep(%s)", (self.sleep_ms / 1000.0,)).fetchall()


class SyntheticSampler:
    def sample(self, query_name: str, n: int, stream: str = "") -> Sequence[SyntheticParams]:
        return [SyntheticParams({}, f"{stream}:{i}") for i in range(n)]


def synthetic_mix(sleep_ms: float) -> Mix:
    if not sleep_ms > 0:
        raise UsageError(f"synthetic sleep {sleep_ms!r} ms is not allowed; it must be > 0")
    return Mix([(SleepQuery(sleep_ms), "as_shipped")], [1.0])
