"""Validation: the service's limits per surface, one clear message per bad value (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ctxbench.errors import UsageError
from ctxbench.queries import AS_SHIPPED, Variant, catalog, semantic_variant
from ctxbench.queries.validation import format_go_duration, parse_duration

EMB = np.ones(384, dtype=np.float32) / np.sqrt(384)


def bad(query: str, params: dict, *fragments: str, surface: str = "builder") -> None:
    with pytest.raises(UsageError) as info:
        catalog[query].validate(params, surface=surface)
    message = str(info.value)
    assert message.startswith(f"{query}:"), message
    for fragment in fragments:
        assert fragment in message, message


def test_catalog_shape():
    assert list(catalog) == [
        "list_incidents", "count_incidents", "get_incident", "semantic_search", "success_rate",
        "by_namespace", "severity_distribution", "trend", "filtered_aggregation",
        "top_failing_actions", "action_comparison", "namespace_health"]
    for q in catalog.values():
        assert AS_SHIPPED in q.variants
        assert q.tags and q.tags <= {"list", "point", "vector", "aggregate"}
        for v in q.variants.values():
            assert v.doc, (q.name, v.name)
        assert catalog[q.name].describe()["name"] == q.name


@pytest.mark.parametrize(("limit", "surface", "allowed"), [
    (0, "builder", "1–1000"), (1001, "builder", "1–1000"), (101, "http", "1–100"),
    (0, "http", "1–100")])
def test_list_limits(limit, surface, allowed):
    bad("list_incidents", {"limit": limit}, f"limit={limit}", allowed, surface=surface)


def test_list_defaults_and_bounds():
    q = catalog["list_incidents"]
    assert q.validate({})["limit"] == 100 and q.validate({})["offset"] == 0
    assert q.validate({}, surface="http")["limit"] == 10
    assert q.validate({"limit": 1000})["limit"] == 1000
    assert q.validate({"limit": 100}, surface="http")["limit"] == 100
    assert q.validate({"offset": 10**9})["offset"] == 10**9
    bad("list_incidents", {"offset": -1}, "offset=-1", ">= 0")
    bad("list_incidents", {"limit": "10"}, "limit='10'", "integer")
    bad("list_incidents", {"limit": True}, "limit=True")
    bad("list_incidents", {"nope": 1}, "unknown parameter", "nope", "allowed")
    bad("list_incidents", {"namespace": ""}, "namespace=''", "non-empty")
    bad("list_incidents", {"namespace": "x" * 64}, "at most 63")


def test_list_builder_only_filters_rejected_over_http():
    bad("list_incidents", {"cluster_name": "c1"}, "cluster_name='c1'", "builder",
        surface="http")
    assert catalog["list_incidents"].validate({"cluster_name": "c1"})["cluster_name"] == "c1"


def test_time_range_checks():
    start = datetime(2026, 1, 2, tzinfo=UTC)
    bad("list_incidents", {"start_time": start}, "end_time", "together")
    bad("count_incidents", {"start_time": start, "end_time": start - timedelta(hours=1)},
        "start_time", "must not be after")
    out = catalog["list_incidents"].validate(
        {"start_time": "2026-01-02T00:00:00", "end_time": "2026-01-03T00:00:00+00:00"})
    assert out["start_time"].tzinfo is not None and out["end_time"] > out["start_time"]
    bad("list_incidents", {"start_time": "yesterday", "end_time": start}, "ISO-8601")


def test_get_incident_id():
    assert catalog["get_incident"].validate({"id": 5}) == {"id": 5}
    bad("get_incident", {}, "id=None", "required")
    bad("get_incident", {"id": 0}, "id=0", "1–")
    bad("get_incident", {"id": 2**63}, "id=")


def test_semantic_limits():
    q = catalog["semantic_search"]
    out = q.validate({"embedding": EMB.tolist()})
    assert out["limit"] == 10 and out["threshold"] == 0.0
    assert out["embedding"].dtype == np.float32 and out["embedding"].shape == (384,)
    assert q.validate({"embedding": EMB}, surface="http")["threshold"] == 0.7
    bad("semantic_search", {}, "embedding", "384")
    bad("semantic_search", {"embedding": EMB[:383]}, "embedding", "384 dimensions")
    bad("semantic_search", {"embedding": np.full(384, np.nan)}, "finite")
    bad("semantic_search", {"embedding": EMB, "limit": 101}, "limit=101", "1–100")
    bad("semantic_search", {"embedding": EMB, "limit": 51}, "limit=51", "1–50", surface="http")
    bad("semantic_search", {"embedding": EMB, "threshold": 1.5}, "threshold=1.5", "[0, 1]")
    bad("semantic_search", {"embedding": EMB, "threshold": -0.1}, "threshold=-0.1")


def test_aggregation_limits():
    assert catalog["trend"].validate({}) == {"days": 30}
    bad("trend", {"days": 0}, "days=0", "1–365")
    bad("trend", {"days": 366}, "days=366", "1–365")
    bad("top_failing_actions", {"limit": 101}, "limit=101", "1–100")
    bad("top_failing_actions", {"limit": 0}, "limit=0", "1–100")
    bad("top_failing_actions", {"time_window": "yesterday"}, "time_window", "Go duration")
    bad("top_failing_actions", {"time_window": "0s"}, "time_window='0s'", "from 1s")
    bad("top_failing_actions", {"time_window": "9000h"}, "time_window='9000h'")
    bad("action_comparison", {"action_types": []}, "action_types", "1–20")
    bad("action_comparison", {"action_types": [f"t{i}" for i in range(21)]}, "1–20")
    bad("action_comparison", {"action_types": "restart"}, "list")
    bad("action_comparison", {"action_types": ["ok", ""]}, "non-empty")
    assert catalog["action_comparison"].validate({"action_types": ["a"] * 20})["time_window"] \
        == "168h0m0s"
    bad("namespace_health", {}, "namespace", "required")
    bad("success_rate", {}, "workflow_id", "required", surface="http")
    assert catalog["success_rate"].validate({}) == {"workflow_id": None}
    assert catalog["severity_distribution"].validate({"namespace": ""}) == {"namespace": None}
    bad("by_namespace", {"namespace": "x"}, "unknown parameter")
    bad("filtered_aggregation", {"start_time": datetime(2026, 2, 1, tzinfo=UTC),
                                 "end_time": datetime(2026, 1, 1, tzinfo=UTC)}, "start_time")


def test_go_durations():
    assert parse_duration("24h0m0s") == 86400.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("1.5s") == 1.5 and parse_duration("500ms") == 0.5
    assert parse_duration(timedelta(days=7)) == 7 * 86400.0
    for text in ("24h0m0s", "1h30m0s", "30m0s", "1m30.5s", "2160h0m0s", "1s"):
        assert format_go_duration(parse_duration(text)) == text
    assert format_go_duration(0.5) == "500ms"
    for wrong in ("", "24", "h", "1d", "1h 30m", "-1h"):
        with pytest.raises(UsageError):
            parse_duration(wrong)
    # normalized to what Go's Duration.String() would have sent
    assert catalog["top_failing_actions"].validate({"time_window": "1h30m"})["time_window"] \
        == "1h30m0s"
    assert catalog["namespace_health"].validate(
        {"namespace": "a", "time_window": timedelta(hours=24)})["time_window"] == "24h0m0s"


def test_surface_and_variant_errors():
    with pytest.raises(UsageError, match="surface 'grpc'"):
        catalog["trend"].validate({}, surface="grpc")
    with pytest.raises(UsageError, match="unknown variant 'nope'"):
        catalog["trend"].sql_and_args({"days": 3}, "nope")
    with pytest.raises(UsageError, match="ef_search"):
        semantic_variant(0)
    with pytest.raises(UsageError, match="iterative_scan"):
        semantic_variant(40, "sideways")
    with pytest.raises(UsageError, match="GUC"):
        Variant("x", "SELECT 1", "doc", settings={"bad name; DROP": "1"})


def test_on_demand_semantic_variants():
    q = catalog["semantic_search"]
    v = q.variant("ef200_strict")
    assert dict(v.settings) == {"hnsw.ef_search": "200", "hnsw.iterative_scan": "strict_order"}
    assert q.variant("ef40").settings["hnsw.ef_search"] == "40"
    assert q.variant("ef64_relaxed_max5000").settings["hnsw.max_scan_tuples"] == "5000"
    # same SQL as shipped: only the settings differ
    assert v.sql == q.variants["as_shipped"].sql
    assert q.variants["as_shipped"].shipped_noop_sets and not v.shipped_noop_sets


def test_sql_shapes():
    q = catalog["list_incidents"]
    sql, args = q.sql_and_args({"namespace": "a", "severity": "b", "limit": 5, "offset": 10})
    assert "rr.namespace = %(namespace)s\n  AND rat.alert_severity = %(severity)s" in sql
    assert sql.rstrip().endswith("ORDER BY rat.action_timestamp DESC\nLIMIT %(limit)s "
                                 "OFFSET %(offset)s")
    assert args == {"namespace": "a", "severity": "b", "limit": 5, "offset": 10}
    sql, args = q.sql_and_args({"limit": 5, "offset": 0})
    assert "WHERE" not in sql and "{where}" not in sql
    sql, _ = q.sql_and_args({"limit": 5, "offset": 0}, "stable_order")
    assert "ORDER BY rat.action_timestamp DESC, rat.id DESC" in sql
    sql, _ = catalog["semantic_search"].sql_and_args({"embedding": EMB, "cluster_name": "c"})
    assert "rat.cluster_name = %(cluster_name)s" in sql and "{filters}" not in sql
    assert sql.count("%(embedding)s") == 3  # psycopg sends it once as $1, as the service did
    sql, args = catalog["severity_distribution"].sql_and_args({})
    assert "WHERE" not in sql and args == {}
    sql, _ = catalog["trend"].sql_and_args({"days": 7})
    assert "created_at >= NOW()" in sql and "action_timestamp" not in sql
    sql, _ = catalog["trend"].sql_and_args({"days": 7}, "partition_bound")
    assert "action_timestamp >= NOW()" in sql
    sql, args = catalog["filtered_aggregation"].sql_and_args({"phase": "completed"})
    assert "rat.execution_status = %(phase)s" in sql and args == {"phase": "completed"}
