"""The realistic generator against the real model's geometry (stored reference values).

(a) Without the model: the generator's statistics on ctxbench's seed-42 world are compared with
the reference values measured from all-MiniLM-L6-v2 embeddings of the same world's incident
descriptions (``datagen/reference/minilm_geometry.json``), each within its stated tolerance;
the hard profile is shown to be outside them. With a server, HNSW recall@10 at ef_search 10/40
too.
"""

from __future__ import annotations

import numpy as np
import pytest

from ctxbench.analysis import calibration
from ctxbench.analysis import geometry as geo

REF = geo.load_reference()
SCALE = 10_000


def _failures(measured: dict, reference: dict, tolerances: dict) -> list[str]:
    return [f"{c['stat']}: measured {c['measured']}, reference {c['reference']} ± {c['allowed']}"
            for c in geo.compare(measured, reference, tolerances) if not c["ok"]]


@pytest.fixture(scope="module")
def generated() -> dict[str, np.ndarray]:
    return {p: calibration.generated_vectors(SCALE, REF["seed"], p) for p in ("realistic", "hard")}


def test_reference_says_how_it_was_measured() -> None:
    assert REF["seed"] == 42 and str(SCALE) in REF["real"]
    assert {"model", "how", "provenance", "tolerances", "measured_at"} <= set(REF)
    for stats in REF["real"].values():
        assert set(REF["tolerances"]["geometry"]) <= set(stats)


def test_realistic_generator_matches_the_real_model_within_tolerance(generated) -> None:
    g = geo.measure(generated["realistic"], sample=REF["sample"], seed=0)
    bad = _failures(g, REF["real"][str(SCALE)], REF["tolerances"]["geometry"])
    assert not bad, "\n".join(bad)


def test_hard_profile_is_far_from_real_embeddings(generated) -> None:
    g = geo.measure(generated["hard"], sample=REF["sample"], seed=0)
    ref = REF["real"][str(SCALE)]
    tol = REF["tolerances"]["geometry"]
    bad = {c["stat"] for c in geo.compare(g, ref, tol) if not c["ok"]}
    assert {"cos1", "d10_d1", "lid_median", "tie_share"} <= bad
    assert g["lid_median"] > 3 * ref["lid_median"]


@pytest.mark.db
def test_realistic_hnsw_recall_matches_the_real_model(generated, fresh_target) -> None:
    v = generated["realistic"]
    base, queries = calibration.holdout(len(v))
    with fresh_target.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        recall = calibration.hnsw_recall(conn, v[base], v[queries])
    ref = REF["real"][str(SCALE)]["recall"]
    tol = REF["tolerances"]["recall"]
    bad = _failures(recall, ref, {ef: tol for ef in ref})
    assert not bad, "\n".join(bad)
