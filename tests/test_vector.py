"""Vector quality without a database: the numpy ground truth against an independent oracle,
recall/completeness scoring (overlap and ties), query sets, filter picking, steady-state
detection, the Pareto frontier and the ef_search recommendation, recall budgets and the
report section of a synthetic vector run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ctxbench.analysis import vector as an
from ctxbench.analysis.summary import build_summary
from ctxbench.analysis.warmup import detect_steady
from ctxbench.errors import UsageError
from ctxbench.queries import DatasetProfile
from ctxbench.report.build import build_reports
from ctxbench.results.model import Measurement, RunMeta
from ctxbench.results.store import VECTOR_JSON, ResultsDir
from ctxbench.scenario import load_text
from ctxbench.vector.filters import pick_filters, selectivity_label
from ctxbench.vector.groundtruth import Corpus, Filter, brute_force, cache_key, load_cached, save_cached
from ctxbench.vector.queryset import build_query_set
from ctxbench.vector.recall import recall_at_k, score_answer


# -- ground truth ---------------------------------------------------------------------------------
def _corpus(n: int = 600, dims: int = 16, seed: int = 3) -> Corpus:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dims)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = np.arange(1000, 1000 + n, dtype=np.int64)
    env = np.array(["production", "staging", "test"], dtype=object)[rng.integers(0, 3, n)]
    ns = np.array(["a", "b"], dtype=object)[(rng.random(n) < 0.05).astype(int)]
    return Corpus(ids, v, {"environment": env, "namespace": ns, "cluster_name": env,
                           "severity": env})


def _oracle(corpus: Corpus, q: np.ndarray, flt: Filter, k: int) -> list[list[int]]:
    """Independent: python sort of (distance, id) over the matching rows, distances computed
    one pair at a time in float64."""
    out = []
    mask = corpus.mask(flt)
    for qv in q.astype(np.float64):
        pairs = []
        for row, ok in enumerate(mask):
            if not ok:
                continue
            x = corpus.vectors[row].astype(np.float64)
            d = 1.0 - float(qv @ x) / (np.linalg.norm(qv) * np.linalg.norm(x))
            pairs.append((d, int(corpus.ids[row])))
        out.append([i for _, i in sorted(pairs)[:k]])
    return out


def test_brute_force_matches_an_independent_oracle_for_every_filter() -> None:
    corpus = _corpus()
    q = np.random.default_rng(9).normal(size=(12, 16)).astype(np.float32)
    filters = [Filter(), Filter.of({"environment": "staging"}), Filter.of({"namespace": "b"})]
    truths = brute_force(corpus, q, filters, k_max=40, chunk=97)  # several chunks
    for flt, truth in zip(filters, truths, strict=True):
        want = _oracle(corpus, q, flt, 40)
        matching = int(corpus.mask(flt).sum())
        assert truth.matching == matching and truth.total == len(corpus)
        for i in range(len(q)):
            got = [int(x) for x in truth.ids[i] if x >= 0]
            assert got == want[i][:min(40, matching)]
            assert np.all(np.diff(truth.dists[i][truth.ids[i] >= 0]) >= 0)
        if matching < 40:  # fewer matching rows than k_max: padded
            assert (truth.ids[:, matching:] == -1).all() and np.isinf(truth.dists[:, matching:]).all()


def test_query_blocks_give_the_same_truth(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctxbench.vector import groundtruth

    corpus = _corpus(300)
    q = np.random.default_rng(1).normal(size=(9, 16)).astype(np.float32)
    whole = brute_force(corpus, q, [Filter()], k_max=10)[0]
    monkeypatch.setattr(groundtruth, "QUERY_BLOCK", 4)
    parts = brute_force(corpus, q, [Filter()], k_max=10)[0]
    assert (whole.ids == parts.ids).all() and np.allclose(whole.dists, parts.dists)


def test_threshold_answer_is_the_truth_of_the_thresholded_corpus() -> None:
    corpus = _corpus()
    q = np.random.default_rng(5).normal(size=(6, 16)).astype(np.float32)
    truth = brute_force(corpus, q, [Filter()], k_max=30)[0]
    for t in (0.0, 0.3, 0.6):
        for i in range(len(q)):
            ids, dists = truth.answer(i, 10, t)
            qv = q[i].astype(np.float64) / np.linalg.norm(q[i])
            sims = corpus.vectors.astype(np.float64) @ qv
            order = np.lexsort((corpus.ids, -sims))
            want = [int(corpus.ids[j]) for j in order if sims[j] >= t][:10]
            assert list(ids) == want
            assert np.all(1.0 - dists >= t)


def test_ties_are_ordered_by_id_and_counted_as_correct() -> None:
    corpus = _corpus(50)
    corpus.vectors[7] = corpus.vectors[3]  # an exact duplicate: tied distances
    q = corpus.vectors[3:4].copy()
    truth = brute_force(corpus, q, [Filter()], k_max=5)[0]
    ids, dists = truth.answer(0, 1)
    assert list(ids) == [int(corpus.ids[3])]  # the tie goes to the smaller id
    # returning the other tied row instead is right (its distance equals the k-th)
    twin = int(corpus.ids[7])
    assert score_answer([twin], [float(dists[0])], ids, dists, 1)["recall"] == 1.0
    # ... a row just beyond the tolerance is not
    assert score_answer([999999], [float(dists[0]) + 1e-3], ids, dists, 1)["recall"] == 0.0
    assert score_answer([999999], [float(dists[0]) + 5e-6], ids, dists, 1, 1e-5)["recall"] == 1.0


def test_cache_round_trip_and_key(tmp_path: Path) -> None:
    corpus = _corpus(100)
    qs_profile = _profile(embeddings=corpus.vectors[:20])
    queries = build_query_set(qs_profile, 10, seed=1)
    truth = brute_force(corpus, queries.vectors[:, :16], [Filter()], k_max=5)[0]
    key = cache_key("sha256:abc", queries, Filter(), 5)
    assert key != cache_key("sha256:abd", queries, Filter(), 5)
    assert key != cache_key("sha256:abc", queries, Filter.of({"namespace": "b"}), 5)
    save_cached(tmp_path, key, truth)
    back = load_cached(tmp_path, key, Filter())
    assert back is not None and (back.ids == truth.ids).all() and back.matching == truth.matching
    (tmp_path / "ground-truth" / f"gt-{key}.npz").write_bytes(b"damaged")
    assert load_cached(tmp_path, key, Filter()) is None


def test_filter_keys_are_checked() -> None:
    with pytest.raises(UsageError, match="not a semantic-search filter"):
        Filter.of({"colour": "red"})
    assert Filter.of({"namespace": "x", "environment": "y"}).label == "environment=y,namespace=x"
    assert Filter().label == "none"


# -- scoring --------------------------------------------------------------------------------------
def test_recall_with_known_overlap_agrees_with_plain_set_recall() -> None:
    rng = np.random.default_rng(4)
    truth_ids = [list(rng.choice(10_000, 10, replace=False)) for _ in range(50)]
    overlaps = rng.integers(0, 11, 50)
    returned = []
    for want, j in zip(truth_ids, overlaps, strict=True):
        wrong = [20_000 + x for x in range(10 - j)]
        returned.append(list(want[:j]) + wrong)
    dists = np.linspace(0.1, 0.2, 10)
    scores = [score_answer(got, [0.9] * len(got), np.array(want), dists, 10)["recall"]
              for got, want in zip(returned, truth_ids, strict=True)]
    assert scores == [j / 10 for j in overlaps]
    assert np.isclose(np.mean(scores), recall_at_k(returned, truth_ids, 10))
    assert np.isclose(np.mean(scores), overlaps.mean() / 10)


def test_completeness_fill_and_empty_truth() -> None:
    want = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    d = np.linspace(0.1, 0.3, 10)
    short = score_answer([1, 2, 3], [0.1, 0.12, 0.14], want, d, 10)
    assert short == {"fill": 0.3, "recall": 0.3, "completeness": 0.3}
    # threshold leaves 4 qualifying rows; 4 returned = complete although the page is not full
    part = score_answer([1, 2, 3, 4], [0.1] * 4, want[:4], d[:4], 10)
    assert part["completeness"] == 1.0 and part["recall"] == 1.0 and part["fill"] == 0.4
    assert score_answer([], [], np.array([]), np.array([]), 10) == {"fill": 0.0}


# -- query set, filters --------------------------------------------------------------------------
def _profile(embeddings: np.ndarray | None = None, **counts) -> DatasetProfile:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    if embeddings is None:
        rng = np.random.default_rng(0)
        embeddings = rng.normal(size=(64, 384)).astype(np.float32)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    base = {"namespaces": [("payments", 2600), ("backup", 96), ("cart", 30)],
            "severities": [("warning", 5000), ("info", 3000), ("critical", 2000)],
            "clusters": [("prod-us-east-1", 3580), ("test-ci-1", 1054), ("dev-1", 784)],
            "environments": [("production", 5506), ("staging", 1722), ("test", 1258)],
            "action_types": [("restart", 10000)], "statuses": [("completed", 10000)]}
    base.update(counts)
    return DatasetProfile(traces=10000, embedded=10000, id_min=1, id_max=10000, ts_min=now,
                          ts_max=now, created_min=now, created_max=now, max_created_lag_s=0.0,
                          sample_ids=[1, 2, 3], embedding_sample=np.asarray(embeddings), **base)


def test_query_set_is_seeded_distinct_and_mixed() -> None:
    p = _profile()
    a = build_query_set(p, 200, seed=7, far_share=0.2, dataset_seed=42)
    b = build_query_set(p, 200, seed=7, far_share=0.2, dataset_seed=42)
    assert a.digest() == b.digest()
    assert a.digest() != build_query_set(p, 200, seed=8, dataset_seed=42).digest()
    assert len(np.unique(a.vectors, axis=0)) == 200
    assert np.allclose(np.linalg.norm(a.vectors, axis=1), 1.0, atol=1e-5)
    kinds = a.kind_counts()
    assert kinds["far"] == 40 and kinds["near_topic"] == 80
    assert sum(v for k, v in kinds.items() if k.startswith("near_row")) == 80
    near = a.vectors[[i for i, k in enumerate(a.kinds) if k == "near_row_0.05"]]
    assert (near @ p.embedding_sample.T).max(axis=1).min() > 0.99  # next to a stored row
    far = a.vectors[[i for i, k in enumerate(a.kinds) if k == "far"]]
    assert (far @ p.embedding_sample.T).max(axis=1).max() < 0.4
    # not generated by ctxbench: no topic centroids, all near vectors near rows
    ext = build_query_set(p, 50, seed=7, dataset_seed=None)
    assert "near_topic" not in ext.kind_counts()


def test_filters_closest_by_ratio_unique_and_labelled() -> None:
    choices = pick_filters(_profile(), [1.0, 0.5, 0.1, 0.01, 0.003])
    got = [(c.label, c.filter.label) for c in choices]
    assert got == [("100%", "none"), ("50%", "environment=production"),
                   ("10%", "cluster_name=test-ci-1"), ("1%", "namespace=backup"),
                   ("0.3%", "namespace=cart")]
    # a value is used once: two targets near 10 % get different filters
    twice = pick_filters(_profile(), [0.1, 0.1])
    assert twice[0].filter != twice[1].filter
    assert selectivity_label(0.25) == "25%" and selectivity_label(0.005) == "0.5%"
    with pytest.raises(UsageError):
        pick_filters(_profile(), [0.0])


# -- steady state ---------------------------------------------------------------------------------
def test_steady_state_at_a_known_change_point() -> None:
    rng = np.random.default_rng(1)
    curve = np.r_[np.full(10, 50.0), 2.0 + rng.normal(0, 0.1, 40)]
    st = detect_steady(curve)
    assert st.steady and st.searches_to_steady in (10, 11, 12)
    assert abs(st.level_ms - 2.0) < 0.2
    assert st.ms_to_steady == pytest.approx(curve[:st.index].sum())


def test_noisy_plateau_is_steady_from_the_start_and_a_late_outlier_does_not_matter() -> None:
    rng = np.random.default_rng(2)
    curve = 5.0 * rng.lognormal(0, 0.15, 60)
    st = detect_steady(curve)
    assert st.steady and st.searches_to_steady <= 3
    spiked = curve.copy()
    spiked[55] = 80.0
    assert detect_steady(spiked).steady


def test_a_curve_still_falling_is_never_steady() -> None:
    curve = 100.0 * 0.91 ** np.arange(50)
    st = detect_steady(curve)
    assert not st.steady and st.searches_to_steady is None and "drifting" in st.reason
    # alternating fast/slow to the end: the running median never stays near any level
    flapping = np.r_[np.full(20, 40.0), np.tile([2.0, 40.0], 15)]
    st = detect_steady(flapping)
    assert not st.steady and st.searches_to_steady is None
    assert not detect_steady([3.0] * 6).steady  # too short to tell
    # a spike at the very end: the running median of the last search is still high
    st = detect_steady(np.r_[np.full(20, 3.0), [3.0, 40.0, 45.0]])
    assert not st.steady and st.reason.startswith("never settles") and "of 23 searches" in st.reason


# -- frontier and recommendation ------------------------------------------------------------------
def _point(ef: int, recall: float, p95: float, *, sel: str = "100%", kind: str = "sweep",
           phase: str = "after_analyze.vector", variant: str | None = None) -> an.Point:
    est = {"value": recall, "lo": recall, "hi": recall}
    return an.Point(phase=phase, stats="analyzed", selectivity=sel, filter="none", kind=kind,
                    variant=variant or f"ef{ef}", ef_search=ef,
                    iterative_scan="off" if kind != "iterative" else "relaxed_order",
                    threshold=0.0, n=200, recall=est, completeness=est, fill=est,
                    latency={"p95": {"value": p95, "lo": p95, "hi": p95},
                             "p50": {"value": p95 / 2, "lo": p95 / 2, "hi": p95 / 2}},
                    rows_mean=10.0)


SWEEP = [(10, 0.70, 2.0), (20, 0.85, 2.5), (40, 0.93, 3.0), (80, 0.96, 4.5),
         (100, 0.975, 5.0), (200, 0.99, 9.0), (400, 0.995, 16.0)]


def test_recommendation_is_the_smallest_ef_meeting_target_and_budget() -> None:
    pts = [_point(*x) for x in SWEEP]
    ef, why, point = an.recommend(pts, 0.95, 250.0)
    assert ef == 80 and point is pts[3] and "smallest" in why
    assert an.recommend(pts, 0.98, 250.0)[0] == 200
    ef, why, _ = an.recommend(pts, 0.98, 8.0)  # reached at 200, but too slow there
    assert ef is None and "exceeds" in why and "200" in why
    ef, why, _ = an.recommend(pts, 0.999, 250.0)
    assert ef is None and "best 0.995 at ef_search 400" in why


def test_recommendation_across_selectivities_and_iterative_hint() -> None:
    pts = [_point(*x) for x in SWEEP]
    pts += [_point(ef, min(r + 0.03, 1.0), p, sel="50%") for ef, r, p in SWEEP]
    pts += [_point(ef, r * 0.3, p, sel="1%") for ef, r, p in SWEEP]
    pts.append(_point(40, 0.97, 45.0, sel="1%", kind="iterative", variant="ef40_relaxed"))
    recs = an.recommendations(pts, 0.95, 250.0)["after_analyze.vector"]
    per = {r["selectivity"]: r["ef_search"] for r in recs["per_selectivity"]}
    assert per == {"100%": 80, "50%": 40, "1%": None}
    assert recs["overall"] == 80 and recs["unreachable"] == ["1%"]
    why = next(r["reason"] for r in recs["per_selectivity"] if r["selectivity"] == "1%")
    assert "ef40_relaxed" in why


def test_pareto_frontier_drops_dominated_points() -> None:
    pts = [_point(*x) for x in SWEEP] + [_point(30, 0.80, 6.0)]  # slower and worse than ef20
    front = an.pareto(pts)
    assert [p.ef_search for p in front] == [10, 20, 40, 80, 100, 200, 400]
    assert all(p.ef_search != 30 for p in front)


# -- budgets and report on a synthetic vector run ---------------------------------------------------
def _write_vector_run(folder: Path, budgets: list[dict]) -> None:
    results = ResultsDir(folder).create()
    meta = RunMeta(run_id="vec", kind="vector", scenario_name="vector", scenario_text="",
                   started_at="2025-01-01T00:00:00+00:00", ended_at="2025-01-01T00:10:00+00:00",
                   status="complete", budgets=budgets)
    results.write_meta(meta)
    rng = np.random.default_rng(11)
    cells = []
    for ef, recall, p95 in SWEEP:
        labels = {"stats": "analyzed", "selectivity": "100%", "filter": "none",
                  "ef_search": str(ef), "iterative_scan": "off", "threshold": "0"}
        for i in range(80):
            hit = rng.random() < recall
            results.append_measurement(Measurement(
                run_id="vec", phase="after_analyze.vector", query="semantic_search",
                variant=f"ef{ef}", param_id=f"p{i}", seq=i + 1,
                latency_ns=int(rng.uniform(0.5, 1.0) * p95 * 1e6), rows=10,
                labels={**labels, "param_kind": "far" if i % 5 == 0 else "near_topic"},
                metrics={"recall": 1.0 if hit else 0.5, "completeness": 1.0, "fill": 1.0}))
        cells.append({"phase": "after_analyze.vector", "kind": "sweep", "variant": f"ef{ef}",
                      "labels": labels, "plan_kind": "hnsw", "plan_access": "HNSW",
                      "settings_applied": {"hnsw.ef_search": str(ef)}})
    curve_ms = np.r_[np.full(5, 80.0), np.full(25, 3.0)]
    for mode in ("none", "index"):
        for i, v in enumerate(curve_ms):
            results.append_measurement(Measurement(
                run_id="vec", phase="hnsw_warmup", query="semantic_search", variant="as_shipped",
                param_id=f"w{i}", seq=i + 1, latency_ns=int(v * 1e6), rows=10,
                labels={"prewarm": mode, "rep": "0"}))
    results.close()
    doc = {"schema_version": 1, "spec": {"k": 10, "recall_target": 0.95, "latency_budget_ms": 250,
                                         "latency_metric": "p95", "stats": ["after_analyze"],
                                         "tie_epsilon": 1e-5, "warmup_passes": 1},
           "queries": {"n": 80, "seed": 1, "kinds": {"far": 16, "near_topic": 64}},
           "filters": [{"target": 1.0, "selectivity": "100%", "filter": "none", "estimated": 1.0,
                        "actual": 1.0, "matching": 1000, "total": 1000}],
           "ground_truth": {"cached": 0, "computed": 1, "rows": 1000}, "crosscheck": [],
           "cells": cells}
    (folder / VECTOR_JSON).write_text(json.dumps(doc))


def test_recall_and_completeness_floors_give_verdicts(tmp_path: Path) -> None:
    budgets = [{"query": "*", "phase": "*", "metric": "p95", "max": 500.0},
               {"query": "semantic_search", "phase": "after_analyze.vector", "variant": "ef10",
                "metric": "recall", "min": 0.95},
               {"query": "semantic_search", "phase": "after_analyze.vector", "variant": "ef400",
                "metric": "recall", "min": 0.95},
               {"query": "semantic_search", "phase": "*.vector", "variant": "ef40",
                "labels": {"selectivity": "100%"}, "metric": "completeness", "min": 0.99}]
    _write_vector_run(tmp_path, budgets)
    summary = build_summary(tmp_path)
    got = {(v["variant"], v["metric"]): v["verdict"] for v in summary["verdicts"]
           if v["metric"] in ("recall", "completeness")}
    # ef10: ~70 % of searches at recall 1.0, the rest 0.5 → mean ≈ 0.85; ef400 ≈ 0.998
    assert got[("ef400", "recall")] == "PASS"
    assert got[("ef40", "completeness")] == "PASS"
    assert got[("ef10", "recall")] == "FAIL"
    ef10 = next(g for g in summary["groups"] if g["variant"] == "ef10")
    assert ef10["metrics"]["recall"]["n"] == 80


def test_vector_report_section_renders_tables_and_figures(tmp_path: Path) -> None:
    _write_vector_run(tmp_path, [{"query": "*", "phase": "*", "metric": "p95", "max": 500.0}])
    paths = build_reports(tmp_path)
    md = paths.report_md.read_text()
    html = paths.report_html.read_text()
    assert "## Vector search quality" in md
    assert "| Phase | Selectivity | Variant | ef_search |" in md.replace("\\_", "_")
    assert "Recommendation (after_analyze.vector" in md.replace("\\_", "_")
    assert "HNSW warm-up: time to steady state" in md
    assert "Recall by query kind" in md
    for name, title in (("vector-recall-latency.png", "Recall vs latency per selectivity"),
                        ("vector-warmup.png", "HNSW warm-up with detected steady state")):
        assert (paths.plots / name).read_bytes().startswith(b"\x89PNG")
        assert f'<img alt="{title}" src="data:image/png;base64,' in html
    summary = paths.summary_data
    items = an.points(summary, json.loads((tmp_path / VECTOR_JSON).read_text()))
    assert [p.ef_search for p in items] == [x[0] for x in SWEEP]
    steady = summary["hnsw_warmup"]
    assert {e["prewarm"] for e in steady} == {"none", "index"}
    assert all(e["steady"] and e["queries_to_steady"] == 6 for e in steady)


def test_summary_json_carries_the_vector_study_the_report_shows(tmp_path: Path) -> None:
    """The recommendation (and every number of the section) is in summary.json; the report
    only renders it, so the file on disk and the report agree."""
    _write_vector_run(tmp_path, [{"query": "*", "phase": "*", "metric": "p95", "max": 500.0}])
    paths = build_reports(tmp_path)
    vec = json.loads(paths.summary.read_text())["vector"]
    rec = vec["recommendations"]["after_analyze.vector"]
    expected = an.recommendations([an.Point.from_json(p) for p in vec["basis"]], 0.95, 250.0)
    assert rec == json.loads(json.dumps(expected))["after_analyze.vector"]
    assert rec["overall"] is not None and str(rec["overall"]) in rec["text"]
    md = paths.report_md.read_text().replace("\\_", "_")
    assert rec["text"] in md
    assert vec["rule"] == {"recall_target": 0.95, "latency_budget_ms": 250.0,
                           "latency_metric": "p95", "k": 10, "basis_kinds": []}
    assert [p["ef_search"] for p in vec["points"]] == [x[0] for x in SWEEP]
    assert any(p["frontier"] for p in vec["basis"])
    assert vec["recall_by_kind"]["kinds"] == ["far", "near_topic"]
    assert vec["warm_reference"] is None  # no unfiltered cell of the warm-up's variant
    # the same summary rebuilt from the folder alone: the report is a function of the folder
    first = paths.report_md.read_bytes()
    assert build_reports(tmp_path).report_md.read_bytes() == first


def test_no_section_without_vector_json(tmp_path: Path) -> None:
    from ctxbench.report.vector import report_sections

    _write_vector_run(tmp_path, [])
    (tmp_path / VECTOR_JSON).unlink()
    summary = build_summary(tmp_path)
    assert summary["vector"] is None
    assert report_sections(summary, ResultsDir(tmp_path)) == []


def test_a_corrupt_vector_json_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    _write_vector_run(tmp_path, [])
    (tmp_path / VECTOR_JSON).write_text("[1, 2]")
    with pytest.raises(UsageError, match=r"vector\.json: expected a JSON object"):
        build_summary(tmp_path)


# -- scenario ------------------------------------------------------------------------------------
def test_vector_scenario_validation() -> None:
    sc = load_text("[vector]\nk = 20\nselectivities = [1.0, 0.02]\n", "v.toml")
    assert sc.vector.k == 20 and sc.vector.selectivities == [1.0, 0.02]
    for bad, key in (("[vector]\nef_search = [0]", "vector.ef_search[0]"),
                     ("[vector]\nselectivities = [1.5]", "vector.selectivities[0]"),
                     ("[vector]\niterative_scans = [\"off\"]", "vector.iterative_scans[0]"),
                     ("[vector]\nstats = [\"later\"]", "vector.stats[0]"),
                     ("[vector]\nsweep_stats = [\"before_analyze\"]", "vector.sweep_stats[0]"),
                     ("[vector]\ncompare_variants = [\"tuned\"]", "vector.compare_variants[0]"),
                     ("[vector]\nk = 101", "vector.k")):
        with pytest.raises(UsageError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_text(bad, "v.toml")
    sc = load_text('[[budgets]]\nphase = "after_analyze.vector"\nmetric = "recall"\nmin = 0.9\n'
                   'labels = { selectivity = "1%" }\n', "b.toml")
    assert sc.resolved_budgets()[-1]["labels"] == {"selectivity": "1%"}


def test_shipped_vector_scenario_loads() -> None:
    from ctxbench.scenario import find

    sc = find("vector")
    assert sc.vector.queries >= 200 and sc.dataset.scale >= 100_000
    assert any(b.metric == "recall" for b in sc.budgets)
