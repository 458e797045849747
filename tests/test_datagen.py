"""The generator without a database: options, determinism, chunking, time, embeddings."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime

import numpy as np
import pytest

from ctxbench.datagen import embeddings, vocab
from ctxbench.datagen.encode import encode_chunk
from ctxbench.datagen.generator import GENERATOR_VERSION, DatasetOptions
from ctxbench.datagen.model import CHUNK_ROWS, World, zipf
from ctxbench.datagen.rng import stream
from ctxbench.datagen.timeline import Timeline, months_before, to_pg_us
from ctxbench.errors import UsageError

ANCHOR = date(2025, 10, 31)


@pytest.fixture(scope="module")
def world() -> World:
    return DatasetOptions(scale=3 * CHUNK_ROWS + 1234, seed=11, anchor=ANCHOR).world()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"scale": 0}, "scale 0"),
    ({"scale": -5}, "scale -5"),
    ({"scale": 999}, "scale 999"),
    ({"scale": 10_000_001}, "scale 10000001"),
    ({"scale": True}, "scale True"),
    ({"scale": 1500.0}, "scale 1500.0"),
    ({"scale": 1000, "months": 0}, "months 0"),
    ({"scale": 1000, "months": 25}, "months 25"),
    ({"scale": 1000, "severities": "loud"}, "severities 'loud'"),
    ({"scale": 1000, "seed": -1}, "seed -1"),
    ({"scale": 1000, "anchor": datetime(2025, 1, 1)}, "anchor"),
    ({"scale": 1000, "anchor": date(1999, 12, 31)}, "1999-12-31"),
    ({"scale": 1000, "embedding_profile": "easy"}, "embedding profile 'easy'"),
])
def test_bad_options_are_usage_errors_naming_the_value(kwargs, fragment) -> None:
    with pytest.raises(UsageError) as info:
        DatasetOptions(**kwargs)
    assert fragment in str(info.value)
    assert "allowed" in str(info.value) or "use" in str(info.value) or "give" in str(info.value)


def test_params_are_canonical_and_resolve_the_anchor() -> None:
    opts = DatasetOptions(scale=1000)
    params = opts.params()
    assert params["anchor"] == datetime.now(UTC).date().isoformat()
    assert params["generator_version"] == GENERATOR_VERSION
    assert json.loads(json.dumps(params)) == params
    assert DatasetOptions(scale=1000, anchor=ANCHOR).params()["anchor"] == "2025-10-31"


def test_same_options_give_identical_bytes_and_another_seed_differs(world: World) -> None:
    again = DatasetOptions(scale=world.n_traces, seed=11, anchor=ANCHOR).world()
    other = DatasetOptions(scale=world.n_traces, seed=12, anchor=ANCHOR).world()
    for k in (0, world.n_chunks - 1):
        assert encode_chunk(world, world.chunk(k)) == encode_chunk(again, again.chunk(k))
    assert encode_chunk(world, world.chunk(1)) != encode_chunk(other, other.chunk(1))


def test_a_chunk_does_not_depend_on_the_chunks_before_it(world: World) -> None:
    fresh = DatasetOptions(scale=world.n_traces, seed=11, anchor=ANCHOR).world()
    for k in range(3):
        world.chunk(k)
    assert encode_chunk(world, world.chunk(3)) == encode_chunk(fresh, fresh.chunk(3))
    assert len(world.chunk(3)) == 1234


def test_named_streams_are_independent_of_each_other() -> None:
    first = stream(5, "a", 3).random(4)
    stream(5, "b", 3).random(100)
    assert np.array_equal(first, stream(5, "a", 3).random(4))
    assert not np.array_equal(first, stream(5, "a", 4).random(4))
    assert not np.array_equal(first, stream(5, "b", 3).random(4))


def test_ids_and_times_are_monotone_and_inside_the_range(world: World) -> None:
    ts = np.concatenate([world.chunk(k).ts for k in range(world.n_chunks)])
    tl = world.timeline
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] >= tl.start_us and ts[-1] < tl.end_us
    assert tl.start == datetime(2025, 7, 31, tzinfo=UTC) and tl.end == datetime(2025, 10, 31, tzinfo=UTC)


def test_month_split_covers_the_range_with_whole_months(world: World) -> None:
    ranges = world.month_split(2)
    assert ranges[0][0] == world.timeline.start_us and ranges[-1][1] == world.timeline.end_us
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert len(ranges) == 2
    cut = ranges[0][1]
    assert cut in {to_pg_us(datetime(2025, m, 1, tzinfo=UTC)) for m in (8, 9, 10)}
    # the rows of every chunk are split exactly between the ranges
    for k in range(world.n_chunks):
        c = world.chunk(k)
        parts = [c.subset((c.ts >= lo) & (c.ts < hi)) for lo, hi in ranges]
        assert sum(len(p) for p in parts) == len(c)


@pytest.mark.parametrize("day, months, expected", [
    (date(2025, 3, 31), 1, date(2025, 2, 28)),
    (date(2024, 3, 31), 1, date(2024, 2, 29)),
    (date(2025, 1, 15), 3, date(2024, 10, 15)),
    (date(2025, 10, 31), 24, date(2023, 10, 31)),
])
def test_months_before(day, months, expected) -> None:
    assert months_before(day, months) == expected


def test_daily_cycle_follows_the_documented_rate() -> None:
    tl = Timeline.build(ANCHOR, 3, seed=3)
    n = 200_000
    ts = tl.trace_times(0, n, n, stream(3, "test"))
    hours = ((ts - tl.start_us) // 3_600_000_000) % 24  # the range starts at midnight UTC
    counts = np.bincount(hours, minlength=24) / n
    # expected share per hour of day, from the same documented weights (bursts included)
    expected = np.bincount(np.arange(len(tl.weights)) % 24, weights=tl.weights, minlength=24)
    expected /= expected.sum()
    assert np.allclose(counts, expected, atol=0.002)
    peak, trough = counts[13:18].sum(), counts[1:6].sum()
    assert peak > 2.5 * trough  # daily factor 1.6 vs 0.4 at the extremes


def test_zipf_weights() -> None:
    w = zipf(40, 1.1)
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) < 0)
    assert w[0] / w[1] == pytest.approx(2 ** 1.1)


def test_topic_centroids_are_reproducible_unit_vectors() -> None:
    c = embeddings.topic_centroids(7, "hard")
    assert c.shape == (embeddings.N_TOPICS, 384) and c.dtype == np.float32
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(c, embeddings.topic_centroids(7, "hard"))
    assert not np.array_equal(c, embeddings.topic_centroids(8, "hard"))
    n_act = len(vocab.ACTIONS)
    same_alert = float(c[embeddings.topic_index(0, 0)] @ c[embeddings.topic_index(0, 1)])
    weights = embeddings.WEIGHTS
    expected = (weights["common"] ** 2 + weights["class"] ** 2 + weights["alert"] ** 2) \
        / sum(v ** 2 for v in weights.values())
    assert same_alert == pytest.approx(expected, abs=0.1)
    assert embeddings.topic_name(embeddings.topic_index(2, 3)) == \
        f"{vocab.ALERTS[2][0]}/{vocab.ACTIONS[3].name}"
    assert n_act == 20


def test_hard_vectors_cluster_around_their_topic() -> None:
    seed, rng = 7, np.random.default_rng(1)
    topics = rng.integers(0, embeddings.N_TOPICS, 2000)
    v = embeddings.sample_near(seed, topics, rng, profile="hard")
    c = embeddings.topic_centroids(seed, "hard")
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cos = v @ c.T
    own = cos[np.arange(len(topics)), topics]
    expected = 1 / np.sqrt(1 + embeddings.NOISE_SIGMA ** 2)
    assert own.mean() == pytest.approx(expected, abs=0.02)
    others = np.ma.masked_array(cos, mask=np.eye(embeddings.N_TOPICS, dtype=bool)[topics])
    assert others.mean() < 0.3
    far = embeddings.random_unit(200, rng) @ c.T
    assert abs(far.mean()) < 0.05


def test_the_embedding_profile_is_part_of_the_dataset_identity() -> None:
    realistic = DatasetOptions(scale=1000, anchor=ANCHOR)
    hard = DatasetOptions(scale=1000, anchor=ANCHOR, embedding_profile="hard")
    assert realistic.params()["embedding_profile"] == embeddings.DEFAULT_PROFILE == "realistic"
    assert hard.params()["embedding_profile"] == "hard"
    assert realistic.params() != hard.params()
    w_real, w_hard = realistic.world(), hard.world()
    a, b = w_real.chunk(0), w_hard.chunk(0)
    # everything but the vectors is the same world
    assert np.array_equal(a.alert, b.alert) and np.array_equal(a.resource, b.resource)
    assert not np.array_equal(a.embedding, b.embedding)


def test_hard_profile_keeps_generator_v1_vectors() -> None:
    """The hard profile's rows are topic centroid + uniform noise exactly as version 1 drew them."""
    w = DatasetOptions(scale=1000, seed=3, anchor=ANCHOR, embedding_profile="hard").world()
    c = w.chunk(0)
    topic = embeddings.topic_index(c.alert, c.action)
    again = embeddings.perturb(embeddings.topic_centroids(3, "hard")[topic],
                               stream(3, "trace.embedding", 0))
    assert np.array_equal(c.embedding, again)


