"""The vector study's lifecycle (``ctxbench vector``): scenario → dataset → ground truth →
cells per statistics state → HNSW warm-up → a normal results folder and reports.

It is its own command rather than a phase of ``ctxbench run`` because the study has its own
inputs and costs: a ground truth (cached per dataset), a query set, statistics states it
sets up itself, and a cell grid (ef_search × filter × iterative mode) that takes minutes at
100k traces; a nightly latency run should not pay for it, and a recall study should not pay
for every query's cold phases. It shares everything else with the runner: the scenario file,
dataset preparation, the recorder, the phase records, the HNSW warm-up phase, the results
folder and ``build_reports`` (so ``ctxbench report DIR`` rebuilds it and budgets on recall and
completeness gate the exit code like latency budgets).

What is measured lives in ``ctxbench.vector`` (ground truth, query set, filters, cells, recall,
plan classification); the study's analysis in ``ctxbench.analysis.vector`` (into summary.json);
its report section in ``ctxbench.report.vector``. This module only wires them together.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxbench.analysis import geometry as geo
from ctxbench.analysis.vector import PHASE_OF_STATE
from ctxbench.db import control
from ctxbench.db.target import Target
from ctxbench.measure import phases as ph
from ctxbench.measure.executor import ConnectionSpec, Recorder
from ctxbench.measure.phases import hnsw_warmup
from ctxbench.queries import DatasetProfile, ParamSampler, catalog
from ctxbench.results import PhaseRecord, ResultsDir
from ctxbench.results.store import VECTOR_JSON
from ctxbench.runs import session
from ctxbench.scenario import Scenario
from ctxbench.vector import cells as cl
from ctxbench.vector.filters import FilterChoice, pick_filters
from ctxbench.vector.groundtruth import Truth, TruthInfo, default_cache_dir, ground_truth
from ctxbench.vector.queryset import QuerySet, build_query_set
from ctxbench.vector.recall import score_answer

VECTOR_SCHEMA_VERSION = 1


@dataclass
class VectorOutcome:
    results_dir: Path
    status: str
    exit_code: int
    verdict: str
    reports: Any = None


class Study:
    """The state of one vector run, written to vector.json as it grows."""

    def __init__(self, scenario: Scenario, results: ResultsDir) -> None:
        self.scenario, self.results = scenario, results
        self.doc: dict[str, Any] = {"schema_version": VECTOR_SCHEMA_VERSION,
                                    "spec": dataclasses.asdict(scenario.vector), "cells": []}

    def save(self) -> None:
        self.results.write_json(VECTOR_JSON, self.doc)


def _crosscheck(ctx: ph.PhaseContext, queries: QuerySet, choices: list[FilterChoice],
                truths: list[Truth], n: int, k: int, epsilon: float) -> list[dict[str, Any]]:
    """The server's exact answer (index scans off, never a prepared plan) for a few queries per
    filter, scored against the numpy truth: agreement 1.0 means both ground truths coincide."""
    if n <= 0:
        return []
    picks = np.unique(np.linspace(0, len(queries) - 1, min(n, len(queries))).astype(int))
    exact = ConnectionSpec(ctx.connections.dsn, prepare_threshold=None,
                           statement_timeout_ms=ctx.connections.statement_timeout_ms)
    q = catalog[cl.QUERY]
    out = []
    with exact.open() as conn:
        for choice, truth in zip(choices, truths, strict=True):
            agreement, seconds = [], []
            for i in picks:
                params = {"embedding": queries.vectors[i], "threshold": 0.0, "limit": k,
                          **choice.filter.params}
                t0 = time.perf_counter()
                rows = q.execute(conn, params, "exact")
                seconds.append(time.perf_counter() - t0)
                want_ids, want_dists = truth.answer(int(i), k)
                s = score_answer([r[cl.ID_COL] for r in rows],
                                 [1.0 - float(r[cl.SIMILARITY_COL]) for r in rows],
                                 want_ids, want_dists, k, epsilon)
                agreement.append(s.get("recall", 1.0) * s.get("completeness", 1.0))
                ctx.progress.advance()
            out.append({"selectivity": choice.label, "filter": choice.filter.label,
                        "queries": len(picks), "agreement_mean": float(np.mean(agreement)),
                        "agreement_min": float(np.min(agreement)),
                        "exact_ms_median": float(np.median(seconds) * 1000)})
    return out


def _ground_truth_phase(ctx: ph.PhaseContext, study: Study, profile: DatasetProfile,
                        checksum: str | None, dataset_seed: int | None,
                        embedding_profile: str = "hard"
                        ) -> tuple[QuerySet, list[FilterChoice], list[Truth]]:
    spec = study.scenario.vector
    state: dict[str, Any] = {}

    def body(record: PhaseRecord) -> None:
        seed = spec.query_seed if spec.query_seed is not None else study.scenario.sampler_seed
        queries = build_query_set(profile, spec.queries, seed, far_share=spec.far_share,
                                  dataset_seed=dataset_seed,
                                  embedding_profile=embedding_profile)
        choices = pick_filters(profile, spec.selectivities)
        cache_dir = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()
        ctx.progress.start("vector: ground truth", len(choices) * max(spec.crosscheck, 0))
        with ctx.target.connect() as conn:
            truths, info = ground_truth(conn, queries, [c.filter for c in choices],
                                        checksum=checksum, cache_dir=cache_dir,
                                        log=ctx.progress.log)
        checks = _crosscheck(ctx, queries, choices, truths, spec.crosscheck, spec.k,
                             spec.tie_epsilon)
        study.doc.update(_truth_doc(queries, choices, truths, info, checks))
        study.save()
        record.notes.append(f"ground truth: {info.cached} filter(s) from the cache, "
                            f"{info.computed} computed by numpy brute force")
        record.events.append({"type": "ground_truth", **info.to_json()})
        for c in checks:
            record.events.append({"type": "crosscheck", **c})
        state.update(queries=queries, choices=choices, truths=truths)

    ph.run_guarded(ctx, "vector.ground_truth", body)
    return state["queries"], state["choices"], state["truths"]


def _geometry_phase(ctx: ph.PhaseContext, study: Study, checksum: str | None,
                    dataset_params: dict[str, Any]) -> None:
    """The geometry of the searched embeddings (``analysis.geometry``), cached per dataset
    checksum, so every recall figure of the study says what data it was measured on."""
    spec = study.scenario.vector
    cache_dir = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()

    def body(record: PhaseRecord) -> None:
        g = geo.cached(cache_dir, checksum) if checksum else None
        source = "cache"
        if g is None:
            t0 = time.perf_counter()
            with ctx.target.connect() as conn:
                vectors = geo.read_vectors(conn)
            g = geo.measure(vectors, sample=spec.geometry_sample, seed=0, log=ctx.progress.log)
            g["seconds"] = round(time.perf_counter() - t0, 2)
            del vectors
            source = "measured"
            if checksum:
                geo.save_cached(cache_dir, checksum, g)
        g["embedding_profile"] = dataset_params.get("embedding_profile")
        g["reference"] = geo.reference_at(int(g["rows"]))
        study.doc["geometry"] = g
        study.save()
        record.notes.append(f"geometry ({source}): {geo.summary_line(g)}")
        record.events.append({"type": "geometry", "source": source,
                              **{k: v for k, v in g.items() if k != "reference"}})

    ph.run_guarded(ctx, "vector.geometry", body)


def _truth_doc(queries: QuerySet, choices: list[FilterChoice], truths: list[Truth],
               info: TruthInfo, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "queries": {"n": len(queries), "seed": queries.seed, "kinds": queries.kind_counts(),
                    "digest": queries.digest()[:16], "kind_of": list(queries.kinds)},
        "filters": [{"target": c.target, "selectivity": c.label, "filter": c.filter.label,
                     "params": c.filter.params, "estimated": c.estimated,
                     "actual": t.selectivity, "matching": t.matching, "total": t.total}
                    for c, t in zip(choices, truths, strict=True)],
        "ground_truth": info.to_json(),
        "crosscheck": checks,
    }


def _prepare_stats(ctx: ph.PhaseContext, state: str) -> str:
    """Put the statistics in the asked state (phase record as the runner writes it); returns
    the state label measurements carry."""
    if state == "as_found":
        with ctx.target.connect() as conn:
            return control.statistics_state(conn)["state"]

    def body(record: PhaseRecord) -> None:
        with ctx.target.connect() as conn:
            if state == "before_analyze":
                current = control.statistics_state(conn)
                if current["state"] == "no_stats":
                    control.set_autovacuum(conn, False)
                    record.notes.append("tables have no statistics (autovacuum off)")
                    record.events.append({"type": "statistics", **current})
                else:
                    record.notes.append("statistics cleared: pg_statistic rows deleted and "
                                        "reltuples reset to -1, autovacuum off")
                    record.events.append({"type": "clear_statistics",
                                          **control.clear_statistics(conn)})
            else:
                result = control.analyze(conn)
                record.notes.append(f"ANALYZE of the three tables took {result['analyze_seconds']} s")
                record.events.append({"type": "analyze", **result})
            record.stats_state = control.statistics_state(conn)["state"]

    return ph.run_guarded(ctx, state, body).stats_state or state


def _cells_phase(ctx: ph.PhaseContext, study: Study, state: str, queries: QuerySet,
                 choices: list[FilterChoice], truths: list[Truth], hnsw: list[str]) -> None:
    spec = study.scenario.vector
    stats = _prepare_stats(ctx, state)
    phase = PHASE_OF_STATE[state]
    truth_of = {c.filter: t for c, t in zip(choices, truths, strict=True)}

    def body(record: PhaseRecord) -> None:
        record.stats_state = stats
        record.cache_reset = "none (warm)"
        with ctx.connections.open() as conn:
            default_ef = int(cl.applied_settings(conn, "as_shipped")["hnsw.ef_search"])
            sweep = spec.sweep_stats if spec.sweep_stats is not None else spec.stats[-1:]
            cells = cl.build_cells(spec, choices, default_ef, full=state in sweep)
            per_cell = len(queries) * (spec.warmup_passes + 1)
            ctx.progress.start(f"{phase}: {len(cells)} cells × {len(queries)} searches",
                               len(cells) * per_cell)
            for cell in cells:
                entry = cl.run_cell(conn, ctx.recorder, ctx.results, phase, stats, cell, queries,
                                    truth_of[cell.choice.filter], spec, seed=ctx.seed,
                                    hnsw_indexes=hnsw, advance=ctx.progress.advance)
                study.doc["cells"].append(entry)
                study.save()
        record.notes.append(f"{len(cells)} cells; per cell {spec.warmup_passes} warm-up pass(es) "
                            f"over the same {len(queries)} query vectors, then one timed pass "
                            "(shuffled); recall/completeness/fill per search against the ground truth")

    ph.run_guarded(ctx, phase, body)


def run_vector(scenario: Scenario, *, out_dir: Path | None = None, dsn: str | None = None,
               home: Path | None = None, progress: ph.Progress | None = None) -> VectorOutcome:
    progress = progress or ph.SilentProgress()
    spec = scenario.vector
    results, meta = session.start(scenario, "vector", out_dir, extra={
        "vector": dataclasses.asdict(spec), "sampler_seed": scenario.sampler_seed,
        "prepare_threshold": scenario.database.prepare_threshold,
        "cache_reset": scenario.database.cache_reset,
        "phases": ["vector.ground_truth", "vector.geometry", *spec.stats]
        + (["hnsw_warmup"] if spec.hnsw_warmup else [])})
    study = Study(scenario, results)
    error: BaseException | None = None
    target: Target | None = None
    try:
        target = session.open_scenario_target(scenario, meta, dsn=dsn, home=home)
        dataset, _, profile = session.prepare_data(target, scenario, results, meta, progress)
        with target.connect() as conn:
            hnsw = control.hnsw_indexes(conn)
        study.doc["hnsw_indexes"] = hnsw
        ctx = ph.PhaseContext(
            target=target, results=results, run_id=meta.run_id, recorder=Recorder(results, meta.run_id),
            connections=ConnectionSpec(target.dsn, scenario.database.prepare_threshold,
                                       scenario.database.statement_timeout_ms),
            sampler=ParamSampler(profile, scenario.sampler_seed, surface=scenario.queries.surface),
            workload=[], cache_reset=scenario.database.cache_reset, seed=scenario.sampler_seed,
            progress=progress)
        params = dataset.get("params") or {}
        dataset_seed = params.get("seed") if dataset.get("checksum") else None
        queries, choices, truths = _ground_truth_phase(
            ctx, study, profile, dataset.get("checksum"), dataset_seed,
            params.get("embedding_profile", "hard"))
        if spec.geometry_sample > 0:
            _geometry_phase(ctx, study, dataset.get("checksum"), params)
        for state in spec.stats:
            t0 = time.perf_counter()
            _cells_phase(ctx, study, state, queries, choices, truths, hnsw)
            progress.log(f"{PHASE_OF_STATE[state]} done in {time.perf_counter() - t0:.1f} s")
        if spec.hnsw_warmup:
            warm = scenario.phases.hnsw_warmup
            hnsw_warmup.measure_hnsw_warmup(ctx, warm, catalog[warm.query])
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    reports = session.finish(results, meta, target, error, strict=scenario.output.strict,
                             what="vector run")
    return VectorOutcome(results.path, meta.status, reports.exit_code, reports.verdict, reports)


