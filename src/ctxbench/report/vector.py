"""The report's "Vector search quality" section (registered in ``ctxbench.report.sections``).

A pure renderer: the numbers come from summary.json's ``vector`` section (built by
``ctxbench.analysis.vector``) and its ``hnsw_warmup`` curves (steady state decided by
``ctxbench.analysis.warmup``); the study's raw facts (query set, ground truth, cross-check,
filters, geometry) are shown from vector.json as the run wrote them. Only for folders a vector
run wrote.
"""

from __future__ import annotations

from typing import Any

from ctxbench.analysis import geometry as geo
from ctxbench.analysis import vector as an
from ctxbench.report import vector_plots as plots
from ctxbench.report.content import fmt_est, fmt_num, fmt_pct
from ctxbench.report.document import Block, Bullets, Details, Figure, Heading, Para, Table
from ctxbench.results.store import ResultsDir
from ctxbench.results.summary_types import EstimateJson

LOW_AGREEMENT = 0.999


def _est(e: EstimateJson | None) -> str:
    return fmt_est(e) if e else "–"


def _lat(p: an.Point, metric: str) -> str:
    e = p.latency.get(metric)
    return fmt_est(e) if e else "–"


def _setup(vec: dict[str, Any], spec: dict[str, Any]) -> list[Block]:
    q = vec.get("queries") or {}
    gt = vec.get("ground_truth") or {}
    kinds = ", ".join(f"{k} {n}" for k, n in (q.get("kinds") or {}).items())
    source = (f"{gt.get('cached', 0)} filter(s) read from the cache, {gt.get('computed', 0)} "
              "computed" + (f" over {gt['rows']:,} rows (export {gt.get('export_seconds')} s, "
                            f"brute force {gt.get('compute_seconds')} s)" if gt.get("rows") else ""))
    items = [
        f"Query set: {q.get('n')} distinct vectors (seed {q.get('seed')}): {kinds}.",
        f"Ground truth: {gt.get('method', 'numpy brute force')}; {source}. A returned row counts "
        f"as correct when it is in the exact top {spec.get('k')} or its distance is within "
        f"{spec.get('tie_epsilon')} of the k-th (ties).",
        f"Every cell: {spec.get('warmup_passes')} untimed warm-up pass(es) over the same vectors, "
        "then one timed pass; LIMIT k = "
        f"{spec.get('k')}; sweep threshold {spec.get('threshold')}, shipped threshold "
        f"{spec.get('shipped_threshold')}.",
        "recall = correct rows ÷ rows of the exact answer; completeness = rows returned ÷ rows "
        "of the exact answer (k unless fewer rows pass the threshold/filter); fill = rows "
        "returned ÷ k. Means over queries with 95% bootstrap intervals.",
    ]
    blocks: list[Block] = [Bullets(items)]
    checks = vec.get("crosscheck") or []
    if checks:
        low = [c for c in checks if c["agreement_min"] < LOW_AGREEMENT]
        text = ("Cross-check against the server's exact scan (index scans off, no prepared "
                "plan): " + "; ".join(f"{c['selectivity']} {c['agreement_mean']:.3f} over "
                                      f"{c['queries']} queries ({fmt_num(c['exact_ms_median'])} ms "
                                      "each)" for c in checks))
        blocks.append(Para(text, "warning" if low else "note"))
    return blocks


def _geometry(vec: dict[str, Any]) -> list[Block]:
    """What the recall figures were measured on: the data's geometry beside a real model's."""
    g = vec.get("geometry")
    if not g:
        return [Para("The geometry of the searched embeddings was not measured "
                     "(vector.geometry_sample = 0): recall figures cannot be compared with "
                     "another dataset's.", "warning")]
    ref = g.get("reference")
    head = ["Statistic", "This dataset"] + ([str(ref.get("label"))] if ref else [])
    rows = [[label, geo.fmt(key, g.get(key))] + ([geo.fmt(key, ref.get(key))] if ref else [])
            for key, (label, _) in geo.LABELS.items()]
    profile = g.get("embedding_profile")
    text = (f"Recall depends on the data as much as on the index. Measured on {g['sample']} "
            f"seeded rows searched exactly among all {g['rows']:,} embeddings"
            + (f" (generator profile '{profile}')" if profile else "")
            + ". Near-equal distances (d10/d1 ≈ 1, many ties, high local intrinsic dimension) "
            "make HNSW recall low; real sentence embeddings are far more structured.")
    blocks: list[Block] = [Heading(3, "Geometry of the searched vectors", "vector-geometry"),
                           Para(text, "note"),
                           Table(head, rows, numeric={1, 2} if ref else {1})]
    if ref:
        blocks.append(Para("Reference: all-MiniLM-L6-v2 embeddings of ctxbench's own incident "
                           "descriptions (datagen/reference/minilm_geometry.json); statistics "
                           "that depend on the row count are compared at the nearest measured "
                           "size.", "note"))
    return blocks


