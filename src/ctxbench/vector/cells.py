"""One cell of the study = one way of searching (variant, filter, threshold) measured over the
whole query set, warm, with every answer scored against the ground truth.

Per cell: the settings are read back inside the transaction that applies them (so "ef 200"
is a fact, not a hope), a warm-up pass runs over the *same* query vectors (pages touched by
ef 400 are not those touched by ef 10), then one timed, shuffled pass records each search
with its recall, completeness and fill, and one EXPLAIN (ANALYZE, BUFFERS) shows which plan
ran.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg

from ctxbench.analysis.vector import QUERY
from ctxbench.measure.executor import Recorder
from ctxbench.queries import ParamSet, Statement, catalog
from ctxbench.queries.execution import outside_transaction, settings_tuple
from ctxbench.queries.incidents import INCIDENT_FIELDS
from ctxbench.results import ResultsDir
from ctxbench.results.explain import summarize_plan
from ctxbench.results.model import SCHEMA_VERSION
from ctxbench.scenario import VectorSpec
from ctxbench.vector.filters import FilterChoice
from ctxbench.vector.groundtruth import Truth
from ctxbench.vector.plans import classify
from ctxbench.vector.queryset import QuerySet
from ctxbench.vector.recall import score_answer

ID_COL = 0
SIMILARITY_COL = len(INCIDENT_FIELDS) + 1  # the 19 incident fields, the embedding, similarity
SWEEP, ITERATIVE, SHIPPED = "sweep", "iterative", "shipped"
PROBE_SQL = ("SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan'), "
             "current_setting('hnsw.max_scan_tuples')")


@dataclass(frozen=True)
class Cell:
    kind: str  # sweep | iterative | shipped
    variant: str  # a semantic_search variant name (ef40, ef40_relaxed, as_shipped)
    ef_search: int
    iterative_scan: str
    threshold: float
    choice: FilterChoice

    def labels(self, stats: str) -> dict[str, str]:
        return {"stats": stats, "selectivity": self.choice.label, "filter": self.choice.filter.label,
                "ef_search": str(self.ef_search), "iterative_scan": self.iterative_scan,
                "threshold": f"{self.threshold:g}"}


def build_cells(spec: VectorSpec, choices: list[FilterChoice], default_ef: int, *,
                full: bool = True) -> list[Cell]:
    """Per filter: the ef_search sweep (iterative scan off), the iterative modes, and the
    shipped SQL (no settings, pgvector's default ef_search, the service's threshold). Not
    ``full``: only ``spec.compare_variants`` (a statistics state measured for comparison)."""
    cells = []
    for choice in choices:
        if full:
            for ef in spec.ef_search:
                cells.append(Cell(SWEEP, f"ef{ef}", ef, "off", spec.threshold, choice))
            for ef in spec.iterative_ef:
                for mode in spec.iterative_scans:
                    cells.append(Cell(ITERATIVE, f"ef{ef}_{mode.split('_')[0]}", ef, mode,
                                      spec.threshold, choice))
            cells.append(Cell(SHIPPED, "as_shipped", default_ef, "off", spec.shipped_threshold,
                              choice))
            continue
        for name in spec.compare_variants:
            cells.append(_named_cell(name, choice, spec, default_ef))
    return cells


def _named_cell(name: str, choice: FilterChoice, spec: VectorSpec, default_ef: int) -> Cell:
    if name == "as_shipped":
        return Cell(SHIPPED, name, default_ef, "off", spec.shipped_threshold, choice)
    v = catalog[QUERY].variant(name)
    ef = int(v.settings["hnsw.ef_search"])
    mode = v.settings.get("hnsw.iterative_scan", "off")
    return Cell(SWEEP if mode == "off" else ITERATIVE, v.name, ef, mode, spec.threshold, choice)


def applied_settings(conn: psycopg.Connection, variant: str) -> dict[str, str]:
    """The HNSW settings as the server sees them inside the transaction that applies the
    variant's SET LOCALs (the shipped no-op SETs run first, outside it, as in the service)."""
    v = catalog[QUERY].variant(variant)
    with outside_transaction(conn):
        conn.execute("SELECT '[0]'::vector")  # loads pgvector in this session: its GUCs exist
    probe = Statement("probe", v.name, PROBE_SQL, {}, settings_tuple(v.settings),
                      v.shipped_noop_sets)
    ef, scan, max_tuples = probe.execute(conn)[0]
    return {"hnsw.ef_search": ef, "hnsw.iterative_scan": scan, "hnsw.max_scan_tuples": max_tuples}


