"""Vector quality on a real server: settings read back inside the transaction, the numpy ground
truth against the server's exact scan, and `ctxbench vector` end to end (files, metrics,
plans, report, exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target
from ctxbench.measure.executor import ConnectionSpec
from ctxbench.queries import DatasetProfile, catalog
from ctxbench.results import ResultsDir
from ctxbench.results.store import VECTOR_JSON
from ctxbench.vector.cells import ID_COL, SIMILARITY_COL, applied_settings
from ctxbench.vector.filters import pick_filters
from ctxbench.vector.groundtruth import export_corpus, ground_truth
from ctxbench.vector.queryset import build_query_set
from ctxbench.vector.recall import score_answer

pytestmark = pytest.mark.db


@pytest.mark.parametrize("variant,expected", [
    ("as_shipped", ("40", "off")),  # the shipped SET LOCALs do nothing: pgvector's defaults
    ("ef10", ("10", "off")),
    ("ef200", ("200", "off")),
    ("ef40_relaxed", ("40", "relaxed_order")),
    ("ef123_strict", ("123", "strict_order")),
    ("tuned", ("100", "off")),
])
def test_hnsw_settings_are_really_applied(dataset_target: Target, variant: str,
                                          expected: tuple[str, str]) -> None:
    with dataset_target.connect() as conn:
        got = applied_settings(conn, variant)
        assert (got["hnsw.ef_search"], got["hnsw.iterative_scan"]) == expected
        # and nothing leaks to the next statement on the same connection
        after = conn.execute("SELECT current_setting('hnsw.ef_search'), "
                             "current_setting('hnsw.iterative_scan')").fetchone()
        assert after == ("40", "off")


def test_numpy_ground_truth_agrees_with_the_servers_exact_scan(dataset_target: Target,
                                                               tmp_path: Path) -> None:
    with dataset_target.connect() as conn:
        profile = DatasetProfile.from_database(conn)
        corpus = export_corpus(conn)
        n_rows = conn.execute("SELECT count(*) FROM resource_action_traces "
                              "WHERE embedding IS NOT NULL").fetchone()[0]
    assert len(corpus) == n_rows and np.all(np.diff(corpus.ids) > 0)
    assert np.allclose(np.linalg.norm(corpus.vectors, axis=1), 1.0, atol=1e-5)
    queries = build_query_set(profile, 12, seed=5, dataset_seed=None)
    choices = pick_filters(profile, [1.0, 0.1])
    with dataset_target.connect() as conn:
        truths, info = ground_truth(conn, queries, [c.filter for c in choices],
                                    checksum="sha256:test", cache_dir=tmp_path)
        assert info.computed == 2 and info.cached == 0
        again, info2 = ground_truth(conn, queries, [c.filter for c in choices],
                                    checksum="sha256:test", cache_dir=tmp_path)
        assert info2.cached == 2 and info2.computed == 0
        assert all((a.ids == b.ids).all() for a, b in zip(truths, again, strict=True))
    assert truths[1].selectivity == pytest.approx(corpus.mask(choices[1].filter).mean())
    # never a prepared plan: a cached plan would ignore enable_indexscan=off (reference trap)
    exact = ConnectionSpec(dataset_target.dsn, prepare_threshold=None)
    q = catalog["semantic_search"]
    with exact.open() as conn:
        for choice, truth in zip(choices, truths, strict=True):
            for i in range(len(queries)):
                params = {"embedding": queries.vectors[i], "threshold": 0.0, "limit": 10,
                          **choice.filter.params}
                rows = q.execute(conn, params, "exact")
                want_ids, want_dists = truth.answer(i, 10)
                got = score_answer([r[ID_COL] for r in rows],
                                   [1 - float(r[SIMILARITY_COL]) for r in rows],
                                   want_ids, want_dists, 10)
                assert got["recall"] == 1.0 and got["completeness"] == 1.0
                assert np.allclose([1 - float(r[SIMILARITY_COL]) for r in rows], want_dists,
                                   atol=1e-5)


# -- end to end -------------------------------------------------------------------------------------
SCENARIO = """
name = "vtiny"
[database]
cache_reset = "evict"
name = "vector_tiny"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
scale = 1000
seed = 11
[vector]
queries = 24
ef_search = [10, 40]
selectivities = [1.0, 0.1]
iterative_scans = ["relaxed_order", "strict_order"]
stats = ["before_analyze", "after_analyze"]
compare_variants = ["as_shipped", "ef10"]
crosscheck = 2
cache_dir = "{cache}"
[phases.hnsw_warmup]
searches = 12
repeats = 1
modes = ["none", "index"]
[[budgets]]
query = "semantic_search"
phase = "after_analyze.vector"
variant = "ef40_strict"
labels = {{ selectivity = "100%" }}
metric = "completeness"
min = 0.9
[[budgets]]
query = "semantic_search"
phase = "after_analyze.vector"
variant = "ef10"
labels = {{ selectivity = "10%" }}
metric = "p50"
max = 0.0001
"""


def ctxbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctxbench", *args], capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def vector_run(pg_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("vector")
    path = base / "vtiny.toml"
    path.write_text(SCENARIO.format(cache=base / "cache"))
    result = ctxbench("vector", "--scenario", str(path), "--out", str(base / "out"),
                      "--home", str(pg_server.home))
    folders = list((base / "out").iterdir())
    assert len(folders) == 1, result.stdout + result.stderr
    return result, folders[0]


def test_vector_run_exits_1_on_a_broken_budget_and_says_so(vector_run) -> None:
    result, _ = vector_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "after_analyze.vector" in result.stdout


def test_every_search_is_scored_and_every_cell_recorded(vector_run) -> None:
    _, folder = vector_run
    results = ResultsDir(folder)
    meta = results.read_meta()
    assert meta is not None and meta.status == "complete" and meta.kind == "vector"
    vec = json.loads((folder / VECTOR_JSON).read_text())
    ms = [m for m in results.iter_measurements() if m.phase.endswith("vector")]
    timed = [m for m in ms if not m.warmup]
    assert all(m.ok for m in ms)
    per_cell = Counter((m.phase, m.variant, m.labels["selectivity"]) for m in timed)
    # after ANALYZE the full grid: 2 ef + 2 iterative + shipped, per selectivity; before: 2
    assert len([k for k in per_cell if k[0] == "after_analyze.vector"]) == 5 * 2
    assert len([k for k in per_cell if k[0] == "before_analyze.vector"]) == 2 * 2
    assert set(per_cell.values()) == {24}
    assert Counter(m.warmup for m in ms)[True] == len(timed)  # one warm-up pass per search
    for m in timed:
        assert 0.0 <= m.metrics["fill"] <= 1.0
        if "recall" in m.metrics:
            assert 0.0 <= m.metrics["recall"] <= 1.0 and 0.0 <= m.metrics["completeness"] <= 1.0
    sweep = [m for m in timed if m.labels["threshold"] == "0"]
    assert all("recall" in m.metrics for m in sweep)  # threshold 0: an exact answer always exists
    # the cells record what the server applied, equal to what was asked
    assert len(vec["cells"]) == len(per_cell)
    for cell in vec["cells"]:
        asked = cell["settings_requested"]
        for key, value in asked.items():
            assert cell["settings_applied"][key] == value
        if cell["variant"] == "as_shipped":
            assert cell["settings_applied"]["hnsw.ef_search"] == "40"
        assert cell["plan_kind"] in ("hnsw", "exact", "mixed")
        plan = json.loads((folder / cell["plan_file"]).read_text())
        assert plan["labels"] == cell["labels"] and plan["plan"]
    # exact plans are exact
    for cell in vec["cells"]:
        if cell["plan_kind"] == "exact" and cell["labels"]["threshold"] == "0":
            rec = [m.metrics["recall"] for m in timed if m.phase == cell["phase"]
                   and m.variant == cell["variant"] and m.labels == {**cell["labels"],
                                                                     "param_kind": m.labels["param_kind"]}]
            assert rec and min(rec) == 1.0
    assert [c["agreement_mean"] for c in vec["crosscheck"]] == [1.0, 1.0]
    assert vec["filters"][1]["actual"] > 0
    assert vec["ground_truth"]["computed"] == 2
    # the geometry every recall figure was measured on
    geo = vec["geometry"]
    assert geo["rows"] == 1000 and geo["embedding_profile"] == "realistic"
    assert 0.5 < geo["cos100"] < geo["cos10"] < geo["cos1"] <= 1.0
    assert geo["d100_d10"] > 1.0 and geo["pca50"] <= geo["pca90"] <= geo["pca99"] <= 384


def test_phases_state_statistics_and_warmup_curves(vector_run) -> None:
    _, folder = vector_run
    records = {r.phase: r for r in ResultsDir(folder).read_phases()}
    assert records["before_analyze.vector"].stats_state == "no_stats"
    assert records["after_analyze.vector"].stats_state == "analyzed"
    assert any(e["type"] == "ground_truth" for e in records["vector.ground_truth"].events)
    curve = [m for m in ResultsDir(folder).iter_measurements() if m.phase == "hnsw_warmup"]
    assert sorted({m.labels["prewarm"] for m in curve}) == ["index", "none"]


def test_report_has_the_vector_section(vector_run) -> None:
    _, folder = vector_run
    md = (folder / "report.md").read_text().replace("\\_", "_")
    html = (folder / "report.html").read_text()
    assert "## Vector search quality" in md
    assert "| Phase | Selectivity | Variant | ef_search | Iterative | Plan | Recall |" in md
    assert "Recommendation (after_analyze.vector" in md
    assert "The shipped SQL as it behaves" in md
    assert "HNSW warm-up: time to steady state" in md
    assert "### Geometry of the searched vectors" in md
    assert "| local intrinsic dimension (MLE, k=20), median |" in md
    assert 'alt="Recall vs latency per selectivity"' in html
    assert (folder / "plots" / "vector-recall-latency.png").exists()
    summary = json.loads((folder / "summary.json").read_text())
    completeness = [v for v in summary["verdicts"] if v["metric"] == "completeness"]
    assert completeness and completeness[0]["n"] == 24
    # the recommendation the report and the terminal show is in summary.json
    result, _ = vector_run
    recs = summary["vector"]["recommendations"]
    assert "after_analyze.vector" in recs
    for phase, rec in recs.items():
        assert rec["text"] in md
        assert f"{phase}: {rec['text']}" in " ".join(result.stdout.split())  # rich wraps


def test_ground_truth_is_reused_from_the_cache(vector_run, pg_server: EmbeddedServer) -> None:
    _, folder = vector_run
    base = folder.parent.parent
    text = (base / "vtiny.toml").read_text()
    again = base / "again.toml"
    again.write_text(text.replace('stats = ["before_analyze", "after_analyze"]',
                                  'stats = ["as_found"]')
                     .replace("crosscheck = 2", "crosscheck = 0\nhnsw_warmup = false")
                     .replace('ef_search = [10, 40]', 'ef_search = [40]'))
    out = base / "out2"
    ctxbench("vector", "--scenario", str(again), "--out", str(out), "--home", str(pg_server.home))
    (run,) = list(out.iterdir())
    vec = json.loads((run / VECTOR_JSON).read_text())
    assert vec["ground_truth"]["cached"] == 2 and vec["ground_truth"]["computed"] == 0
    first = json.loads((folder / VECTOR_JSON).read_text())["geometry"]
    assert vec["geometry"] == first  # cached per dataset checksum, not measured again
    records = {r.phase: r for r in ResultsDir(run).read_phases()}
    assert any(e["type"] == "geometry" and e["source"] == "cache"
               for e in records["vector.geometry"].events)
    assert {c["phase"] for c in vec["cells"]} == {"vector"}


def test_bad_vector_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[vector]\nef_search = [0, 40]\n")
    result = ctxbench("vector", "--scenario", str(path))
    assert result.returncode == 2
    assert "vector.ef_search[0]" in result.stderr and "Traceback" not in result.stderr


def test_bad_stats_override_exits_2() -> None:
    result = ctxbench("vector", "--stats", "later")
    assert result.returncode == 2 and "--stats" in result.stderr