def _filters(vec: dict[str, Any]) -> Table:
    rows = [[f["selectivity"], f["filter"], fmt_pct(f["estimated"]), fmt_pct(f["actual"]),
             f"{f['matching']:,}"] for f in vec.get("filters", [])]
    return Table(["Target", "Filter", "Profile estimate", "Actual share", "Matching rows"], rows,
                 numeric={2, 3, 4})


def _basis(spec: dict[str, Any]) -> str:
    kinds = spec.get("recommend_kinds") or []
    return f"{'/'.join(kinds)} queries" if kinds else "all queries"


def _recommendation(recs: dict[str, Any], spec: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    target, budget = spec.get("recall_target"), spec.get("latency_budget_ms")
    metric = spec.get("latency_metric", "p95")
    for phase, r in recs.items():
        blocks.append(Para(f"Recommendation ({phase}; recall@{spec.get('k')} ≥ {target}, "
                           f"{metric} ≤ {budget} ms, judged on {_basis(spec)}): {r['text']}.",
                           "verdict"))
    if spec.get("recommend_kinds"):
        blocks.append(Para("Far queries (random unit vectors) are left out of the recommendation: "
                           "their exact neighbours sit at similarity ≈ 0.2, which the service's "
                           "threshold (0.5–0.7) discards anyway, so ef_search bought for them buys "
                           "nothing; their recall is in the table by query kind.", "note"))
    rows = [[phase, x["selectivity"], str(x["ef_search"]) if x["ef_search"] else "–", x["reason"]]
            for phase, r in recs.items() for x in r["per_selectivity"]]
    if rows:
        blocks.append(Table(["Phase", "Selectivity", "Smallest ef_search", "Why"], rows))
    return blocks


def _incomplete(p: an.Point) -> bool:
    """Fewer rows than the exact answer has, on average (completeness below 0.99)."""
    value = p.completeness["value"] if p.completeness else None
    return value is not None and value < 0.99


def _sweep_table(items: list[an.Point], basis: dict[an.CellKey, an.Point], metric: str,
                 basis_name: str) -> Table:
    rows, kinds = [], []
    for p in items:
        b = basis.get(p.key)
        rows.append([p.phase, p.selectivity, p.variant, str(p.ef_search), p.iterative_scan,
                     p.plan_kind, _est(p.recall), _est(b.recall) if b else "–",
                     _est(p.completeness), _lat(p, "p50"), _lat(p, metric), str(p.n),
                     "◆" if b and b.frontier else ""])
        kinds.append("warn" if _incomplete(p) else "")
    return Table(["Phase", "Selectivity", "Variant", "ef_search", "Iterative", "Plan", "Recall",
                  f"Recall ({basis_name})", "Completeness", "p50 ms", f"{metric} ms", "n",
                  "Frontier"], rows, numeric={3, 6, 7, 8, 9, 10, 11}, row_kinds=kinds)


def _shipped(items: list[an.Point]) -> list[Block]:
    shipped = [p for p in items if p.kind == "shipped"]
    if not shipped:
        return []
    rows, kinds = [], []
    for p in shipped:
        rows.append([p.phase, p.selectivity, p.filter, f"{p.threshold:g}",
                     p.settings_applied.get("hnsw.ef_search", str(p.ef_search)), p.plan_kind,
                     _est(p.recall), _est(p.completeness), _est(p.fill), fmt_num(p.rows_mean),
                     _lat(p, "p95")])
        kinds.append("warn" if _incomplete(p) else "")
    return [Heading(3, "The shipped SQL as it behaves", "vector-shipped"),
            Para("as_shipped: the service's no-op SET LOCALs (ef_search stays at the server "
                 "default, read back inside the transaction), its threshold, and the joins and "
                 "filters applied after the HNSW scan.", "note"),
            Table(["Phase", "Selectivity", "Filter", "Threshold", "ef_search (applied)", "Plan",
                   "Recall", "Completeness", "Fill", "Rows mean", "p95 ms"], rows,
                  numeric={3, 6, 7, 8, 9, 10}, row_kinds=kinds)]


def _flips(flips: list[dict[str, Any]]) -> list[Block]:
    if not flips:
        return []
    lines = []
    for f in flips:
        sides = "; ".join(f"{s['stats']}: {s['plan']} plan, recall {fmt_num(s['recall'])}, "
                          f"completeness {fmt_num(s['completeness'])}, p95 {fmt_num(s['p95'])} ms"
                          for s in f["sides"])
        lines.append(f"{f['variant']} at {f['selectivity']}: {sides}")
    return [Heading(3, "Plan changes between statistics states", "vector-flips"),
            Para("The planner chose a different access path for the same search once statistics "
                 "changed; recall and completeness follow the plan, not the setting.", "warning"),
            Bullets(lines)]


def _by_kind(by_kind: dict[str, Any]) -> list[Block]:
    """Mean recall per query kind for every cell."""
    kinds = list(by_kind.get("kinds") or [])
    rows = [[r["phase"], r["selectivity"], r["variant"],
             *(fmt_num(r["recall"].get(k)) for k in kinds)] for r in by_kind.get("rows") or []]
    if not rows:
        return []
    return [Details("Recall by query kind", [Table(["Phase", "Selectivity", "Variant", *kinds], rows,
                                                   numeric=set(range(3, 3 + len(kinds))))])]


def _warmup(entries: list[dict[str, Any]], ref: dict[str, Any] | None) -> list[Block]:
    """The warm-up curves with the steady state the analysis decided (one rule, see
    ``ctxbench.analysis.warmup``), compared with the warm p50 of the same variant."""
    if not entries:
        return []
    rows, kinds = [], []
    warm = ref.get("p50_ms") if ref else None
    for e in entries:
        steady = bool(e.get("steady"))
        prewarm_ms = e["prewarm_seconds"] * 1000.0 if "prewarm_seconds" in e else None
        ratio = f"{e['steady_ms'] / warm:.1f}×" if warm else "–"
        rows.append([e["prewarm"], str(e["repetitions"]), str(e["positions"]),
                     fmt_num(prewarm_ms), fmt_num(e.get("prewarm_blocks")), fmt_num(e["first_ms"]),
                     fmt_num(e["steady_ms"]), ratio, "yes" if steady else "no",
                     str(e["queries_to_steady"]) if steady else "–",
                     fmt_num(e["ms_to_steady"] / 1000) if steady else "–",
                     fmt_num(e["total_ms_to_steady"] / 1000) if steady else "–", e["reason"]])
        kinds.append("" if steady else "warn")
    blocks: list[Block] = [
        Heading(3, "HNSW warm-up: time to steady state", "vector-warmup"),
        Para("From a cold start (cache reset), searches 1..N per prewarm mode. Steady state is "
             "detected, not assumed: the running median must stay within 1.5× of the final "
             "level for at least 5 searches, and the last two quarters of the curve must agree "
             "within 50%; otherwise the curve is reported as not steady. Steady is not warm: "
             "'vs warm' compares the steady level with the warm p50 of the same variant, "
             "unfiltered" + (f" ({ref['phase']}, {fmt_num(warm)} ms)" if ref and warm else "")
             + "; searches with new parameters keep reading pages no earlier search touched.",
             "note"),
        Table(["Prewarm", "Reps", "Searches", "Prewarm ms", "Prewarm blocks", "First ms",
               "Steady ms", "vs warm", "Steady", "Searches to steady", "Search s to steady",
               "s to steady incl. prewarm", "How decided"], rows,
              numeric=set(range(1, 12)), row_kinds=kinds)]
    png = plots.warmup_curves(entries)
    if png:
        blocks.append(Figure("vector-warmup.png", "HNSW warm-up with detected steady state", png))
    return blocks


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    data = summary.get("vector")
    if not data:
        return []
    vec = results.read_vector() or {}
    spec = vec.get("spec") or {}
    rule = data["rule"]
    metric = rule["latency_metric"]
    items = [an.Point.from_json(p) for p in data["points"]]
    basis = [an.Point.from_json(p) for p in data["basis"]]
    blocks: list[Block] = [Heading(2, "Vector search quality", "vector"), *_setup(vec, spec)]
    blocks += _recommendation(data["recommendations"], spec)
    blocks += _geometry(vec)
    blocks += [Heading(3, "Filters", "vector-filters"), _filters(vec)]
    if items:
        blocks += [Heading(3, "Recall vs latency (ef_search sweep, iterative scans)",
                            "vector-sweep"),
                   Para(f"Recall over all queries and over {_basis(spec)} (the recommendation's "
                        f"basis); ◆ = on the Pareto frontier of its phase and selectivity on that "
                        f"basis (no other cell has both higher recall and lower {metric}). Plan: "
                        "hnsw = HNSW index scan; exact = B-tree/sequential scan then sort by "
                        "distance. Latencies over all queries.", "note"),
                   _sweep_table(items, {p.key: p for p in basis}, metric,
                                _basis(spec).removesuffix(" queries"))]
        png = plots.recall_vs_latency(basis, metric=metric, target=rule["recall_target"],
                                      budget_ms=rule["latency_budget_ms"],
                                      k=int(spec.get("k", 10)), basis=_basis(spec))
        if png:
            blocks.append(Figure("vector-recall-latency.png",
                                 "Recall vs latency per selectivity", png))
    else:
        blocks.append(Para("No vector cells were measured.", "warning"))
    blocks += _shipped(items)
    blocks += _flips(data["plan_flips"])
    blocks += _by_kind(data["recall_by_kind"])
    blocks += _warmup(summary.get("hnsw_warmup") or [], data.get("warm_reference"))
    return blocks
