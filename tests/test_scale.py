"""Scale studies: growth-law fits (synthetic data with a known exponent), snapshots on the real
embedded server (save, restore, checksum verification, ownership), and a tiny study end to end."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
from cli_helpers import cli
from psycopg import sql

from ctxbench import scenario as scenarios
from ctxbench.analysis.scale import analyse, collect, crossing_of, fit_group
from ctxbench.datagen import snapshot
from ctxbench.datagen.generator import DatasetOptions, current_dataset, seed_dataset
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import drop_database, open_target
from ctxbench.errors import InfraError, NotOwnedError, UsageError
from ctxbench.measure.phases import SilentProgress
from ctxbench.results import ResultsDir
from ctxbench.results.model import Measurement
from ctxbench.runs.scale import point_scenario, run_scale_study
from ctxbench.runs.session import prepare_dataset

SIZES = (20_000, 100_000, 300_000, 1_000_000)


def synthetic(b: float, a: float = 0.01, *, sets: int = 30, repeats: int = 2, noise: float = 0.3,
              query: str = "q", seed: int = 0) -> list[Measurement]:
    """Latency = a·N^b × a per-parameter-set factor × a little per-execution noise."""
    rng = np.random.default_rng(seed)
    out = []
    for n in SIZES:
        for s in range(sets):
            factor = math.exp(rng.normal(0, noise))
            for r in range(repeats):
                ms = a * n ** b * factor * math.exp(rng.normal(0, 0.05))
                out.append(Measurement("r", "warm", query, "as_shipped", f"p{s}", r, int(ms * 1e6), 1,
                                       labels={"scale": str(n), "param_kind": "k"}))
    return out


def test_fit_recovers_a_known_exponent_with_an_interval():
    points = collect(synthetic(0.8))[("q", "as_shipped", "warm", "")]
    fit = fit_group(points, "p95", 500.0, seed=1)
    assert fit.b_ci[0] < 0.8 < fit.b_ci[1]
    assert fit.b_ci[1] - fit.b_ci[0] < 0.3
    assert abs(fit.b - 0.8) < 0.1 and fit.superlinear is False
    # the break-even scale is where the fitted law meets the budget, inside its interval
    assert fit.crossing == pytest.approx((500.0 / fit.a) ** (1 / fit.b))
    assert fit.crossing_ci[0] < fit.crossing < fit.crossing_ci[1]
    assert fit.points[0]["param_sets"] == 30 and fit.points[0]["n"] == 60


def test_flat_and_superlinear_growth():
    flat = fit_group(collect(synthetic(0.0, a=5.0))[("q", "as_shipped", "warm", "")], "p95", 500.0,
                     seed=2)
    assert flat.crossing_text.startswith("not within 100M")
    steep = fit_group(collect(synthetic(1.5, a=1e-6))[("q", "as_shipped", "warm", "")], "p50", 500.0,
                      seed=3)
    assert steep.superlinear and steep.b_ci[0] > 1.0
    over = fit_group(collect(synthetic(0.5, a=10.0))[("q", "as_shipped", "warm", "")], "p95", 500.0,
                     seed=4)
    assert over.crossing_text == "already over at 20,000"
    assert crossing_of(2.0, -0.1, 1.0) == 0.0 and math.isinf(crossing_of(0.5, -0.1, 1.0))


def test_one_parameter_set_is_said_to_be_too_narrow():
    fit = fit_group(collect(synthetic(0.7, sets=1, repeats=20))[("q", "as_shipped", "warm", "")],
                    "p50", None, seed=7)
    assert "not independent" in fit.note and fit.b_ci is not None
    assert "not independent" not in fit_group(collect(synthetic(0.7))[("q", "as_shipped", "warm", "")],
                                              "p50", None, seed=7).note


def test_more_parameter_sets_narrow_the_interval():
    few = fit_group(collect(synthetic(0.7, sets=6, seed=5))[("q", "as_shipped", "warm", "")], "p50",
                    None, seed=6)
    many = fit_group(collect(synthetic(0.7, sets=60, seed=5))[("q", "as_shipped", "warm", "")], "p50",
                     None, seed=6)
    assert (many.b_ci[1] - many.b_ci[0]) < (few.b_ci[1] - few.b_ci[0])


def test_analyse_takes_the_budget_and_flags_plan_changes():
    ms = synthetic(0.9, query="list_incidents") + synthetic(0.1, query="get_incident", seed=9)
    plans = {("list_incidents", "as_shipped", "warm"): {
        20_000: {"fingerprint": "a", "outline": ["Limit", "  -> Index Scan using i on t"],
                 "nodes": []},
        100_000: {"fingerprint": "a", "outline": [], "nodes": []},
        300_000: {"fingerprint": "b", "outline": ["Limit", "  -> Sort", "    -> Seq Scan on t"],
                  "nodes": []}}}
    fits = analyse(ms, lambda q, v, p: ("p95", 200.0) if q == "list_incidents" else None,
                   plans=plans, n_boot=200)
    by = {f["query"]: f for f in fits}
    assert by["list_incidents"]["fit"]["budget"] == 200.0
    assert by["get_incident"]["fit"]["budget"] is None
    changes = by["list_incidents"]["plan_changes"]
    assert [(c["from"], c["to"]) for c in changes] == [(100_000, 300_000)]
    assert by["list_incidents"]["median_fit"]["metric"] == "p50"


# -- snapshots on the real server ------------------------------------------------------------
@pytest.fixture
def seeded(pg_server: EmbeddedServer, fresh_target):
    with fresh_target.connect() as conn:
        seed_dataset(conn, DatasetOptions(scale=1000, seed=3, months=1))
    yield fresh_target
    for s in snapshot.list_snapshots(fresh_target):
        if s.params.get("seed") == 3 and s.params.get("scale") == 1000:
            snapshot.drop(fresh_target, s.key)


def test_snapshot_save_restore_verify(pg_server: EmbeddedServer, seeded):
    snap, made = snapshot.save(seeded)
    assert made and snap.name == snapshot.PREFIX + snap.key and snap.size_bytes > 0
    again, made_again = snapshot.save(seeded)
    assert not made_again and again.key == snap.key
    assert snap.key in [s.key for s in snapshot.list_snapshots(seeded)]
    other = open_target(pg_server, "restored_copy")
    try:
        timing = snapshot.restore(other, snap.key)
        assert timing["verified"] is True
        with other.connect() as conn:
            assert current_dataset(conn)["checksum"] == snap.checksum
        # the snapshot refuses connections: nothing can write into it
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_server.dsn(snap.name)).close()
    finally:
        drop_database(other)


def test_restore_detects_a_changed_snapshot(pg_server: EmbeddedServer, seeded):
    snap, _ = snapshot.save(seeded)
    with open_target(pg_server, None).admin_connect() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
            sql.Identifier(snap.name)))
    with psycopg.connect(pg_server.dsn(snap.name), autocommit=True) as conn:
        conn.execute("UPDATE resource_action_traces SET action_type = 'tampered' WHERE id = "
                     "(SELECT min(id) FROM resource_action_traces)")
    other = open_target(pg_server, "restored_tampered")
    with pytest.raises(InfraError, match="checksum"):
        snapshot.restore(other, snap.key)
    with other.admin_connect() as admin:  # the bad copy is gone
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = 'restored_tampered'"
                             ).fetchone() is None


def test_restore_never_touches_a_foreign_database(pg_server: EmbeddedServer, seeded):
    snap, _ = snapshot.save(seeded)
    with open_target(pg_server, None).admin_connect() as admin:
        admin.execute("DROP DATABASE IF EXISTS not_ours")
        admin.execute("CREATE DATABASE not_ours")
    target = open_target(pg_server, "not_ours")
    try:
        with pytest.raises(NotOwnedError, match="not created by ctxbench"):
            snapshot.restore(target, snap.key)
        with pytest.raises(NotOwnedError, match="not created by ctxbench"):
            snapshot.save(target)
        with target.connect() as conn:  # untouched: still empty, no dataset
            assert current_dataset(conn) is None
    finally:
        with open_target(pg_server, None).admin_connect() as admin:
            admin.execute("DROP DATABASE not_ours")
    with pytest.raises(UsageError, match="no snapshot with key"):
        snapshot.restore(target, "0" * 16)


def test_key_depends_on_everything_that_defines_the_dataset():
    base = DatasetOptions(scale=1000, seed=1, anchor=None).resolved().params()
    keys = {snapshot.dataset_key(base, [])}
    for change in ({"scale": 2000}, {"seed": 2}, {"months": 4}, {"anchor": "2026-01-01"},
                   {"severities": "tests"}, {"generator_version": "99"},
                   {"embedding_profile": "other"}):
        keys.add(snapshot.dataset_key({**base, **change}, []))
    keys.add(snapshot.dataset_key(base, ["list_order_index"]))
    assert len(keys) == 9
    assert snapshot.dataset_key(dict(reversed(list(base.items()))), []) == \
        snapshot.dataset_key(base, [])


# -- a tiny study end to end ------------------------------------------------------------------
STUDY = """
name = "scaletiny"
[database]
cache_reset = "evict"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
seed = 11
months = 1
snapshot = true
[queries]
include = ["get_incident", "count_incidents", "trend"]
[phases]
run = ["warm"]
[phases.warm]
param_sets = 8
repeats = 2
[scale]
points = [1000, 3000]
bootstrap = 200
"""


def test_scale_study_end_to_end(pg_server: EmbeddedServer, tmp_path, monkeypatch, capsys):
    sc = scenarios.load_text(STUDY, "scaletiny.toml")
    outcome = run_scale_study(sc, out_dir=tmp_path, home=pg_server.home)
    assert outcome.status == "complete", outcome.error
    study = ResultsDir(outcome.results_dir)
    meta = study.read_meta()
    assert meta.kind == "scale"
    runs = meta.extra["scale"]["runs"]
    assert [r["scale"] for r in runs] == [1000, 3000]
    assert all(r["dataset"]["snapshot"]["saved"] for r in runs)
    # each point recorded how its NOW()-relative windows were shifted to reach its data
    assert all(r["windows"]["mode"] == "data" and r["windows"]["now"] for r in runs)
    assert all(r["windows"]["trend_shift_days"] >= 1 for r in runs)
    scales = {m.labels["scale"] for m in study.iter_measurements()}
    assert scales == {"1000", "3000"}
    md = (outcome.results_dir / "report.md").read_text()
    assert "## Scale study" in md and "Break-even N" in md
    section = md[md.index("## Scale study"):]
    for q in ("get_incident", "count_incidents", "trend"):
        cell = q.replace("_", "\\_")
        assert any(line.startswith(f"| {cell} | as\\_shipped | warm | p95 |")
                   for line in section.splitlines()), section
    assert list((outcome.results_dir / "plots").glob("scale-*.png"))
    # `ctxbench report DIR` rebuilds the same report
    before = md
    code, output = cli(monkeypatch, capsys, "report", str(outcome.results_dir))
    assert code == outcome.exit_code, output
    assert (outcome.results_dir / "report.md").read_text() == before
    # a dropped point database comes back from its snapshot, checksum verified
    with open_target(pg_server, None).admin_connect() as admin:
        admin.execute("DROP DATABASE ctxbench_scaletiny_3000 WITH (FORCE)")
    point = point_scenario(sc, 3000)
    target = open_target(pg_server, point.database_name)
    info, fresh = prepare_dataset(target, point, SilentProgress())
    assert not fresh and info["snapshot"]["restored"] and info["snapshot"]["verified"]
    assert info["checksum"] == runs[1]["dataset"]["checksum"]
    # compare works on studies: groups are matched per size
    code, output = cli(monkeypatch, capsys, "compare", str(outcome.results_dir),
                       str(outcome.results_dir), "--json", squash=False)
    assert code == 0, output
    assert "scale=3000" in output and "scale=1000" in output
    for s in snapshot.list_snapshots(open_target(pg_server, None)):
        if s.params.get("seed") == 11:
            snapshot.drop(open_target(pg_server, None), s.key)


def test_scale_points_are_validated():
    with pytest.raises(UsageError, match=r"scale\.points"):
        scenarios.load_text("[scale]\npoints = [1000]\n", "x.toml")
    with pytest.raises(UsageError, match=r"scale.points\[1\]"):
        scenarios.load_text("[scale]\npoints = [1000, 20000000]\n", "x.toml")
