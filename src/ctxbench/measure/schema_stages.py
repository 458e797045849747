"""Measuring as_shipped beside remedies honestly: one schema state per stage.

A remedy's indexes or rollup would also change the plans of the as-shipped statements if they
existed while those run (the shipped list would walk the remedy's index). So when a workload
mixes variants that need schema variants with variants that do not, the run has two stages:
first the remedies' schema variants are built — each one timed and sized, recorded as the
phase ``remedy_schema`` — and the phases run for the remedies; then those schema variants are
removed (phase ``shipped_schema``) and the phases run again for as_shipped and the other pairs
on the scenario's own schema. Remedies first: a run cut short still has what it came for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ctxbench.db import migrate as mig
from ctxbench.db.target import Target
from ctxbench.queries import Query, schema_variant_names
from ctxbench.queries.remedies import REMEDIES, remedy


@dataclass
class Stage:
    name: str
    pairs: list[tuple[Query, str]]
    schema: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "schema_variants": self.schema,
                "workload": [f"{q.name}[{v}]" for q, v in self.pairs]}


def needs(pair: tuple[Query, str]) -> list[str]:
    q, v = pair
    return schema_variant_names(q.variant(v).schema_variant)


def split(workload: list[tuple[Query, str]], base: list[str]) -> list[Stage]:
    """One stage, or (as-shipped schema, remedy schema) when the workload mixes them. The
    remedy stage takes every catalog remedy (ctxbench.queries.remedies), also those without
    schema needs (e.g. the partition-bounded trend), so all remedies get its sample counts;
    there, a query-only remedy may use another remedy's index, as it would in production.
    A query the catalog says needs no remedy (get_incident: a primary-key probe) is measured
    there too, as shipped: its shipped statement is its remedy, judged with the remedies'
    sample counts (on the remedied schema, the deployment the report recommends)."""
    if all(set(needs(p)) <= set(base) for p in workload):
        return [Stage("single", workload, list(base))]
    extra = [p for p in workload
             if not set(needs(p)) <= set(base) or remedy(p[0].name, p[1]) is not None
             or REMEDIES.get(p[0].name) == ()]
    plain = [p for p in workload if p not in extra]
    schema = list(base)
    for p in extra:
        schema += [n for n in needs(p) if n not in schema]
    if plain and extra:
        return [Stage("as_shipped schema", plain, list(base)),
                Stage("remedy schema", extra, schema)]
    return [Stage("single", workload, schema)]


_RELATIONS = """
SELECT c.oid::bigint, c.relname, c.relkind::text, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 't', 'm', 'I', 'p')
"""
_KINDS = {"r": "table", "i": "index", "t": "toast", "m": "materialized view",
          "I": "partitioned index", "p": "partitioned table"}


def _relations(conn: psycopg.Connection) -> dict[int, tuple[str, str, int]]:
    return {r[0]: (r[1], _KINDS.get(r[2], str(r[2])), int(r[3]))
            for r in conn.execute(_RELATIONS).fetchall()}


def restore(target: Target, base: list[str]) -> list[str]:
    """Bring the schema variants back to exactly ``base``; returns what was removed."""
    with target.connect() as conn:
        conn.autocommit = True
        return [r.removeprefix("-") for r in mig.set_variants(conn, list(base))
                if r.startswith("-")]


def build(target: Target, base: list[str], wanted: list[str]) -> list[dict[str, Any]]:
    """Apply ``wanted`` schema variants one at a time on top of ``base``; per variant: seconds
    and the size of every relation it created (its cost in build time and disk)."""
    events: list[dict[str, Any]] = []
    with target.connect() as conn:
        conn.autocommit = True
        mig.set_variants(conn, list(base))
        current = list(base)
        for name in wanted:
            if name in current:
                continue
            before = _relations(conn)
            t0 = time.perf_counter()
            mig.set_variants(conn, [*current, name])
            seconds = time.perf_counter() - t0
            current.append(name)
            after = _relations(conn)
            made = [{"name": rel, "kind": kind, "bytes": size}
                    for oid, (rel, kind, size) in sorted(after.items(), key=lambda kv: kv[1][0])
                    if oid not in before]
            events.append({"type": "schema_variant", "name": name, "seconds": round(seconds, 3),
                           "bytes": sum(m["bytes"] for m in made), "relations": made})
    return events
