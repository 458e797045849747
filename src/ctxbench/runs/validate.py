"""Every name in a scenario must resolve before anything runs: queries, variants, phases,
weights and each budget's query and variant. A name that matches nothing would otherwise
measure nothing (or apply no budget) and still say PASS. Errors name the file, the key, the
value and what is allowed (exit 2)."""

from __future__ import annotations

import fnmatch

from ctxbench.analysis.data import POOLED_QUERY
from ctxbench.errors import UsageError
from ctxbench.measure import phases
from ctxbench.queries import catalog
from ctxbench.scenario import Scenario

# ``ctxbench load --synthetic`` measures this query (a pg_sleep of known length)
SYNTHETIC_QUERIES = ("synthetic_sleep", POOLED_QUERY)  # load tests' sleep; all queries pooled
# examples of semantic_search variants built on demand (ctxbench vector's cells), for globs
_EXAMPLES_ON_DEMAND = ("ef40", "ef40_relaxed", "ef40_strict")


def _fail(sc: Scenario, key: str, value: object, allowed: str) -> UsageError:
    return UsageError(f"{sc.source}: key '{key}' = {value!r} is not allowed; {allowed}")


def _glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def check_scenario(sc: Scenario, kind: str) -> None:
    """Raise a UsageError for the first name in ``sc`` that resolves to nothing.

    ``kind`` is the command: run, vector or load (phases only matter to run)."""
    from ctxbench.load.workload import build_mix
    from ctxbench.scenario import select_workload

    workload = select_workload(sc)  # include/exclude/overrides patterns, override variants
    selected = {q.name: q for q, _ in workload}
    chosen = [q for q in catalog.values() if q.name in selected] or list(catalog.values())
    for i, v in enumerate(sc.queries.variants):
        if not any(q.has_variant(v) for q in chosen):
            known = sorted({n for q in chosen for n in q.variants})
            raise _fail(sc, f"queries.variants[{i}]", v,
                        f"it is a variant of no selected query; allowed: {', '.join(known)}")
    if not workload:
        raise _fail(sc, "queries.variants", sc.queries.variants,
                    "no selected query has any of these variants: nothing would be measured")
    build_mix(sc)  # weights: known query or query[variant] names, >= 0, not all 0
    if kind == "run":
        if not sc.phases.run:
            raise _fail(sc, "phases.run", sc.phases.run, "name at least one phase: "
                        + ", ".join(phases.NAMES) + " (nothing would be measured)")
        for i, name in enumerate(sc.phases.run):
            if name in sc.phases.run[:i]:
                raise _fail(sc, f"phases.run[{i}]", name, "each phase at most once")
    if (kind == "run" and "hnsw_warmup" in sc.phases.run) or (kind == "vector" and sc.vector.hnsw_warmup):
        hw = sc.phases.hnsw_warmup
        query = catalog.get(hw.query)
        if query is None:
            raise _fail(sc, "phases.hnsw_warmup.query", hw.query, f"allowed: {', '.join(catalog)}")
        if not query.has_variant(hw.variant):
            raise _fail(sc, "phases.hnsw_warmup.variant", hw.variant,
                        f"allowed: {', '.join(query.variants)}")
    _check_schema_variants(sc)
    _check_budgets(sc)


def _check_schema_variants(sc: Scenario) -> None:
    from ctxbench.db.migrate import available_variants

    known = available_variants()
    for i, name in enumerate(sc.database.schema_variants):
        if name not in known:
            raise _fail(sc, f"database.schema_variants[{i}]", name, f"allowed: {', '.join(known)}")


def _check_budgets(sc: Scenario) -> None:
    names = [*catalog, *SYNTHETIC_QUERIES]
    for i, b in enumerate(sc.budgets):
        matched = [catalog[n] for n in catalog if fnmatch.fnmatchcase(n, b.query)]
        if not matched and not any(fnmatch.fnmatchcase(n, b.query) for n in SYNTHETIC_QUERIES):
            raise _fail(sc, f"budgets[{i}].query", b.query,
                        f"a query name or glob matching one of: {', '.join(names)}")
        if b.variant == "*" or not matched:
            continue
        if _glob(b.variant):
            known = {n for q in matched for n in q.variants}
            if any(q.variant_factory is not None for q in matched):
                known.update(_EXAMPLES_ON_DEMAND)
            ok = any(fnmatch.fnmatchcase(n, b.variant) for n in known)
        else:
            ok = any(q.has_variant(b.variant) for q in matched)
        if not ok:
            allowed = sorted({n for q in matched for n in q.variants})
            extra = (" (or ef<N>, ef<N>_relaxed, ef<N>_strict)"
                     if any(q.variant_factory is not None for q in matched) else "")
            raise _fail(sc, f"budgets[{i}].variant", b.variant,
                        f"a variant of {b.query!r}: {', '.join(allowed)}{extra}")
