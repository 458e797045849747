"""A remedy's server-start action (``Variant.on_start``: pg_prewarm after every start).

The model refuses bad specs with a clear error; entries resolve from the connected database's
catalog; in a run the cold phase runs the action after each cache reset of that variant only,
before the sample (pg_buffercache shows the blocks resident), records what it cost, and the
Remedies section shows that cost next to the build cost.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from servers import TEST_SETTINGS

from ctxbench import scenario as scenarios
from ctxbench.db import control
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target
from ctxbench.errors import UsageError
from ctxbench.queries import OnStart, Variant, catalog
from ctxbench.results import ResultsDir
from ctxbench.runs.phase_run import run_scenario


@pytest.mark.parametrize(("prewarm", "says"), [
    ((), "is empty"),
    (("hash:resource_action_traces",), "'hash:resource_action_traces' is not allowed"),
    (("resource_action_traces; DROP TABLE x",), "is not allowed"),
    (("hnsw:",), "is not allowed"),
    ((42,), "42 is not allowed"),
])
def test_bad_on_start_specs_are_refused_with_what_is_allowed(prewarm, says) -> None:
    with pytest.raises(UsageError, match=r"on_start\.prewarm") as err:
        OnStart(prewarm)
    assert says in str(err.value)
    if prewarm:
        assert "hnsw" in str(err.value) and "heap" in str(err.value)  # what is allowed


def test_variant_on_start_must_be_an_action() -> None:
    with pytest.raises(UsageError, match="on_start must be an OnStart"):
        Variant("v", "SELECT 1", "doc", on_start="hnsw:resource_action_traces")  # type: ignore[arg-type]


def test_catalog_declares_the_prewarm_remedies() -> None:
    q = catalog["semantic_search"]
    assert q.variant("prewarmed").on_start.prewarm == ("idx_rat_embedding_hnsw",)
    assert q.variant("halfvec_prewarmed").on_start.prewarm == ("idx_rat_embedding_half_hnsw",)
    assert q.variant("tuned").on_start is None and q.variant("as_shipped").on_start is None
    described = {v["name"]: v for v in q.describe()["variants"]}
    assert described["prewarmed"]["on_start"] == {"prewarm": ["idx_rat_embedding_hnsw"]}


@pytest.mark.db
def test_entries_resolve_from_the_database_catalog(dataset_target: Target) -> None:
    with dataset_target.connect() as conn:
        hnsw = control.hnsw_indexes(conn)
        assert len(hnsw) > 1  # one per partition
        assert control.resolve_prewarm(conn, OnStart(("hnsw:resource_action_traces",)).targets()) \
            == hnsw
        parts = control.resolve_prewarm(conn, [("heap", "resource_action_traces")])
        assert "resource_action_traces" not in parts and len(parts) == len(hnsw)
        # a partitioned index stands for its partitions; a plain table for itself; no repeats
        targets = [(None, "idx_rat_embedding_hnsw"), ("hnsw", "resource_action_traces"),
                   (None, "resource_references")]
        assert control.resolve_prewarm(conn, targets) == [*hnsw, "resource_references"]
        for bad, says in [([(None, "no_such_table")], "does not exist"),
                          ([("ivfflat", "resource_action_traces")], "no ivfflat index")]:
            with pytest.raises(UsageError, match=says):
                control.resolve_prewarm(conn, bad)


@pytest.mark.db
def test_every_declared_start_action_resolves_on_its_schema(dataset_target: Target) -> None:
    """Each variant's prewarm names relations that exist once its schema variants are built
    (a misspelled name would only surface as a usage error in the cold phase of a 1M run)."""
    from ctxbench.db import migrate as mig
    from ctxbench.queries import schema_variant_names

    declared = [(q, v) for q in catalog.values() for v in q.variants.values() if v.on_start]
    assert {(q.name, v.name) for q, v in declared} >= {
        ("semantic_search", "topk_prewarmed"), ("list_incidents", "skip_prewarmed")}
    available = mig.available_variants()
    with dataset_target.connect() as conn:
        conn.autocommit = False
        for q, v in declared:
            try:
                for name in schema_variant_names(v.schema_variant):
                    conn.execute(mig._split_variant(available[name])[0])
                targets = v.on_start.targets()
                resolved = control.resolve_prewarm(conn, targets)
                plain = [n for kind, n in targets if kind is None]
                assert len(resolved) >= len(plain), (q.name, v.name, resolved)
            finally:
                conn.rollback()


# the session server's settings, so the run does not restart it with others
SETTINGS = "\n".join(f'{k} = "{v}"' for k, v in TEST_SETTINGS.items())
SCENARIO = f"""
name = "prewarm"
[database]
cache_reset = "evict"
name = "on_start_run"
[database.settings]
{SETTINGS}
[dataset]
scale = 1000
seed = 7
[queries]
include = ["semantic_search"]
variants = ["as_shipped", "tuned", "prewarmed"]
[phases]
run = ["after_analyze"]
[phases.after_analyze]
cold_samples = 3
param_sets = 3
repeats = 1
"""


@pytest.mark.db
def test_cold_phase_runs_the_start_action_for_that_variant_only(pg_server: EmbeddedServer,
                                                                tmp_path: Path) -> None:
    sc = scenarios.load_text(SCENARIO, "prewarm.toml")
    outcome = run_scenario(sc, out_dir=tmp_path, home=pg_server.home)
    folder = ResultsDir(outcome.results_dir)
    cold = [r for r in folder.read_phases() if r.phase == "after_analyze.cold"]
    events = [e for r in cold for e in r.events if e.get("type") == "on_start"]
    assert [(e["query"], e["variant"]) for e in events] == [("semantic_search", "prewarmed")]
    [ev] = events
    # once per cache reset of that variant: each sample and each cold plan capture
    samples = Counter(m.variant for m in folder.iter_measurements()
                      if m.phase == "after_analyze.cold" and not m.warmup)
    plans = Counter(p["variant"] for p in folder.read_plans() if p["phase"] == "after_analyze.cold")
    assert samples["prewarmed"] == 3 and ev["runs"] == samples["prewarmed"] + plans["prewarmed"]
    with outcome_target(pg_server) as conn:
        hnsw = control.hnsw_indexes(conn)
        blocks = sum(int(conn.execute("SELECT pg_relation_size(%s::regclass) / "
                                      "current_setting('block_size')::int", (r,)).fetchone()[0])
                     for r in hnsw)
    assert ev["relations"] == hnsw and ev["blocks"] == blocks > 0
    assert ev["mb"] == pytest.approx(blocks * 8192 / 1e6, abs=0.1)
    # right before the sample every prewarmed block was resident in shared buffers
    assert ev["resident_blocks_min"] == blocks
    assert ev["seconds_max"] >= ev["seconds_mean"] > 0
    # the Remedies section (summary.json and report) shows the start cost
    [entry] = outcome.reports.summary_data["remedies"]
    by_variant = {r["variant"]: r for r in entry["remedies"]}
    assert by_variant["tuned"]["start"] is None
    assert by_variant["prewarmed"]["start"]["blocks"] == blocks
    md = (outcome.results_dir / "report.md").read_text()
    assert f"pg\\_prewarm {ev['mb']:,.0f} MB of shared buffers ({blocks:,} blocks)" in md


def outcome_target(pg_server: EmbeddedServer):
    from ctxbench.db.target import open_target

    return open_target(pg_server, "on_start_run", create=False).connect()


def test_queries_list_shows_the_start_action() -> None:
    import json

    from typer.testing import CliRunner

    from ctxbench.cli import app

    result = CliRunner().invoke(app, ["queries", "list", "--json"])
    assert result.exit_code == 0, result.output
    semantic = next(q for q in json.loads(result.output) if q["name"] == "semantic_search")
    starts = {v["name"]: v["on_start"] for v in semantic["variants"]}
    assert starts["prewarmed"] == {"prewarm": ["idx_rat_embedding_hnsw"]}
    assert starts["as_shipped"] is None
    table = CliRunner().invoke(app, ["queries", "list"]).output  # words, wherever rich wraps
    assert "idx_rat_embedding_hnsw" in table and "pg_prewarm" in table
    assert "[embedding_halfvec]" in table  # not eaten as rich markup
