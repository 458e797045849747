"""The embedding geometry report: statistics on sets whose geometry is known by construction,
reading vectors from any table/column, and the `ctxbench geometry` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import cli

from ctxbench.analysis import geometry as geo
from ctxbench.errors import UsageError


def _sphere(n: int, k: int, seed: int = 0) -> np.ndarray:
    """n points uniform on the unit sphere of a random k-dimensional subspace of R^384."""
    rng = np.random.default_rng(seed)
    span = np.linalg.qr(rng.standard_normal((384, k)))[0].T
    return (rng.standard_normal((n, k)) @ span).astype(np.float32)


def test_low_dimensional_data_has_low_lid_and_few_components() -> None:
    g = geo.measure(_sphere(4000, 6), sample=300)
    # a 5-sphere: intrinsic dimension 5; all variance in 6 directions
    assert 3.5 < g["lid_median"] < 6.5
    assert g["pca99"] <= 6 and g["pca50"] >= 2
    assert g["rows"] == 4000 and g["sample"] == 300 and g["dims"] == 384


def test_isotropic_data_looks_like_a_ball_of_equidistant_points() -> None:
    iso = geo.measure(_sphere(3000, 384, seed=1), sample=200)
    low = geo.measure(_sphere(3000, 4, seed=1), sample=200)
    assert iso["d10_d1"] < 1.1 and iso["tie_share"] > 0.8 and iso["lid_median"] > 50
    assert iso["pca90"] > 250
    # in low dimension the 10th neighbour is much farther than the 1st, and ties are rare
    assert low["d10_d1"] > 2.0 and low["tie_share"] < 0.3
    assert low["relative_contrast"] > iso["relative_contrast"]
    assert abs(iso["mean_norm"]) < 0.1


def test_neighbours_are_exact_and_never_the_row_itself() -> None:
    v = _sphere(600, 20, seed=2)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rows = np.array([0, 17, 599])
    cos, mean_d = geo.neighbours(v, rows, k=5)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    want = -np.sort(-sims[rows], axis=1)[:, :5]
    assert np.allclose(cos, want, atol=1e-6)
    d = np.sqrt(np.maximum(2 - 2 * (v[rows] @ v.T), 0))
    assert np.allclose(mean_d, d.sum(axis=1) / 599, rtol=1e-4)


def test_duplicates_are_counted_and_do_not_break_ratios() -> None:
    v = _sphere(1000, 8, seed=3)
    v = np.vstack([v, v[:200]])
    g = geo.measure(v, sample=1200)
    assert g["duplicates"] == 400  # both copies of each of the 200 duplicated rows
    assert np.isfinite(g["d10_d1"]) and np.isfinite(g["relative_contrast"])


def test_same_seed_same_statistics_and_too_few_rows_is_an_error() -> None:
    v = _sphere(1500, 10, seed=4)
    assert geo.measure(v, sample=100, seed=5) == geo.measure(v, sample=100, seed=5)
    with pytest.raises(ValueError, match="at least 102 rows"):
        geo.measure(v[:50])


def test_compare_applies_absolute_and_relative_tolerances() -> None:
    out = geo.compare({"a": 1.05, "b": 10.0, "c": None}, {"a": 1.0, "b": 12.0, "c": 3.0},
                      {"a": {"abs": 0.1}, "b": {"rel": 0.1}, "c": {"abs": 1.0}})
    assert [o["ok"] for o in out] == [True, False, False]
    assert out[1]["allowed"] == pytest.approx(1.2)


@pytest.mark.db
def test_read_vectors_from_any_table_and_column(fresh_target) -> None:
    v = _sphere(300, 5, seed=6)
    with fresh_target.connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE SCHEMA s")
        conn.execute("CREATE TABLE s.items (id int, e vector(384), note text)")
        with conn.cursor().copy("COPY s.items (id, e) FROM STDIN") as cp:
            for i, row in enumerate(v):
                cp.write_row((i, "[" + ",".join(repr(float(x)) for x in row) + "]"))
        conn.execute("INSERT INTO s.items (id, e) VALUES (999, NULL)")
        conn.commit()
        back = geo.read_vectors(conn, "s.items", "e")
        assert back.shape == (300, 384) and np.allclose(np.sort(back, axis=0), np.sort(v, axis=0))
        assert geo.read_vectors(conn, "s.items", "e", rows=120, seed=1).shape == (120, 384)
        with pytest.raises(UsageError, match="no such table or column"):
            geo.read_vectors(conn, "s.nope", "e")
        with pytest.raises(UsageError, match="not a pgvector"):
            geo.read_vectors(conn, "s.items", "note")


@pytest.mark.db
def test_geometry_command_on_the_test_dataset(dataset_target, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "geo.json"
    code, text = cli(monkeypatch, capsys, "geometry", "--dsn", dataset_target.dsn, "--sample",
                     "200", "--reference", "--json", str(out))
    assert code == 0, text
    assert "local intrinsic dimension" in text and "PCA components for 99 % of variance" in text
    doc = json.loads(out.read_text())
    g = doc["geometry"]
    assert g["sample"] == 200 and g["source"]["table"] == "resource_action_traces"
    assert 0.5 < g["cos100"] < g["cos1"] <= 1.0
    assert "password" not in out.read_text()
    code, text = cli(monkeypatch, capsys, "geometry", "--dsn", dataset_target.dsn, "--column",
                     "alert_name")
    assert code == 2 and "not a pgvector" in text