def param_sets(cell: Cell, queries: QuerySet, k: int) -> list[ParamSet]:
    out = []
    validate = catalog[QUERY].validate
    for vec, kind in zip(queries.vectors, queries.kinds, strict=True):
        params = {"embedding": vec, "threshold": cell.threshold, "limit": k,
                  **cell.choice.filter.params}
        validate(params)
        out.append(ParamSet.of(QUERY, params, kind))
    return out


def scorer(truth: Truth, k: int, threshold: float, epsilon: float
           ) -> Callable[[int, list[Any]], dict[str, float]]:
    def score(i: int, rows: list[Any]) -> dict[str, float]:
        want_ids, want_dists = truth.answer(i, k, threshold)
        ids = [r[ID_COL] for r in rows]
        dists = [1.0 - float(r[SIMILARITY_COL]) for r in rows]
        return score_answer(ids, dists, want_ids, want_dists, k, epsilon)

    return score


def _plan_params(params: dict[str, Any], kind: str) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k != "embedding"}
    out["embedding"] = {"vector_dims": len(params["embedding"]), "kind": kind}
    return out


def capture_plan(results: ResultsDir, conn: psycopg.Connection, phase: str, cell: Cell,
                 labels: dict[str, str], ps: ParamSet, hnsw_indexes: list[str]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS, SETTINGS) of the cell's first search, saved under plans/ with
    the cell's labels (so the report matches it to the cell and sees flips across phases)."""
    name = "__".join([phase, QUERY, cell.variant, cell.choice.label.replace("%", "pct"),
                      f"t{cell.threshold:g}"])
    base = {"schema_version": SCHEMA_VERSION, "phase": phase, "query": QUERY,
            "variant": cell.variant, "labels": labels, "param_id": ps.id,
            "params": _plan_params(ps.params, ps.kind),
            "note": "after the cell's warm-up and timed passes"}
    try:
        explain = catalog[QUERY].explain(conn, ps.params, cell.variant, analyze=True)
    except psycopg.Error as exc:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        results.write_json(f"plans/{_safe(name)}.json", {**base, "error": str(exc).strip()[:500]})
        return {"plan_file": f"plans/{_safe(name)}.json", "plan_kind": "unknown",
                "plan_error": str(exc).strip()[:200]}
    summary = summarize_plan(explain)
    results.write_json(f"plans/{_safe(name)}.json", {**base, "plan": explain, "summary": summary})
    kind = classify(summary, hnsw_indexes)
    return {"plan_file": f"plans/{_safe(name)}.json", "plan_kind": kind["kind"],
            "plan_access": kind["access"], "plan_fingerprint": summary["fingerprint"]}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)


def run_cell(conn: psycopg.Connection, recorder: Recorder, results: ResultsDir, phase: str,
             stats: str, cell: Cell, queries: QuerySet, truth: Truth, spec: VectorSpec, *,
             seed: int, hnsw_indexes: list[str], advance: Callable[[int], None]) -> dict[str, Any]:
    """Warm-up passes, one timed pass, one plan; returns what vector.json records for it."""
    query = catalog[QUERY]
    labels = cell.labels(stats)
    sets = param_sets(cell, queries, spec.k)
    applied = applied_settings(conn, cell.variant)
    for _ in range(spec.warmup_passes):
        for ps in sets:
            recorder.measure(conn, phase, query, cell.variant, ps, warmup=True, labels=labels, seq=0)
            advance(1)
    order = list(range(len(sets)))
    random.Random(f"{seed}:{phase}:{cell.variant}:{cell.choice.label}").shuffle(order)
    score = scorer(truth, spec.k, cell.threshold, spec.tie_epsilon)
    errors = 0
    for i in order:
        m = recorder.measure(conn, phase, query, cell.variant, sets[i], labels=labels,
                             score=partial(score, i))
        errors += 0 if m.ok else 1
        advance(1)
    plan = capture_plan(results, conn, phase, cell, labels, sets[0], hnsw_indexes)
    return {"phase": phase, "kind": cell.kind, "variant": cell.variant, "labels": labels,
            "settings_requested": dict(query.variant(cell.variant).settings),
            "settings_applied": applied, "searches": len(sets), "errors": errors, **plan}
