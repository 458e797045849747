"""The schema read back from the catalogs matches the reference (context-api-workload.md §1).

The expectations are written from the reference text, independently of migrations/*.sql,
and checked twice: on a freshly migrated database and on the seeded dataset, whose indexes
and constraints were dropped for the load and rebuilt from saved definitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from ctxbench.db import partitions
from ctxbench.db.migrate import migrate
from ctxbench.db.target import Target

pytestmark = pytest.mark.db

TS = "timestamp with time zone"
NEXTVAL = "nextval("
# column -> (type, NOT NULL, default or None); NEXTVAL means a bigserial's sequence default
COLUMNS = {
    "resource_references": {
        "id": ("bigint", True, NEXTVAL),
        "resource_uid": ("character varying(36)", True, None),
        "api_version": ("character varying(100)", True, None),
        "kind": ("character varying(100)", True, None),
        "name": ("character varying(253)", True, None),
        "namespace": ("character varying(63)", False, None),
        "created_at": (TS, False, "now()"),
        "deleted_at": (TS, False, None),
        "last_seen": (TS, False, "now()"),
    },
    "action_histories": {
        "id": ("bigint", True, NEXTVAL),
        "resource_id": ("bigint", True, None),
        "max_actions": ("integer", False, "1000"),
        "max_age_days": ("integer", False, "30"),
        "compaction_strategy": ("character varying(20)", False,
                                "'pattern-aware'::character varying"),
        "oscillation_window_minutes": ("integer", False, "120"),
        "effectiveness_threshold": ("numeric(3,2)", False, "0.70"),
        "pattern_min_occurrences": ("integer", False, "3"),
        "total_actions": ("integer", False, "0"),
        "last_action_at": (TS, False, None),
        "last_analysis_at": (TS, False, None),
        "next_analysis_at": (TS, False, None),
        "created_at": (TS, False, "now()"),
        "updated_at": (TS, False, "now()"),
    },
    "resource_action_traces": {
        "id": ("bigint", True, NEXTVAL),
        "action_history_id": ("bigint", True, None),
        "action_id": ("character varying(64)", True, None),
        "correlation_id": ("character varying(64)", False, None),
        "action_timestamp": (TS, True, None),
        "execution_start_time": (TS, False, None),
        "execution_end_time": (TS, False, None),
        "execution_duration_ms": ("integer", False, None),
        "alert_name": ("character varying(200)", True, None),
        "alert_severity": ("character varying(20)", True, None),
        "alert_labels": ("jsonb", False, None),
        "alert_annotations": ("jsonb", False, None),
        "alert_firing_time": (TS, False, None),
        "model_used": ("character varying(100)", True, None),
        "routing_tier": ("character varying(20)", False, None),
        "model_confidence": ("numeric(4,3)", True, None),
        "model_reasoning": ("text", False, None),
        "alternative_actions": ("jsonb", False, None),
        "action_type": ("character varying(50)", True, None),
        "action_parameters": ("jsonb", False, None),
        "resource_state_before": ("jsonb", False, None),
        "resource_state_after": ("jsonb", False, None),
        "execution_status": ("character varying(20)", False, "'pending'::character varying"),
        "execution_error": ("text", False, None),
        "kubernetes_operations": ("jsonb", False, None),
        "effectiveness_score": ("numeric(4,3)", False, None),
        "effectiveness_criteria": ("jsonb", False, None),
        "effectiveness_assessed_at": (TS, False, None),
        "effectiveness_assessment_method": ("character varying(20)", False, None),
        "effectiveness_notes": ("text", False, None),
        "follow_up_actions": ("jsonb", False, None),
        "created_at": (TS, False, "now()"),
        "updated_at": (TS, False, "now()"),
        "effectiveness_assessment_due": (TS, False, None),
        "alert_fingerprint": ("character varying(64)", False, None),
        "cluster_name": ("character varying(100)", False, None),
        "environment": ("character varying(20)", False, None),
        "embedding": ("vector(384)", False, None),
    },
}
# (table, type, definition) of every primary key, unique and foreign key
KEYS = {
    ("resource_references", "p", "PRIMARY KEY (id)"),
    ("resource_references", "u", "UNIQUE (resource_uid)"),
    ("resource_references", "u", "UNIQUE (namespace, kind, name)"),
    ("action_histories", "p", "PRIMARY KEY (id)"),
    ("action_histories", "u", "UNIQUE (resource_id)"),
    ("action_histories", "f",
     "FOREIGN KEY (resource_id) REFERENCES resource_references(id) ON DELETE CASCADE"),
    ("resource_action_traces", "p", "PRIMARY KEY (id, action_timestamp)"),
    ("resource_action_traces", "u", "UNIQUE (action_id, action_timestamp)"),
    ("resource_action_traces", "f",
     "FOREIGN KEY (action_history_id) REFERENCES action_histories(id) ON DELETE CASCADE"),
}
# (table, access method, key columns, predicate fragments) of every index not backing a key
INDEXES = {
    ("resource_references", "btree", "kind", ()),
    ("resource_references", "btree", "namespace", ()),
    ("resource_references", "btree", "last_seen", ()),
    ("resource_references", "btree", "resource_uid", ()),
    ("action_histories", "btree", "last_action_at", ()),
    ("action_histories", "btree", "next_analysis_at", ()),
    ("action_histories", "btree", "resource_id", ()),
    ("resource_action_traces", "btree", "action_history_id, action_timestamp", ()),
    ("resource_action_traces", "btree", "action_type, action_timestamp", ()),
    ("resource_action_traces", "btree", "model_used, action_timestamp", ()),
    ("resource_action_traces", "btree", "alert_name, action_timestamp", ()),
    ("resource_action_traces", "btree", "execution_status",
     ("execution_status", "'pending'", "'executing'")),
    ("resource_action_traces", "btree", "effectiveness_score", ("effectiveness_score IS NOT NULL",)),
    ("resource_action_traces", "btree", "correlation_id", ("correlation_id IS NOT NULL",)),
    ("resource_action_traces", "gin", "alert_labels", ()),
    ("resource_action_traces", "gin", "action_parameters", ()),
    ("resource_action_traces", "gin", "resource_state_before", ()),
    ("resource_action_traces", "btree", "action_history_id, action_type, action_timestamp DESC", ()),
    ("resource_action_traces", "btree", "action_type, effectiveness_score, action_timestamp",
     ("effectiveness_score IS NOT NULL",)),
    ("resource_action_traces", "btree", "effectiveness_assessment_due", ()),
    ("resource_action_traces", "btree", "alert_fingerprint", ()),
    ("resource_action_traces", "btree", "cluster_name", ()),
    ("resource_action_traces", "btree", "environment", ()),
    ("resource_action_traces", "btree", "cluster_name, environment, alert_severity",
     ("cluster_name IS NOT NULL",)),
    ("resource_action_traces", "hnsw", "embedding vector_cosine_ops", ()),
}
TRIGGERS = {("action_histories", "update_action_histories_updated_at"),
            ("resource_action_traces", "update_resource_action_traces_updated_at")}
_INDEXDEF = re.compile(r" USING (\w+) \((.*?)\)(?: WHERE (.*))?$")


@pytest.fixture(params=["migrated", "seeded"])
def conn(request, fresh_target: Target) -> Iterator[psycopg.Connection]:
    target = fresh_target
    if request.param == "seeded":
        target = request.getfixturevalue("dataset_target")
    with target.connect() as c:
        if request.param == "migrated":
            migrate(c)
        yield c


def test_columns_types_nullability_and_defaults(conn) -> None:
    for table, expected in COLUMNS.items():
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (table,)).fetchall()
        actual = {name: (typ, notnull, default) for name, typ, notnull, default in rows}
        assert set(actual) == set(expected), table
        for column, (typ, notnull, default) in expected.items():
            got = actual[column]
            assert got[:2] == (typ, notnull), (table, column, got)
            if default == NEXTVAL:
                assert got[2] and got[2].startswith(NEXTVAL), (table, column, got)
            else:
                assert got[2] == default, (table, column, got)


def test_keys_and_foreign_keys(conn) -> None:
    rows = conn.execute(
        "SELECT t.relname, c.contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid WHERE t.relname = ANY(%s) "
        "AND c.contype IN ('p', 'u', 'f') AND c.conparentid = 0",
        (list(COLUMNS),)).fetchall()
    assert set(rows) == KEYS


def test_environment_check_constraint(conn) -> None:
    (definition,) = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conname = 'check_environment_valid' AND conrelid = 'resource_action_traces'::regclass"
    ).fetchone()
    assert "environment IS NULL" in definition
    for env in ("production", "staging", "development", "test"):
        assert f"'{env}'" in definition
    # and it is enforced: a row with another environment is rejected
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        now = datetime.now(UTC)
        partitions.ensure_monthly(conn, now, now)
        conn.execute(
            "INSERT INTO resource_action_traces (action_history_id, action_id, action_timestamp, "
            "alert_name, alert_severity, model_used, model_confidence, action_type, environment) "
            "VALUES (1, 'x', now(), 'a', 'warning', 'm', 0.9, 'restart_pod', 'prod')")


def test_every_reference_index(conn) -> None:
    rows = conn.execute(
        "SELECT t.relname, pg_get_indexdef(i.indexrelid), ic.reloptions FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid "
        "WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u'))",
        (list(COLUMNS),)).fetchall()
    found = []
    for table, definition, reloptions in rows:
        method, columns, predicate = _INDEXDEF.search(definition).groups()
        found.append((table, method, columns, predicate or "", reloptions))
    assert len(found) == len(INDEXES)
    for table, method, columns, fragments in INDEXES:
        matches = [f for f in found if f[:3] == (table, method, columns)
                   and all(fr in f[3] for fr in fragments) and bool(f[3]) == bool(fragments)]
        assert len(matches) == 1, (table, method, columns, fragments)
    hnsw = [f for f in found if f[1] == "hnsw"]
    assert hnsw[0][4] is None  # no WITH clause: pgvector's defaults m = 16, ef_construction = 64
    names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = "
                                        "'resource_action_traces'").fetchall()}
    assert {"idx_rat_context_filters", "idx_rat_embedding_hnsw"} <= names
    rat = [f for f in found if f[0] == "resource_action_traces"]
    assert not any(f[2].startswith("action_timestamp") for f in rat)
    assert not any(f[2] == "alert_severity" for f in rat)


def test_partitioning_and_partition_indexes(conn) -> None:
    assert conn.execute("SELECT pg_get_partkeydef('resource_action_traces'::regclass)"
                        ).fetchone()[0] == "RANGE (action_timestamp)"
    parent_indexes = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = "
                                  "'resource_action_traces'::regclass").fetchone()[0]
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), "
        "(SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) "
        "FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid "
        "WHERE h.inhparent = 'resource_action_traces'::regclass").fetchall()
    for name, bound, n_indexes in rows:
        assert re.fullmatch(r"resource_action_traces_y\d{4}m\d{2}", name), name
        assert bound.startswith("FOR VALUES FROM ('") and "DEFAULT" not in bound
        assert n_indexes == parent_indexes, name  # every parent index exists on every partition
    invalid = conn.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                           "WHERE c.relname LIKE 'resource_action_traces%%' AND NOT i.indisvalid"
                           ).fetchone()[0]
    assert invalid == 0


def test_triggers_and_extension(conn) -> None:
    rows = conn.execute("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c "
                        "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relname = ANY(%s) "
                        "AND t.tgparentid = 0", (list(COLUMNS),)).fetchall()
    assert set(rows) == TRIGGERS
    assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
