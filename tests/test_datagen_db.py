"""The loaded dataset, read back from PostgreSQL: encoding, distributions, determinism, state.

Distribution tolerances are 4.5 binomial standard errors around the documented parameters
(computed from the vocab/model constants, not copied numbers), so a correct generator fails
them with probability < 1e-5 per check.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from ctxbench.datagen import ddl, embeddings, vocab
from ctxbench.datagen.generator import (
    DatasetOptions,
    current_dataset,
    dataset_checksum,
    seed_dataset,
)
from ctxbench.datagen.model import TRACES_PER_RESOURCE, World, resource_count, zipf
from ctxbench.datagen.timeline import from_pg_us, months_before
from ctxbench.db.target import Target, drop_database, open_target
from ctxbench.errors import UsageError

pytestmark = pytest.mark.db
Z = 4.5


def within(observed: float, p: float, n: int) -> bool:
    return abs(observed - p) <= Z * math.sqrt(max(p * (1 - p), 1e-9) / n) + 1e-9


@pytest.fixture(scope="module")
def ds(dataset_target: Target):
    with dataset_target.connect() as conn:
        record = current_dataset(conn)
        p = record["params"]
        world = DatasetOptions(scale=p["scale"], seed=p["seed"], anchor=date.fromisoformat(p["anchor"]),
                               months=p["months"], severities=p["severities"],
                               embedding_profile=p["embedding_profile"]).world()
        yield conn, record, world


def fetch(conn: psycopg.Connection, query: str, *args):
    return conn.execute(query, args or None).fetchall()


def test_rows_read_back_equal_the_generated_values(ds) -> None:
    conn, _, world = ds
    c = world.chunk(world.n_chunks - 1)
    rows = fetch(conn, "SELECT id, action_history_id, action_id, action_timestamp, created_at, "
                 "updated_at, alert_firing_time, model_confidence, alert_labels, alert_fingerprint, "
                 "embedding::real[], execution_duration_ms, effectiveness_score, correlation_id, "
                 "execution_start_time, execution_end_time, effectiveness_assessed_at, "
                 "effectiveness_assessment_due, model_used, routing_tier, cluster_name, environment, "
                 "execution_status, action_type, alert_name, alert_severity, resource_state_after, "
                 "execution_error, follow_up_actions, kubernetes_operations "
                 "FROM resource_action_traces WHERE id BETWEEN %s AND %s ORDER BY id",
                 int(c.id[0]), int(c.id[-1]))
    assert len(rows) == len(c)
    res, ct = world.resources, world.content
    tiers = sorted({m[2] for m in vocab.MODELS})

    def ts(values, i, present=True):
        return from_pg_us(values[i]) if present else None

    for i, row in enumerate(rows):
        (rid, hist, action_id, at, created, updated, firing, conf, labels, fp, emb, dur, score,
         corr, start, end, assessed, due, model, tier, cluster, env, status, action, alert, sev,
         after, error, follow, ops) = row
        assert (rid, hist) == (c.id[i], c.history[i])
        uuid.UUID(action_id)
        assert (at, created, updated, firing) == (ts(c.ts, i), ts(c.created, i),
                                                  ts(c.updated, i), ts(c.firing, i))
        assert float(conf) == c.confidence[i] / 1000
        assert labels["alertname"] == alert == vocab.ALERTS[c.alert[i]][0]
        assert labels["severity"] == sev == world.severity_names[c.severity[i]]
        assert labels[vocab.KINDS[res.kind[c.resource[i]]].label] == res.name[c.resource[i]]
        assert fp == format(int(c.fingerprint[i]), "016x")
        assert np.array_equal(np.array(emb, dtype=np.float32), c.embedding[i])
        assert dur == (c.duration_ms[i] if c.has_end[i] else None)
        assert score == (None if not c.assessed[i] else Decimal(int(c.score[i])).scaleb(-3))
        assert corr == (f"corr-{int(c.correlation[i]):016x}" if c.has_correlation[i] else None)
        assert start == ts(c.start, i, c.has_start[i]) and end == ts(c.end, i, c.has_end[i])
        assert assessed == ts(c.assessed_at, i, c.assessed[i]) and due == ts(c.due, i, c.has_due[i])
        assert model == vocab.MODELS[c.model[i]][0]
        assert tier == (tiers[c.tier[i]] if c.tier[i] < len(tiers) else None)
        assert cluster == (vocab.CLUSTERS[c.cluster[i]][0] if c.cluster[i] < len(vocab.CLUSTERS)
                           else None)
        assert env == (vocab.ENVIRONMENTS[c.environment[i]]
                       if c.environment[i] < len(vocab.ENVIRONMENTS) else None)
        assert status == vocab.STATUSES[c.status[i]] and action == vocab.ACTIONS[c.action[i]].name
        assert (after is None) == (not c.has_end[i])
        assert (error is None) == (follow is None) == (status not in ("failed", "rolled-back"))
        assert (ops is None) == (status == "pending")
    assert ct.tier_null == len(tiers)


def test_recorded_checksum_is_recomputed_from_the_rows(ds) -> None:
    conn, record, _ = ds
    assert record["state"] == "loaded"
    assert record["checksum"].startswith("sha256:")
    assert dataset_checksum(conn) == record["checksum"]
    assert record["summary"]["checksum"] == record["checksum"]


@pytest.fixture
def second_target(pg_server):
    target = open_target(pg_server, f"t2_{uuid.uuid4().hex[:8]}")
    try:
        yield target
    finally:
        drop_database(target)


def test_two_loads_agree_and_another_seed_differs(fresh_target: Target, second_target: Target) -> None:
    opts = DatasetOptions(scale=1000, seed=7, anchor=date(2025, 10, 31), default_partition=True)
    with fresh_target.connect() as a, second_target.connect() as b:
        first = seed_dataset(a, opts, analyze=False)
        second = seed_dataset(b, opts)
        assert first.checksum == second.checksum == dataset_checksum(a)
        third = seed_dataset(a, DatasetOptions(scale=1000, seed=8, anchor=date(2025, 10, 31)),
                             replace=True)
        assert third.checksum != first.checksum
        assert current_dataset(a)["params"]["seed"] == 8
        # the rows of the replaced dataset are gone, the sequences follow the new rows
        assert fetch(a, "SELECT count(*) FROM resource_action_traces")[0][0] == 1000
        assert fetch(a, "SELECT nextval(pg_get_serial_sequence('resource_action_traces', 'id'))"
                     )[0][0] == 1001
        # loading again without replace is refused and changes nothing
        with pytest.raises(UsageError, match="already holds a dataset"):
            seed_dataset(a, DatasetOptions(scale=2000, seed=9, anchor=date(2025, 10, 31)))
        assert current_dataset(a)["params"]["seed"] == 8


def test_no_analyze_leaves_tables_without_statistics(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        analyzed = seed_dataset(conn, DatasetOptions(scale=1000, seed=1, anchor=date(2025, 6, 1)))
        assert analyzed.statistics == "analyzed"
        assert fetch(conn, "SELECT count(*) FROM pg_stats WHERE tablename = 'action_histories'"
                     )[0][0] > 0
        # replacing it without ANALYZE must not leave the old statistics behind
        summary = seed_dataset(conn, DatasetOptions(scale=1000, seed=1, anchor=date(2025, 6, 1)),
                               analyze=False, replace=True)
        assert summary.analyze_seconds is None and summary.statistics.startswith("none")
        assert fetch(conn, "SELECT reltuples FROM pg_class WHERE relname = 'action_histories'"
                     )[0][0] == -1
        assert fetch(conn, "SELECT count(*) FROM pg_stats WHERE tablename ~ "
                     "'^(resource_references|action_histories|resource_action_traces)'")[0][0] == 0
        opts = fetch(conn, "SELECT c.relname, c.reloptions FROM pg_class c "
                     "WHERE c.relname = ANY(%s) OR c.relname LIKE 'resource_action_traces_y%%' "
                     "AND c.relkind = 'r'", [*summary.partitions, "action_histories", "resource_references"])
        for name, reloptions in opts:
            if name.startswith("resource_action_traces_y") and "_idx" in name:
                continue
            assert reloptions and "autovacuum_enabled=false" in reloptions, name
        analyzed = fetch(conn, "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) "
                         "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
                         summary.partitions)
        assert analyzed == []


SCHEMA_SNAPSHOT = """
    SELECT 'index', c.relname, pg_get_indexdef(c.oid) FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('i', 'I')
    UNION ALL
    SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace
    ORDER BY 1, 2, 3"""


def test_an_interrupted_load_is_rebuilt_on_replace(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        seed_dataset(conn, DatasetOptions(scale=1000, seed=2, anchor=date(2025, 6, 1)), analyze=False)
        before = fetch(conn, SCHEMA_SNAPSHOT)
        ddl.defer_all(conn)  # as if a load died right after dropping the indexes
        assert fetch(conn, "SELECT count(*) FROM ctxbench.deferred_ddl")[0][0] > 20
        seed_dataset(conn, DatasetOptions(scale=1000, seed=2, anchor=date(2025, 6, 1)),
                     replace=True, analyze=False)
        after = fetch(conn, SCHEMA_SNAPSHOT)
        assert after == before
        assert ddl.pending(conn) == []


def test_partitions_cover_the_data_exactly(ds) -> None:
    conn, record, world = ds
    tl = world.timeline
    names = [r[0] for r in fetch(conn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                 "ON c.oid = i.inhrelid WHERE i.inhparent = "
                                 "'resource_action_traces'::regclass ORDER BY 1")]
    first = months_before(date.fromisoformat(record["params"]["anchor"]), record["params"]["months"])
    last = (tl.end - timedelta(microseconds=1)).date()
    expected, cur = [], date(first.year, first.month, 1)
    while cur <= last:
        expected.append(f"resource_action_traces_y{cur.year:04d}m{cur.month:02d}")
        cur = date(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
    assert names == expected
    lo, hi = fetch(conn, "SELECT min(action_timestamp), max(action_timestamp) "
                   "FROM resource_action_traces")[0]
    assert tl.start <= lo and hi < tl.end
    per_partition = fetch(conn, "SELECT tableoid::regclass::text, count(*) FROM "
                          "resource_action_traces GROUP BY 1")
    assert {p for p, n in per_partition if n > 0} == set(names)


def test_resources_and_histories_follow_the_documented_ratio(ds) -> None:
    conn, _, world = ds
    n = world.n_traces
    assert resource_count(n) == n // TRACES_PER_RESOURCE
    counts = fetch(conn, "SELECT (SELECT count(*) FROM resource_references), "
                   "(SELECT count(*) FROM action_histories), "
                   "(SELECT count(DISTINCT resource_id) FROM action_histories)")[0]
    assert counts == (n // 20, n // 20, n // 20)
    mismatched = fetch(conn, """
        SELECT count(*) FROM action_histories ah
        LEFT JOIN (SELECT action_history_id h, count(*) c, max(action_timestamp) m
                   FROM resource_action_traces GROUP BY 1) t ON t.h = ah.id
        WHERE ah.total_actions <> coalesce(t.c, 0)
           OR ah.last_action_at IS DISTINCT FROM t.m""")[0][0]
    assert mismatched == 0


def test_trace_mixes_match_the_documented_shares(ds) -> None:
    conn, _, world = ds
    n = world.n_traces
    sev = dict(fetch(conn, "SELECT alert_severity, count(*) FROM resource_action_traces GROUP BY 1"))
    mix = vocab.SEVERITY_MIXES[world_severities(world)]
    assert set(sev) == set(mix)
    for name, p in mix.items():
        assert within(sev[name] / n, p, n), (name, sev[name] / n, p)
    models = dict(fetch(conn, "SELECT model_used, count(*) FROM resource_action_traces GROUP BY 1"))
    for name, p, _ in vocab.MODELS:
        assert within(models[name] / n, p, n), name
    nulls = fetch(conn, "SELECT avg((cluster_name IS NULL)::int), avg((environment IS NULL)::int), "
                  "avg((correlation_id IS NOT NULL)::int), avg((routing_tier IS NULL)::int) "
                  "FROM resource_action_traces")[0]
    assert within(float(nulls[0]), vocab.CLUSTER_NULL_SHARE, n)
    assert within(float(nulls[1]), vocab.ENVIRONMENT_NULL_SHARE, n)
    assert within(float(nulls[2]), vocab.CORRELATION_SHARE, n)
    assert within(float(nulls[3]), vocab.ROUTING_TIER_NULL_SHARE, n)
    # environment is the one the cluster's name implies
    env_of = dict(vocab.CLUSTERS)
    pairs = fetch(conn, "SELECT DISTINCT cluster_name, environment FROM resource_action_traces "
                  "WHERE cluster_name IS NOT NULL AND environment IS NOT NULL")
    assert all(env_of[c] == e for c, e in pairs)


def world_severities(world: World) -> str:
    return next(k for k, v in vocab.SEVERITY_MIXES.items() if tuple(v) == world.severity_names)


def test_status_mix_and_phase_fields(ds) -> None:
    conn, _, world = ds
    recent_edge = world.timeline.end - timedelta(hours=vocab.RECENT_HOURS)
    rows = fetch(conn, "SELECT action_timestamp >= %s, action_type, execution_status, "
                 "execution_start_time IS NOT NULL, execution_end_time IS NOT NULL, "
                 "execution_end_time = execution_start_time + execution_duration_ms * interval '1 ms', "
                 "effectiveness_score IS NOT NULL, effectiveness_assessment_due IS NOT NULL "
                 "FROM resource_action_traces", recent_edge)
    for recent, shares in ((True, vocab.UNFINISHED_RECENT), (False, vocab.UNFINISHED_OLD)):
        group = [r for r in rows if r[0] == recent]
        if len(group) < 100:
            continue
        for status, p in shares.items():
            share = sum(r[2] == status for r in group) / len(group)
            assert within(share, p, len(group)), (recent, status, share)
    failure = {a.name: a.failure_rate for a in vocab.ACTIONS}
    old = [r for r in rows if not r[0]]
    pu = sum(vocab.UNFINISHED_OLD.values())
    expected_failed = sum(failure[r[1]] * (1 - pu) for r in old)
    observed_failed = sum(r[2] == "failed" for r in old)
    assert abs(observed_failed - expected_failed) <= Z * math.sqrt(expected_failed) + 1
    observed_rb = sum(r[2] == "rolled-back" for r in old)
    expected_rb = vocab.ROLLBACK_RATIO * expected_failed
    assert abs(observed_rb - expected_rb) <= Z * math.sqrt(expected_rb) + 1
    for _, _, status, started, ended, consistent, scored, due in rows:
        finished = status in ("completed", "failed", "rolled-back")
        assert started == (status != "pending")
        assert ended == finished == due
        assert consistent in (True, None) and (consistent is True) == finished
        assert not scored or finished
    finished = [r for r in rows if r[2] in ("completed", "failed", "rolled-back")]
    assessed = sum(r[6] for r in finished) / len(finished)
    # assessments falling after the anchor are missing, so the share is at most the documented one
    assert assessed <= vocab.ASSESSED_SHARE + Z * math.sqrt(0.13 / len(finished))
    assert within(assessed, vocab.ASSESSED_SHARE, len(finished)) or assessed > 0.8


def test_times_are_ordered_as_documented(ds) -> None:
    conn, _, _ = ds
    bad = fetch(conn, """
        SELECT count(*) FILTER (WHERE alert_firing_time >= action_timestamp),
               count(*) FILTER (WHERE created_at <= action_timestamp
                                   OR created_at > action_timestamp + interval '1 minute'),
               count(*) FILTER (WHERE updated_at < created_at),
               count(*) FILTER (WHERE execution_start_time <= action_timestamp),
               count(*) FILTER (WHERE effectiveness_assessed_at <= execution_end_time)
        FROM resource_action_traces""")[0]
    assert bad == (0, 0, 0, 0, 0)
    median = fetch(conn, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY execution_duration_ms) "
                   "FILTER (WHERE action_type = 'restart_pod') FROM resource_action_traces")[0][0]
    restart = next(a for a in vocab.ACTIONS if a.name == "restart_pod")
    # log-normal: the median is the documented one (σ = 0.8 ⇒ ±25 % covers the sampling error)
    assert median == pytest.approx(restart.median_seconds * 1000, rel=0.25)


def test_resources_are_zipf_skewed_and_well_formed(ds) -> None:
    conn, _, _world = ds
    rows = fetch(conn, "SELECT kind, namespace, api_version, name, resource_uid FROM resource_references")
    n = len(rows)
    kinds = {k.name: k for k in vocab.KINDS}
    for kind, ns, api, _name, uid in rows:
        assert api == kinds[kind].api_version
        assert (ns is None) == (not kinds[kind].namespaced)
        uuid.UUID(uid)
    namespaced = [r[1] for r in rows if r[1] is not None]
    w = zipf(len(vocab.NAMESPACES), vocab.NAMESPACE_ZIPF_S)
    top5 = sum(ns in vocab.NAMESPACES[:5] for ns in namespaced) / len(namespaced)
    assert within(top5, float(w[:5].sum()), len(namespaced))
    pods = sum(r[0] == "Pod" for r in rows) / n
    assert within(pods, kinds["Pod"].share, n)
    alert_counts = dict(fetch(conn, "SELECT alert_name, count(*) FROM resource_action_traces GROUP BY 1"))
    top = max(alert_counts, key=alert_counts.get)
    assert top in {a[0] for a in vocab.ALERTS[:6]}  # the head of the Zipf order dominates


def test_labels_and_payloads_have_realistic_sizes(ds) -> None:
    conn, _, _ = ds
    sizes = fetch(conn, "SELECT avg(octet_length(alert_labels::text)), "
                  "avg(octet_length(alert_annotations::text)), avg(octet_length(model_reasoning)), "
                  "avg(octet_length(action_parameters::text)) FROM resource_action_traces")[0]
    assert 150 < sizes[0] < 400 and 150 < sizes[1] < 400 and 150 < sizes[2] < 500
    assert 20 < sizes[3] < 200
    labels = fetch(conn, "SELECT alert_labels FROM resource_action_traces LIMIT 1")[0][0]
    assert {"alertname", "severity", "cluster"} <= set(labels)
    json.dumps(labels)


def test_embeddings_in_the_database_cluster_by_topic(ds) -> None:
    conn, _, world = ds
    rows = fetch(conn, "SELECT alert_name, action_type, embedding::real[] FROM resource_action_traces "
                 "WHERE id % 5 = 0")
    alert_idx = {a[0]: i for i, a in enumerate(vocab.ALERTS)}
    action_idx = {a.name: i for i, a in enumerate(vocab.ACTIONS)}
    topics = np.array([embeddings.topic_index(alert_idx[a], action_idx[t]) for a, t, _ in rows])
    vectors = np.array([r[2] for r in rows], dtype=np.float32)
    assert world.embedding_profile == "realistic"
    centroids = embeddings.topic_centroids(world.seed)
    cos = vectors @ centroids.T
    own = cos[np.arange(len(rows)), topics]
    other_alerts = np.array([[t // 20 != u // 20 for u in range(embeddings.N_TOPICS)] for t in topics[:200]])
    # a row is closer to its own topic than to other alerts' topics, which are not orthogonal
    # to it either (the shared incident direction of real sentence embeddings)
    assert own.mean() > cos[:200][other_alerts].mean() + 0.1
    assert cos[:200][other_alerts].mean() > 0.4
    # the nearest centroid is the row's own topic or one of the same alert
    nearest = cos.argmax(axis=1)
    assert np.mean(nearest // 20 == topics // 20) > 0.9
    # the stored bytes are the generator's (same chunk → same vectors)
    chunk = world.chunk(0)
    stored = np.array([r[0] for r in fetch(conn, "SELECT embedding::real[] FROM "
                                                 "resource_action_traces WHERE id <= 50 ORDER BY id")],
                      dtype=np.float32)
    assert np.array_equal(stored, chunk.embedding[:50])
