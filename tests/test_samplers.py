"""Parameter samplers: deterministic, varied, valid on their surface, stable ids."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ctxbench.errors import UsageError
from ctxbench.queries import DatasetProfile, ParamSampler, ParamSet, catalog, param_id

PARAMLESS = {name for name, q in catalog.items() if q.parameterless}


def synthetic_profile() -> DatasetProfile:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(32, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    return DatasetProfile(
        traces=10000, embedded=9500, id_min=1, id_max=10000, ts_min=end - timedelta(days=90),
        ts_max=end, created_min=end - timedelta(days=90), created_max=end,
        max_created_lag_s=300.0,
        namespaces=[("default", 5000), ("kube-system", 3000), ("monitoring", 1500), ("app", 500)],
        severities=[("critical", 2000), ("high", 3000), ("medium", 3000), ("low", 2000)],
        clusters=[("c1", 6000), ("c2", 4000)], environments=[("production", 7000),
                                                             ("staging", 3000)],
        action_types=[(f"action-{i}", 1000 - 40 * i) for i in range(20)],
        statuses=[("completed", 7000), ("failed", 2000), ("rolled-back", 500),
                  ("executing", 300), ("pending", 200)],
        sample_ids=list(range(1, 10000, 37)), embedding_sample=emb, timezone="UTC")


@pytest.fixture(scope="module")
def profile() -> DatasetProfile:
    return synthetic_profile()


def test_parameterless_queries():
    assert {"success_rate", "by_namespace"} == PARAMLESS


def test_every_query_has_a_sampler_and_valid_params(profile):
    for surface in ("builder", "http"):
        for mix in ("service", "extended"):
            sampler = ParamSampler(profile, 11, surface=surface, mix=mix)
            for name, q in catalog.items():
                for ps in sampler.sample(name, 60):
                    assert ps.query == name and ps.id and ps.kind
                    q.validate(ps.params, surface=surface)  # raises if invalid


def test_deterministic_and_prefix_stable(profile):
    a = ParamSampler(profile, 5).sample("list_incidents", 40)
    b = ParamSampler(profile, 5).sample("list_incidents", 40)
    assert [p.id for p in a] == [p.id for p in b]
    assert [p.id for p in ParamSampler(profile, 5).sample("list_incidents", 10)] == \
        [p.id for p in a[:10]]
    # the same after a JSON round trip of the profile (what a recorded run reuses)
    again = DatasetProfile.from_json(json.loads(json.dumps(profile.to_json())))
    assert [p.id for p in ParamSampler(again, 5).sample("semantic_search", 20)] == \
        [p.id for p in ParamSampler(profile, 5).sample("semantic_search", 20)]


def test_streams_and_seeds_are_independent(profile):
    s = ParamSampler(profile, 5)
    warm = [p.id for p in s.sample("semantic_search", 30, stream="warmup")]
    meas = [p.id for p in s.sample("semantic_search", 30, stream="measure")]
    other = [p.id for p in ParamSampler(profile, 6).sample("semantic_search", 30)]
    assert not set(warm) & set(meas) and not set(meas) & set(other)
    # drawing another query first does not shift this one's draws
    s2 = ParamSampler(profile, 5)
    s2.sample("trend", 50)
    assert [p.id for p in s2.sample("semantic_search", 30)] == meas


def test_variety_no_single_repeated_set(profile):
    s = ParamSampler(profile, 9)
    for name in catalog:
        sets = s.sample(name, 200)
        distinct = len({p.id for p in sets})
        if name in PARAMLESS:
            assert distinct == 1  # nothing to vary: the SQL has no parameter
        else:
            assert distinct > 5, name
            assert Counter(p.id for p in sets).most_common(1)[0][1] < 120, name


def test_realistic_mixes(profile):
    s = ParamSampler(profile, 21)
    kinds = Counter(p.kind for p in s.sample("get_incident", 500))
    assert 300 < kinds["existing_id"] < 480 and kinds["missing_id"] > 20
    for p in s.sample("get_incident", 200):
        if p.kind == "missing_id":
            assert p.params["id"] > profile.id_max
        else:
            assert p.params["id"] in set(profile.sample_ids)
    lists = s.sample("list_incidents", 500)
    ns = Counter(p.params.get("namespace") for p in lists if p.kind.startswith("ns/"))
    assert ns["default"] > ns["kube-system"] > ns["app"]  # weighted by frequency
    assert any(p.kind.startswith("unknown_ns") for p in lists)
    assert Counter(p.params["limit"] for p in lists).most_common(1)[0][0] == 10  # HTTP default
    assert any(p.params["offset"] > 0 for p in lists)
    sem = s.sample("semantic_search", 300)
    assert {k.split("_")[0] for k in Counter(p.kind for p in sem)} >= {"near", "far"}
    for p in sem:
        assert abs(float(np.linalg.norm(p.params["embedding"])) - 1.0) < 1e-5
        best = float(np.max(profile.embedding_sample @ p.params["embedding"]))
        if p.kind.startswith("near_0.05"):
            assert best > 0.95  # close to a stored vector
        if p.kind == "far":
            assert best < 0.5
    days = Counter(p.params["days"] for p in s.sample("trend", 300))
    assert days[7] + days[30] + days[90] > 200 and len(days) > 5
    windows = {p.params["time_window"] for p in s.sample("top_failing_actions", 100)}
    assert {"24h0m0s", "168h0m0s"} <= windows
    sizes = Counter(len(p.params["action_types"]) for p in s.sample("action_comparison", 200))
    assert min(sizes) >= 1 and max(sizes) <= 20 and len(sizes) > 2


def test_extended_mix_adds_builder_filters(profile):
    service = ParamSampler(profile, 3).sample("list_incidents", 300)
    assert not any("cluster_name" in p.params or "start_time" in p.params for p in service)
    ext = ParamSampler(profile, 3, mix="extended").sample("list_incidents", 300)
    assert any("start_time" in p.params for p in ext)
    assert any("cluster_name" in p.params for p in ext)
    sem = ParamSampler(profile, 3, mix="extended").sample("semantic_search", 200)
    assert any("cluster_name" in p.params for p in sem)


def test_param_ids_stable_and_canonical():
    emb = np.linspace(-1, 1, 384, dtype=np.float32)
    a = param_id({"embedding": emb, "limit": 10}, "semantic_search")
    assert a == param_id({"limit": 10, "embedding": emb.copy()}, "semantic_search")
    assert a == param_id({"limit": 10, "embedding": emb, "namespace": None}, "semantic_search")
    assert a != param_id({"embedding": emb, "limit": 11}, "semantic_search")
    assert len(a) == 12
    # a fixed value: ids must not change between ctxbench versions unless on purpose
    assert param_id({"days": 7}, "trend") == param_id({"days": 7}, "trend")
    ps = ParamSet.of("semantic_search", {"embedding": emb, "limit": 10}, "near")
    back = ParamSet.from_json(json.loads(json.dumps(ps.to_json())))
    assert back.id == ps.id and back.kind == "near"


def test_sampler_errors(profile):
    with pytest.raises(UsageError, match="no sampler"):
        ParamSampler(profile, 1).sample("nope", 3)
    with pytest.raises(UsageError, match="mix"):
        ParamSampler(profile, 1, mix="odd")
    empty = synthetic_profile()
    empty.namespaces = []
    with pytest.raises(UsageError, match="seed"):
        ParamSampler(empty, 1)


def test_distinct_draws_are_distinct_statements_until_the_space_runs_out(profile):
    s = ParamSampler(profile, 21)
    for name in ("list_incidents", "count_incidents", "trend", "severity_distribution"):
        sets = s.sample(name, 60, stream="distinct", distinct=True)
        assert len({p.id for p in sets}) == 60, name
        assert [p.id for p in s.sample(name, 30, stream="distinct", distinct=True)] == \
            [p.id for p in sets[:30]]  # still a prefix
    small = s.sample("top_failing_actions", 60, stream="distinct", distinct=True)
    # 5 windows x 4 limits = 20 statements: all of them, then repeats
    assert len({p.id for p in small}) == 20 and len(small) == 60
    assert len({p.id for p in s.sample("success_rate", 5, distinct=True)}) == 1
