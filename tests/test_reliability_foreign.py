"""Objects ctxbench did not create stay exactly as they were, even when a run is refused; on its
own tables ctxbench puts back exactly what it changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ctxbench import scenario as scenarios
from ctxbench.db import control, migrate
from ctxbench.db.connect import connect
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target, open_target
from ctxbench.errors import NotOwnedError
from ctxbench.runs.phase_run import run_scenario

FOREIGN_DDL = """
CREATE TABLE resource_references (id serial PRIMARY KEY, name text, kind text)
    WITH (autovacuum_enabled = false, fillfactor = 70);
CREATE TABLE action_histories (id serial PRIMARY KEY, ref int REFERENCES resource_references(id), n int)
    WITH (autovacuum_analyze_scale_factor = 0.02);
CREATE TABLE resource_action_traces (id serial PRIMARY KEY, note text);
INSERT INTO resource_references (name, kind) SELECT 'r' || g, 'Pod' FROM generate_series(1, 500) g;
INSERT INTO action_histories (ref, n) SELECT g, g * 2 FROM generate_series(1, 500) g;
INSERT INTO resource_action_traces (note) SELECT md5(g::text) FROM generate_series(1, 300) g;
ANALYZE resource_references;
ANALYZE action_histories;
ANALYZE resource_action_traces;  -- autovacuum then has nothing to do during the test
"""


def snapshot(conn: psycopg.Connection) -> dict:
    """Everything a run could change: rows, storage parameters, planner statistics, schemas."""
    rels = conn.execute(
        "SELECT c.relname, c.relkind, c.reloptions, c.reltuples, c.relpages, c.relallvisible "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' ORDER BY 1").fetchall()
    stats = conn.execute(
        "SELECT starelid::regclass::text, staattnum, stanullfrac, stawidth, stadistinct, "
        "stakind1, stavalues1::text, stanumbers1::text FROM pg_statistic s "
        "JOIN pg_class c ON c.oid = s.starelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' ORDER BY 1, 2").fetchall()
    rows = {t: conn.execute(f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x").fetchone()[0]
            for t in migrate.WORKLOAD_TABLES}
    schemas = [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()]
    return {"relations": rels, "statistics": stats, "rows": rows, "schemas": schemas}


@pytest.fixture
def foreign_db(pg_server: EmbeddedServer) -> Iterator[Target]:
    """A database someone else created, with tables named like the workload's."""
    name = f"foreign_{uuid.uuid4().hex[:8]}"
    with connect(pg_server.dsn()) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    target = Target(pg_server, name)
    with target.connect() as conn:
        conn.execute(FOREIGN_DDL)
        assert snapshot(conn)["statistics"], "the foreign tables must have statistics to protect"
    try:
        yield target
    finally:
        with connect(pg_server.dsn()) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_refused_run_leaves_foreign_objects_as_they_were(foreign_db: Target, pg_server: EmbeddedServer,
                                                           tmp_path: Path) -> None:
    with foreign_db.connect() as conn:
        before = snapshot(conn)
    sc = scenarios.load_text(f"""
name = "refused"
[database]
name = "{foreign_db.database}"
cache_reset = "evict"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
scale = 1000
[phases]
run = ["before_analyze", "after_analyze"]
""", "refused.toml")
    with pytest.raises(NotOwnedError, match="did not create"):
        run_scenario(sc, out_dir=tmp_path, home=pg_server.home)
    with foreign_db.connect() as conn:
        after = snapshot(conn)
    assert after == before
    assert "ctxbench" not in after["schemas"]


def test_server_state_changes_refuse_foreign_tables(foreign_db: Target) -> None:
    with foreign_db.connect() as conn:
        before = snapshot(conn)
        for action in (lambda: control.set_autovacuum(conn, True),
                       lambda: control.set_autovacuum(conn, False),
                       lambda: control.clear_statistics(conn), lambda: control.analyze(conn)):
            with pytest.raises(NotOwnedError, match="not created by ctxbench"):
                action()
        assert control.restore(conn) == []
        assert snapshot(conn) == before


def _autovacuum(conn: psycopg.Connection, table: str) -> str | None:
    row = conn.execute("SELECT option_value FROM pg_class c, pg_options_to_table(c.reloptions) "
                       "WHERE c.relname = %s AND option_name = 'autovacuum_enabled'", (table,)).fetchone()
    return row and row[0]


def test_restore_puts_back_exactly_what_was_changed(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        migrate.migrate(conn)
        conn.execute("INSERT INTO resource_references (resource_uid, api_version, kind, name, namespace) "
                     "SELECT 'uid-' || g, 'v1', 'Pod', 'p' || g, 'ns' FROM generate_series(1, 200) g")
        conn.execute("ALTER TABLE action_histories SET (autovacuum_enabled = false)")
        control.analyze(conn)
        assert control.pending_restore(conn) == {}
        control.clear_statistics(conn)  # autovacuum off on every table, statistics gone
        control.set_autovacuum(conn, False)  # a second change keeps the first saved state
        assert _autovacuum(conn, "resource_references") == "false"
        assert control.statistics_state(conn)["pg_statistic_rows"] == 0
        done = control.restore(conn)
        assert "statistics (ANALYZE)" in done
        assert _autovacuum(conn, "resource_references") is None  # as it was: never set
        assert _autovacuum(conn, "action_histories") == "false"  # as it was: the user's choice
        assert control.statistics_state(conn)["pg_statistic_rows"] > 0
        assert control.pending_restore(conn) == {} and control.restore(conn) == []


def test_a_fresh_table_without_statistics_is_not_analyzed_on_restore(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        migrate.migrate(conn)
        control.clear_statistics(conn)
        assert "statistics" not in control.pending_restore(conn)
        tables = ("action_histories", "resource_references")
        assert control.restore(conn) == [f"autovacuum on {t}" for t in tables]
        assert control.statistics_state(conn)["tables_analyzed"] == 0


def test_open_target_does_not_create_a_foreign_database_again(foreign_db: Target,
                                                              pg_server: EmbeddedServer) -> None:
    target = open_target(pg_server, foreign_db.database)
    with target.admin_connect() as conn:
        assert conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE datname = %s", (foreign_db.database,)).fetchone()[0] is None
