"""Executing the catalog on a small hand-made database: mapping, settings, connection hygiene."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import pq

from ctxbench.db.migrate import migrate
from ctxbench.db.partitions import ensure_monthly
from ctxbench.queries import Statement, catalog, ensure_vector_adapter, schema_variants_needed
from ctxbench.queries.execution import settings_tuple

pytestmark = pytest.mark.db

# Independent statement of the service's phase rule (reference §2).
EXPECTED_PHASE = {"completed": "completed", "failed": "failed", "rolled-back": "failed",
                  "pending": "pending", "executing": "processing", "cancelled": "pending",
                  None: "pending"}
STATUSES = list(EXPECTED_PHASE)
NOW = datetime.now(UTC).replace(microsecond=0)


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=384)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def small(fresh_target):
    """30 traces on 3 resources (one without namespace), every status, some tied timestamps."""
    rng = np.random.default_rng(3)
    with fresh_target.connect() as conn:
        migrate(conn)
        ensure_monthly(conn, NOW - timedelta(days=70), NOW + timedelta(days=1))
        conn.execute(
            "INSERT INTO resource_references (resource_uid, api_version, kind, name, namespace) "
            "VALUES ('u1','v1','Pod','a','default'), ('u2','apps/v1','Deployment','b','prod'), "
            "('u3','v1','Node','n', NULL)")
        conn.execute("INSERT INTO action_histories (resource_id) "
                     "SELECT id FROM resource_references ORDER BY id")
        ensure_vector_adapter(conn)
        for i in range(30):
            ts = NOW - timedelta(hours=(i // 2) * 37)  # pairs share a timestamp: ties
            conn.execute(
                "INSERT INTO resource_action_traces (action_history_id, action_id, "
                "action_timestamp, alert_name, alert_severity, model_used, model_confidence, "
                "action_type, execution_status, execution_duration_ms, cluster_name, "
                "environment, action_parameters, embedding, created_at, execution_end_time) "
                "VALUES (%s,%s,%s,%s,%s,'gpt-4',0.9,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (1 + i % 3, f"rr-{i}", ts, f"Alert{i % 4}", ["critical", "high", "low"][i % 3],
                 ["restart", "scale"][i % 2], STATUSES[i % len(STATUSES)],
                 None if i % 5 == 0 else 1000 * i, f"c{i % 2}", "production",
                 json.dumps({"replicas": i}), unit(rng) if i % 6 else None,
                 ts + timedelta(minutes=3), ts + timedelta(minutes=1) if i % 2 else None))
        conn.execute("ANALYZE")
    return fresh_target


def test_incident_mapping_and_phases(small):
    with small.connect() as conn:
        rows = conn.execute(
            "SELECT rat.id, rat.execution_status, rr.namespace, rr.kind, rat.action_parameters "
            "FROM resource_action_traces rat JOIN action_histories ah ON ah.id = "
            "rat.action_history_id JOIN resource_references rr ON rr.id = ah.resource_id"
        ).fetchall()
        q = catalog["get_incident"]
        for rid, status, ns, kind, parameters in rows:
            inc = q.run(conn, {"id": rid})
            assert inc["id"] == rid and inc["status"] == status
            assert inc["phase"] == EXPECTED_PHASE[status]
            assert inc["namespace"] == ns and inc["target_resource"] == kind
            assert json.loads(inc["metadata"]) == parameters
            assert inc["remediation_request_id"].startswith("rr-")
        assert q.run(conn, {"id": 10**12}) is None
        page = catalog["list_incidents"].run(conn, {"limit": 1000})
        assert len(page) == 30 and set(page[0]) == set(catalog["list_incidents"].to_result(
            [tuple(range(19))], {})[0])
        assert len(page[0]) == 19


def test_stable_order_breaks_ties_by_id(small):
    with small.connect() as conn:
        page = catalog["list_incidents"].run(conn, {"limit": 1000}, "stable_order")
        keys = [(r["start_time"], r["id"]) for r in page]
        assert keys == sorted(keys, reverse=True)
        shipped = catalog["list_incidents"].run(conn, {"limit": 1000})
        assert {r["id"] for r in shipped} == {r["id"] for r in page}
        times = [r["start_time"] for r in shipped]
        assert times == sorted(times, reverse=True)


def show_in_transaction(conn, settings) -> tuple:
    """Run a SHOW through the same machinery the queries use, inside its transaction."""
    stmt = Statement("probe", "probe", "SELECT current_setting('hnsw.ef_search'), "
                     "current_setting('hnsw.iterative_scan'), current_setting('enable_seqscan')",
                     {}, settings_tuple(settings))
    return stmt.execute(conn)[0]


@pytest.mark.parametrize("autocommit", [True, False])
def test_variant_settings_really_applied_and_not_leaked(small, autocommit):
    q = catalog["semantic_search"]
    params = q.validate({"embedding": unit(np.random.default_rng(1)), "limit": 5})
    with small.connect(autocommit=autocommit) as conn:
        q.execute(conn, params, "tuned")  # loads the vector library in this session
        v = q.variant("ef123_strict")
        assert show_in_transaction(conn, v.settings)[:2] == ("123", "strict_order")
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.autocommit is autocommit
        # nothing leaks into the next statement on this (pooled) connection
        assert show_in_transaction(conn, {})[:2] == ("40", "off")
        for name in ("tuned", "iterative", "exact", "ef200"):
            rows = q.execute(conn, params, name)
            assert len(rows) <= 5
            assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        plan = q.explain(conn, params, "exact")
        assert plan[0]["Settings"].get("enable_indexscan") == "off"
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_shipped_noop_sets_warn_and_do_nothing(small):
    q = catalog["semantic_search"]
    params = q.validate({"embedding": unit(np.random.default_rng(2)), "limit": 3})
    notices: list[str] = []
    with small.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        rows = q.execute(conn, params)
        assert 0 < len(rows) <= 3
        assert notices.count("SET LOCAL can only be used in transaction blocks") == 2
        assert show_in_transaction(conn, {})[2] == "on"
        plan = q.explain(conn, params)
        assert "enable_seqscan" not in plan[0].get("Settings", {})
    with small.connect(autocommit=False) as conn:
        # an idle non-autocommit connection behaves the same and is left idle
        notices.clear()
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        q.execute(conn, params)
        assert len(notices) == 2 and conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.autocommit is False
        # inside the caller's own transaction the no-op SETs would apply, so they are skipped
        conn.execute("SELECT 1")
        q.execute(conn, params)
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        assert conn.execute("SHOW enable_seqscan").fetchone()[0] == "on"
        conn.rollback()


def test_every_query_runs_with_both_connection_modes(small):
    params = {
        "list_incidents": {"namespace": "default", "limit": 5, "offset": 2},
        "count_incidents": {"severity": "critical"},
        "get_incident": {"id": 1},
        "semantic_search": {"embedding": unit(np.random.default_rng(4)), "threshold": 0.0},
        "success_rate": {}, "by_namespace": {}, "severity_distribution": {"namespace": "prod"},
        "trend": {"days": 30}, "filtered_aggregation": {"namespace": "default"},
        "top_failing_actions": {"time_window": "2000h0m0s"},
        "action_comparison": {"action_types": ["restart", "scale", "none"]},
        "namespace_health": {"namespace": "default", "time_window": "720h"},
    }
    with small.connect() as conn:  # the remedies' tables, functions and indexes
        migrate(conn, variants=schema_variants_needed(
            [(q, v) for q in catalog.values() for v in q.variants]))
    for autocommit in (True, False):
        with small.connect(autocommit=autocommit) as conn:
            for name, q in catalog.items():
                clean = q.validate(params[name])
                for variant in q.variants:
                    q.run(conn, clean, variant)
                    assert conn.info.transaction_status == pq.TransactionStatus.IDLE, name
                    assert conn.autocommit is autocommit
                plan = q.explain(conn, clean, analyze=False)
                assert plan[0]["Plan"]["Node Type"]


def test_vector_adapter_registered_lazily_once(small):
    q = catalog["semantic_search"]
    params = q.validate({"embedding": unit(np.random.default_rng(5)), "threshold": 0.0})
    with psycopg.connect(small.dsn, autocommit=False) as conn:  # plain, nothing registered
        assert conn.adapters.types.get("vector") is None
        rows = q.execute(conn, params)
        assert conn.adapters.types.get("vector") is not None
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        result = q.to_result(rows, params)
        assert len(result[0]["embedding"]) == 384
        sims = [r["similarity"] for r in result]
        assert sims == sorted(sims, reverse=True)


def test_pool_connection(small):
    pool_mod = pytest.importorskip("psycopg_pool")
    with pool_mod.ConnectionPool(small.dsn, min_size=1, max_size=2, open=True) as pool:
        for _ in range(3):  # the same pooled connection comes back clean each time
            with pool.connection() as conn:
                assert catalog["count_incidents"].run(conn, {"namespace": "default"}) == 10
                assert catalog["semantic_search"].run(
                    conn, {"embedding": unit(np.random.default_rng(6)), "limit": 2},
                    "tuned") is not None


def test_recorder_times_send_and_fetch_and_reports_settings_round_trips_apart(small, tmp_path):
    """Binding (and building ``ef200`` on demand) happens before the timer; a variant with
    settings reports its BEGIN / SET LOCAL / COMMIT round trips as a separate metric that is
    a real, positive part of its latency; a variant without settings has no such part."""
    from ctxbench.measure.executor import ConnectionSpec, Recorder
    from ctxbench.queries import ParamSet
    from ctxbench.results import ResultsDir

    q = catalog["semantic_search"]
    params = q.validate({"embedding": unit(np.random.default_rng(2)), "limit": 5})
    ps = ParamSet.of(q.name, params)
    recorder = Recorder(ResultsDir(tmp_path / "r").create(), "t")
    with ConnectionSpec(small.dsn).open() as conn:
        with_settings = recorder.measure(conn, "warm", q, "ef200", ps)
        plain = recorder.measure(conn, "warm", q, "as_shipped", ps)
    assert with_settings.ok and plain.ok
    part = with_settings.metrics["settings_roundtrips_ms"]
    assert 0 < part < with_settings.latency_ns / 1e6
    assert "settings_roundtrips_ms" not in plain.metrics
