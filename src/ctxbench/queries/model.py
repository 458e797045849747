"""The catalog's building blocks: a Query with its Variants, and how a call flows through them.

``validate`` → ``bind`` (SQL + arguments, no I/O) → ``execute`` (timed: send + fetch) →
``to_result`` (the service's answer). ``run`` chains them for callers that do not time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

from ctxbench.errors import UsageError
from ctxbench.queries.execution import Statement, check_settings, settings_tuple

TAGS = frozenset({"list", "point", "vector", "aggregate"})
AS_SHIPPED = "as_shipped"

# (params, variant) -> (sql, args); params may be raw or validated (defaults filled in).
Renderer = Callable[["Variant", Mapping[str, Any]], tuple[str, dict[str, Any]]]
Validator = Callable[[Mapping[str, Any], str], dict[str, Any]]
Mapper = Callable[[list[tuple], Mapping[str, Any]], Any]


# What an ``on_start`` prewarm entry may name (resolved from the connected database's catalog
# by ``db.control.resolve_prewarm``): every index of one access method on a table and its
# partitions, the table's own heap (and its partitions'), or one relation by name.
PREWARM_KINDS = ("hnsw", "ivfflat", "btree", "brin", "gin", "gist", "heap")
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
_PREWARM_ENTRY = re.compile(rf"^(?:(?P<kind>[a-z]+):)?(?P<name>{_IDENT}(?:\.{_IDENT})?)$")


@dataclass(frozen=True)
class OnStart:
    """A server-start action a remedy declares: ``pg_prewarm`` these relations after every
    start (the service would run it from its start-up hook, or with pg_prewarm's autoprewarm).
    The cold phase runs it after each cache reset, for that variant only, before the sample,
    and records its cost (seconds, blocks, MB of shared buffers).

    ``prewarm`` entries: ``"<am>:<table>"`` (am one of hnsw, ivfflat, btree, brin, gin, gist:
    every index of that access method on the table and its partitions), ``"heap:<table>"``
    (the table, or its partitions), or a relation name (``"resource_references"``; a
    partitioned table or index stands for its partitions)."""

    prewarm: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "prewarm", tuple(self.prewarm))
        if not self.prewarm:
            raise UsageError("on_start.prewarm is empty; name at least one relation, e.g. "
                             "'hnsw:resource_action_traces'")
        for entry in self.prewarm:
            self.parse(entry)

    @staticmethod
    def parse(entry: object) -> tuple[str | None, str]:
        """``(kind, name)``: kind None for a relation named as is."""
        m = _PREWARM_ENTRY.match(entry) if isinstance(entry, str) else None
        if m is None or (m["kind"] is not None and m["kind"] not in PREWARM_KINDS):
            raise UsageError(
                f"on_start.prewarm entry {entry!r} is not allowed; allowed: '<kind>:<table>' "
                f"with kind one of {', '.join(PREWARM_KINDS)}, or a relation name "
                "(letters, digits, _; optionally schema-qualified)")
        return m["kind"], m["name"]

    def targets(self) -> list[tuple[str | None, str]]:
        return [self.parse(e) for e in self.prewarm]

    def describe(self) -> dict[str, Any]:
        return {"prewarm": list(self.prewarm)}

    def text(self) -> str:
        return "pg_prewarm " + ", ".join(self.prewarm) + " after every server start"


@dataclass(frozen=True)
class Variant:
    """One way of sending a query. ``sql`` is a template: ``{where}``-style markers are filled
    from the parameters by the query's renderer; placeholders are psycopg ``%(name)s``."""

    name: str
    sql: str
    doc: str
    settings: Mapping[str, str] = field(default_factory=dict)
    shipped_noop_sets: tuple[str, ...] = ()
    schema_variant: str | None = None
    changes_answer: bool = False
    on_start: OnStart | None = None

    def __post_init__(self) -> None:
        check_settings(self.settings)
        if self.on_start is not None and not isinstance(self.on_start, OnStart):
            raise UsageError(f"variant {self.name!r}: on_start must be an OnStart, "
                             f"not {type(self.on_start).__name__}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        if self.shipped_noop_sets and self.name != AS_SHIPPED:
            raise UsageError(f"variant {self.name!r}: only as_shipped replays the shipped "
                             "no-op SETs")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "settings": dict(self.settings),
                "shipped_noop_sets": list(self.shipped_noop_sets),
                "schema_variant": self.schema_variant, "changes_answer": self.changes_answer,
                "on_start": self.on_start.describe() if self.on_start else None}


class Executable(Protocol):
    """What a driver executes: a named query that runs on a connection and returns its rows.

    The load driver (``load.execute.execute_one``) needs exactly this. :class:`Query` is one;
    ``load.workload.SleepQuery`` (``SELECT pg_sleep``: a server of known speed, for checking
    the harness itself) is another."""

    @property
    def name(self) -> str: ...

    def execute(self, conn: psycopg.Connection, params: Mapping[str, Any],
                variant: str = AS_SHIPPED) -> list[tuple]: ...


class Bindable(Executable, Protocol):
    """What the phase driver (``measure.executor.Recorder``) executes: an :class:`Executable`
    that also binds its statement without I/O, so the timer covers only execute + fetch."""

    def bind(self, params: Mapping[str, Any], variant: str = AS_SHIPPED) -> Statement: ...


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    tags: frozenset[str]
    variants: Mapping[str, Variant]
    params_doc: Mapping[str, str] = field(default_factory=dict)
    _validate: Validator = field(kw_only=True, repr=False, compare=False)
    _render: Renderer = field(kw_only=True, repr=False, compare=False)
    _to_result: Mapper = field(kw_only=True, repr=False, compare=False)
    variant_factory: Callable[[str], Variant | None] | None = field(
        default=None, repr=False, compare=False)
    needs_vector: bool = False
    # No parameter reaches the SQL: every sampled set is the same statement (same ParamSet.id).
    parameterless: bool = False

    def __post_init__(self) -> None:
        if not self.tags <= TAGS:
            raise ValueError(f"{self.name}: unknown tags {sorted(self.tags - TAGS)}")
        if AS_SHIPPED not in self.variants:
            raise ValueError(f"{self.name}: every query needs an as_shipped variant")
        object.__setattr__(self, "variants", MappingProxyType(dict(self.variants)))

    # -- variants -------------------------------------------------------------------------
    def has_variant(self, name: str) -> bool:
        """A catalog variant, or one built on demand (e.g. semantic_search's ``ef200``)."""
        try:
            self.variant(name)
        except (UsageError, KeyError, ValueError):
            return False
        return True

    def variant(self, name: str | Variant = AS_SHIPPED) -> Variant:
        """A catalog variant by name, one built on demand (e.g. ``ef200``), or a Variant as is."""
        if isinstance(name, Variant):
            return name
        found = self.variants.get(name)
        if found is None and self.variant_factory is not None:
            found = self.variant_factory(name)
        if found is None:
            raise UsageError(f"{self.name}: unknown variant {name!r}; allowed: "
                             f"{', '.join(self.variants)}"
                             + (" (or one built on demand, see the README)"
                                if self.variant_factory else ""))
        return found

    # -- the call chain ---------------------------------------------------------------------
    def validate(self, params: Mapping[str, Any] | None = None, *,
                 surface: str = "builder") -> dict[str, Any]:
        """Normalized parameters (defaults filled in) or a UsageError naming what is wrong."""
        return self._validate(params or {}, surface)

    def sql_and_args(self, params: Mapping[str, Any],
                     variant: str | Variant = AS_SHIPPED) -> tuple[str, dict[str, Any]]:
        """The exact SQL text sent and its arguments (a mapping for psycopg's %(name)s)."""
        return self._render(self.variant(variant), params)

    def bind(self, params: Mapping[str, Any], variant: str | Variant = AS_SHIPPED) -> Statement:
        """Everything except I/O, so a driver can bind outside its timer and execute inside."""
        v = self.variant(variant)
        sql, args = self._render(v, params)
        return Statement(self.name, v.name, sql, args, settings_tuple(v.settings),
                         v.shipped_noop_sets, self.needs_vector)

    def execute(self, conn: psycopg.Connection, params: Mapping[str, Any],
                variant: str | Variant = AS_SHIPPED) -> list[tuple]:
        """Send the statement(s) and fetch all rows (the timed part)."""
        return self.bind(params, variant).execute(conn)

    def to_result(self, rows: list[tuple], params: Mapping[str, Any]) -> Any:
        """The service's answer built from the rows (incident dicts, aggregate dicts...)."""
        return self._to_result(rows, params)

    def run(self, conn: psycopg.Connection, params: Mapping[str, Any] | None = None,
            variant: str | Variant = AS_SHIPPED, *, surface: str = "builder") -> Any:
        clean = self.validate(params, surface=surface)
        return self.to_result(self.execute(conn, clean, variant), clean)

    def explain(self, conn: psycopg.Connection, params: Mapping[str, Any],
                variant: str | Variant = AS_SHIPPED, *, analyze: bool = True) -> list:
        """EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) of the same statement + settings."""
        return self.bind(params, variant).explain(conn, analyze=analyze)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "tags": sorted(self.tags),
                "params": dict(self.params_doc),
                "parameterless": self.parameterless,
                "variants": [v.describe() for v in self.variants.values()]}


def ordered(queries: Sequence[Query]) -> dict[str, Query]:
    out: dict[str, Query] = {}
    for q in queries:
        if q.name in out:
            raise ValueError(f"duplicate query {q.name}")
        out[q.name] = q
    return out


if TYPE_CHECKING:
    def _query_is_bindable(q: Query) -> Bindable:  # mypy: Query satisfies both protocols
        return q
