"""The database layer on a real embedded server: lifecycle, TCP, settings, ownership guards."""

from __future__ import annotations

import psycopg
import pytest

from ctxbench.db import control, migrate
from ctxbench.db.connect import check_server, connect
from ctxbench.db.containers import docker_available
from ctxbench.db.dsn import mask_password
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target, drop_database, make_server, open_target
from ctxbench.errors import InfraError, NotOwnedError, UsageError


def test_server_listens_on_tcp_with_benchmark_settings(pg_server: EmbeddedServer) -> None:
    assert pg_server.is_running()
    with connect(pg_server.dsn()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SHOW port").fetchone()[0] == str(pg_server.port)
        libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        assert "pg_stat_statements" in libs and "pg_prewarm" in libs
        assert conn.execute("SHOW shared_buffers").fetchone()[0] == "256MB"
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
        facts = check_server(conn)
    assert facts["server_version_num"] >= 180000
    assert tuple(int(x) for x in facts["pgvector_available"].split(".")[:2]) >= (0, 8)


def test_second_up_reuses_the_running_server(pg_server: EmbeddedServer) -> None:
    with connect(pg_server.dsn()) as conn:
        pid = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    assert pg_server.up() is False
    with connect(pg_server.dsn()) as conn:
        assert conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] == pid


def test_migrations_are_idempotent_and_recorded(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        first = migrate.migrate(conn)
        assert first[0].startswith("001_") and len(first) == len(migrate.discover())
        assert migrate.migrate(conn) == []
        assert migrate.owns_schema(conn)


def test_foreign_tables_are_never_touched(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        conn.execute("CREATE TABLE resource_references (id int, note text)")
        conn.execute("INSERT INTO resource_references VALUES (1, 'precious')")
        with pytest.raises(NotOwnedError, match="did not create"):
            migrate.migrate(conn, where="database x")
        assert conn.execute("SELECT note FROM resource_references").fetchone()[0] == "precious"


def test_only_owned_databases_are_dropped(pg_server: EmbeddedServer) -> None:
    with connect(pg_server.dsn()) as conn:
        conn.execute("DROP DATABASE IF EXISTS not_ours")
        conn.execute("CREATE DATABASE not_ours")
    target = Target(pg_server, "not_ours")
    with pytest.raises(NotOwnedError, match="not created by ctxbench"):
        drop_database(target)
    with connect(pg_server.dsn()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname='not_ours'").fetchone()
        conn.execute("DROP DATABASE not_ours")
    owned = open_target(pg_server, "ours_for_a_moment")
    drop_database(owned)
    with connect(pg_server.dsn()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname='ours_for_a_moment'").fetchone() is None


def test_dsn_passwords_are_masked() -> None:
    assert mask_password("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert "s3cret" not in mask_password("host=db password=s3cret user=bob")
    assert "s3cret" not in mask_password("host=db password='s3 cret' user=bob").replace("***", "")


def test_unreachable_dsn_is_an_infrastructure_error() -> None:
    server = make_server(dsn="postgresql://u:topsecret@127.0.0.1:1/db")
    with pytest.raises(InfraError) as info:
        open_target(server)
    assert "topsecret" not in str(info.value)
    assert "cannot connect" in str(info.value)


def test_bad_backend_and_dsn_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="allowed: embedded, dsn, testcontainers"):
        make_server("mysql")
    with pytest.raises(UsageError, match="invalid DSN"):
        make_server(dsn="host=x port=1 =broken")


def test_testcontainers_backend_reports_missing_docker() -> None:
    ok, _ = docker_available()
    if ok:
        pytest.skip("a Docker engine answers here; the no-Docker error path cannot be observed")
    with pytest.raises(InfraError, match="no Docker engine"):
        make_server("testcontainers").up()


@pytest.mark.docker
def test_testcontainers_backend_starts_pgvector() -> None:
    ok, why = docker_available()
    if not ok:
        pytest.skip(f"testcontainers backend: {why}")
    server = make_server("testcontainers")
    try:
        target = open_target(server, None)
        with target.connect() as conn:
            assert check_server(conn)["pgvector_available"]
    finally:
        server.down()


def test_cache_reset_restarts_and_reports_what_it_did(fresh_target: Target) -> None:
    with fresh_target.connect() as conn:
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    outcome = control.reset_caches(fresh_target, "restart")
    assert outcome.method.startswith("restart")
    with fresh_target.connect() as conn:
        assert conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] > started
    with fresh_target.connect() as conn:  # something in shared buffers to evict
        conn.execute("SELECT count(*) FROM pg_class").fetchone()
    evicted = control.reset_caches(fresh_target, "evict")
    assert evicted.method.startswith("evict_buffers")
    assert evicted.details["buffers_evicted"] > 0


def test_statistics_can_be_cleared_and_restored(fresh_target: Target) -> None:
    import datetime as dt

    from ctxbench.db.partitions import ensure_monthly

    with fresh_target.connect() as conn:
        migrate.migrate(conn)
        ensure_monthly(conn, dt.datetime(2025, 10, 1, tzinfo=dt.UTC),
                       dt.datetime(2025, 11, 15, tzinfo=dt.UTC))
        conn.execute("INSERT INTO resource_references (resource_uid, api_version, kind, name, namespace) "
                     "SELECT 'uid-' || g, 'v1', 'Pod', 'p' || g, 'ns' || (g % 3) "
                     "FROM generate_series(1, 200) g")
        analyzed = control.analyze(conn)
        assert analyzed["state"] in ("analyzed", "partial")
        assert analyzed["pg_statistic_rows"] > 0
        cleared = control.clear_statistics(conn)
        assert cleared["pg_statistic_rows"] == 0 and cleared["state"] == "no_stats"
        rr = "SELECT {} FROM pg_class WHERE relname = 'resource_references'"
        assert conn.execute(rr.format("reltuples")).fetchone()[0] == -1
        assert "autovacuum_enabled=false" in conn.execute(rr.format("reloptions")).fetchone()[0]
        control.set_autovacuum(conn, True)
        assert "autovacuum_enabled=true" in conn.execute(rr.format("reloptions")).fetchone()[0]


def test_reserved_settings_are_refused(tmp_path) -> None:
    server = EmbeddedServer(tmp_path, {"port": "1234"})
    with pytest.raises(UsageError, match="managed by ctxbench"):
        server._write_conf()


def test_psycopg_error_text_is_kept_on_failed_sql(fresh_target: Target) -> None:
    with fresh_target.connect() as conn, pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table")


def test_server_settings_are_recorded_in_their_unit() -> None:
    """pg_settings gives shared_buffers in 8 kB pages: recorded as kB, not "262144" + "8kB"."""
    from ctxbench.db.connect import with_unit

    assert with_unit("262144", "8kB") == "2097152kB"  # 2 GB
    assert with_unit("1800", "s") == "1800s" and with_unit("on", None) == "on"
    assert with_unit("-1", "8kB") == "-1" and with_unit("0.9", None) == "0.9"