def test_realistic_rows_share_their_resource_and_topic_structure() -> None:
    w = DatasetOptions(scale=4000, seed=5, anchor=ANCHOR).world()
    c = w.chunk(0)
    v = c.embedding
    assert v.dtype == np.float32 and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cos = v.astype(np.float64) @ v.T.astype(np.float64)
    same_res = (c.resource[:, None] == c.resource[None, :])
    same_topic = (c.alert[:, None] == c.alert[None, :]) & (c.action[:, None] == c.action[None, :])
    off = ~np.eye(len(c), dtype=bool)
    both = cos[same_res & same_topic & off].mean()
    topic_only = cos[~same_res & same_topic].mean()
    unrelated = cos[(c.alert[:, None] != c.alert[None, :]) & ~same_res].mean()
    # a shared direction: unrelated incidents are far from orthogonal, as in real models
    assert 0.45 < unrelated < topic_only < both < 0.995
    # the nearest realistic centroid is the row's own alert for nearly every row
    centroids = embeddings.topic_centroids(5)
    nearest = np.argmax(v @ centroids.T, axis=1)
    assert np.mean(nearest // len(vocab.ACTIONS) == c.alert) > 0.9


def test_sample_near_draws_rows_like_a_topic_and_random_unit_far_from_all() -> None:
    seed = 9
    w = DatasetOptions(scale=2000, seed=seed, anchor=ANCHOR).world()
    c = w.chunk(0)
    topics = embeddings.topic_index(c.alert, c.action)
    rng = np.random.default_rng(4)
    near = embeddings.sample_near(seed, topics, rng)
    again = embeddings.sample_near(seed, topics, np.random.default_rng(4))
    assert np.array_equal(near, again)
    centroids = embeddings.topic_centroids(seed)
    own_rows = (c.embedding * centroids[topics]).sum(axis=1)
    own_near = (near * centroids[topics]).sum(axis=1)
    # a sampled vector sits as close to its topic's centroid as the topic's rows do
    assert abs(float(np.median(own_near)) - float(np.median(own_rows))) < 0.03
    far = embeddings.random_unit(500, rng) @ c.embedding.T
    assert far.max() < 0.35 and own_near.min() > 0.5
