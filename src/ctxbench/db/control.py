"""Putting the server into a known state before measuring: caches and statistics.

Each function returns a short description of what it actually did, because "cold" and
"no statistics" are properties to report, not to assume (e.g. where the OS refuses to drop
its page cache, the result says the OS cache stayed warm).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ctxbench.db.connect import one_row, scalar
from ctxbench.db.embedded import drop_os_page_cache
from ctxbench.db.migrate import WORKLOAD_TABLES, existing_workload_tables, owns_schema
from ctxbench.db.target import Target
from ctxbench.errors import InfraError, NotOwnedError, UsageError

# What ctxbench changed on its own tables and must put back when a run ends (or, after a
# crash, when the next run ends): one row per item, kept in the database itself.
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS ctxbench.pending_restore (
    item     TEXT PRIMARY KEY,
    value    JSONB,
    saved_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass
class ResetOutcome:
    method: str  # e.g. "restart+drop_caches", "restart (OS cache stayed warm)", "evict_buffers ..."
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def reset_caches(target: Target, method: str = "restart") -> ResetOutcome:
    """Empty PostgreSQL's shared buffers and, where permitted, the OS page cache.

    ``method="restart"`` restarts the server (embedded/container); ``"evict"`` uses
    ``pg_buffercache_evict_all()`` and works on any server with pg_buffercache (PG 18).
    A DSN server cannot be restarted, so it always evicts. Callers open a new connection
    afterwards, which also starts with empty backend-local catalog caches.
    """
    t0 = time.perf_counter()
    details: dict[str, Any] = {}
    if method == "restart" and target.can_restart:
        target.server.restart()
        how = "restart"
    else:
        with target.connect() as conn:
            details.update(evict_shared_buffers(conn))
        how = "evict_buffers"
    if target.kind == "embedded" and drop_os_page_cache():
        how += "+drop_caches"
    else:
        how += " (OS cache stayed warm)"
    return ResetOutcome(how, time.perf_counter() - t0, details)


def evict_shared_buffers(conn: psycopg.Connection) -> dict[str, Any]:
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
        row = one_row(conn, "SELECT * FROM pg_buffercache_evict_all()")
    except psycopg.Error as exc:
        raise InfraError("cannot empty shared buffers on this server: pg_buffercache_evict_all() "
                         f"is unavailable ({str(exc).strip()}); it needs PostgreSQL 18 with "
                         "pg_buffercache, or a server ctxbench can restart") from exc
    return {"buffers_evicted": int(row[0]), "buffers_flushed": int(row[1]),
            "buffers_skipped": int(row[2])}


def workload_relations(conn: psycopg.Connection) -> list[str]:
    """The three tables, every partition, and all their indexes (qualified names)."""
    rows = conn.execute(
        """
        WITH tabs AS (
            SELECT c.oid FROM pg_class c
            WHERE c.oid = ANY (SELECT to_regclass(t)::oid FROM unnest(%s::text[]) t)
            UNION
            SELECT i.inhrelid FROM pg_inherits i
            WHERE i.inhparent = 'resource_action_traces'::regclass
        )
        SELECT oid::regclass::text FROM tabs
        UNION
        SELECT x.indexrelid::regclass::text FROM pg_index x WHERE x.indrelid IN (SELECT oid FROM tabs)
        """, (list(WORKLOAD_TABLES),)).fetchall()
    return sorted(r[0] for r in rows)


def table_relations(conn: psycopg.Connection) -> list[str]:
    return [r for r in workload_relations(conn) if scalar(
        conn, "SELECT relkind IN ('r','p') FROM pg_class WHERE oid = %s::regclass", (r,))]


def statistics_state(conn: psycopg.Connection) -> dict[str, Any]:
    """How many pg_statistic rows and analyzed tables the workload has: recorded with every phase."""
    rels = table_relations(conn)
    stats_rows = scalar(
        conn, "SELECT count(*) FROM pg_statistic WHERE starelid = ANY (%s::regclass[])", (rels,))
    analyzed = one_row(
        conn, "SELECT count(*) FILTER (WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL), "
        "count(*) FROM pg_stat_all_tables WHERE relid = ANY (%s::regclass[])", (rels,))
    parent_stats = scalar(
        conn, "SELECT count(*) FROM pg_statistic WHERE starelid = 'resource_action_traces'::regclass")
    return {"pg_statistic_rows": int(stats_rows), "parent_has_stats": parent_stats > 0,
            "tables_analyzed": int(analyzed[0]), "tables": int(analyzed[1]),
            "state": "analyzed" if parent_stats > 0 else ("partial" if stats_rows else "no_stats")}


def require_owned(conn: psycopg.Connection, what: str) -> None:
    """Refuse to change anything (data, settings, storage parameters, statistics) on workload
    tables ctxbench did not create: the check sits here, below every caller."""
    if not owns_schema(conn):
        tables = existing_workload_tables(conn) or ["(none)"]
        raise NotOwnedError(f"{what} refused: the workload tables here ({', '.join(tables)}) were not "
                            "created by ctxbench, which changes nothing on them")


def _reloption(conn: psycopg.Connection, rel: str, name: str) -> str | None:
    row = conn.execute("SELECT option_value FROM pg_class c, pg_options_to_table(c.reloptions) "
                       "WHERE c.oid = %s::regclass AND option_name = %s", (rel, name)).fetchone()
    return None if row is None else str(row[0])


def _save(conn: psycopg.Connection, item: str, value: Any) -> None:
    """Remember the state before ctxbench's first change (a later change keeps the first)."""
    conn.execute(LEDGER_DDL)
    conn.execute("INSERT INTO ctxbench.pending_restore (item, value) VALUES (%s, %s) "
                 "ON CONFLICT (item) DO NOTHING", (item, Jsonb(value)))


def switch_autovacuum(conn: psycopg.Connection, tables: list[str], enabled: bool) -> None:
    """The one way ctxbench switches autovacuum on plain tables (heap and TOAST): off, or back to
    the server's default. Callers that change tables they found (not just loaded) remember the
    previous setting first (``set_autovacuum``)."""
    for t in tables:
        if enabled:
            q = "ALTER TABLE {} RESET (autovacuum_enabled, toast.autovacuum_enabled)"
        else:
            q = "ALTER TABLE {} SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)"
        conn.execute(sql.SQL(q).format(sql.Identifier(t)))


def drop_planner_statistics(conn: psycopg.Connection, relations: list[str]) -> tuple[str, int]:
    """The one way ctxbench removes planner statistics: ``relations`` (tables of the current
    schema, the partitioned parent included) end with no pg_statistic rows and reltuples -1, as
    before their first VACUUM/ANALYZE. As superuser (the embedded server) the rows are deleted;
    otherwise PostgreSQL 18's pg_clear_*_stats (the table owner suffices). Indexes among
    ``relations`` lose their expression statistics only. Returns the state ("none (cleared)", or
    how many column statistics could not be cleared) and the pg_statistic rows removed."""
    schema = scalar(conn, "SELECT current_schema()")
    if scalar(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        oids = "(SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace " \
               "AND relname = ANY(%s))"
        with conn.transaction():
            deleted = conn.execute(f"DELETE FROM pg_statistic WHERE starelid IN {oids}",
                                   (relations,)).rowcount
            conn.execute(f"UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0 "
                         f"WHERE oid IN {oids} AND relkind IN ('r', 'p')", (relations,))
        return "none (cleared)", deleted
    if scalar(conn, "SELECT to_regproc('pg_clear_relation_stats')") is not None:
        for t in relations:
            conn.execute("SELECT pg_clear_relation_stats(%s, %s)", (schema, t))
        rows = conn.execute("SELECT tablename, attname, inherited FROM pg_stats "
                            "WHERE schemaname = %s AND tablename = ANY(%s)", (schema, relations)
                            ).fetchall()
        for t, att, inherited in rows:
            conn.execute("SELECT pg_clear_attribute_stats(%s, %s, %s, %s)",
                         (schema, t, att, inherited))
        return "none (cleared)", len(rows)
    stale = scalar(conn, "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = "
                   "ANY(%s)", (schema, relations))
    return ("none" if stale == 0 else f"stale: {stale} column statistics could not be cleared"), 0


def set_autovacuum(conn: psycopg.Connection, enabled: bool) -> None:
    """Per-table autovacuum switch (partitioned parents take no storage parameters), on
    ctxbench's own tables only; switching it off remembers each table's previous setting so
    ``restore`` puts exactly that back."""
    require_owned(conn, "changing autovacuum")
    for rel in table_relations(conn):
        kind = scalar(conn, "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (rel,))
        if kind == "r":
            if not enabled:
                _save(conn, f"autovacuum:{rel}",
                      {"autovacuum_enabled": _reloption(conn, rel, "autovacuum_enabled")})
            conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = {})").format(
                sql.SQL(rel), sql.Literal(enabled)))


def note_fresh_tables(conn: psycopg.Connection) -> None:
    """Tables this run just loaded had ctxbench's defaults (autovacuum on) before the load
    switched it off: that is the state to restore."""
    require_owned(conn, "recording table state")
    for rel in table_relations(conn):
        kind = scalar(conn, "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (rel,))
        if kind == "r":
            _save(conn, f"autovacuum:{rel}", {"fresh": True})


def pending_restore(conn: psycopg.Connection) -> dict[str, Any]:
    """What ctxbench changed and has not put back yet (empty where ctxbench owns nothing)."""
    if scalar(conn, "SELECT to_regclass('ctxbench.pending_restore')") is None:
        return {}
    return dict(conn.execute("SELECT item, value FROM ctxbench.pending_restore").fetchall())


def _put_back_autovacuum(conn: psycopg.Connection, rel: str, saved: dict[str, Any]) -> None:
    name = sql.SQL(rel)
    if saved.get("fresh"):  # loaded by this run: ctxbench's defaults, heap and TOAST
        conn.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled, toast.autovacuum_enabled)")
                     .format(name))
    elif saved.get("autovacuum_enabled") is None:
        conn.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(name))
    else:
        conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = {})").format(
            name, sql.Literal(saved["autovacuum_enabled"])))


def restore(conn: psycopg.Connection) -> list[str]:
    """Put back what ctxbench changed on its tables: each table's autovacuum setting as it
    was, and statistics where ctxbench cleared some that existed. Returns what was done;
    touches nothing where ctxbench owns nothing."""
    items = pending_restore(conn)
    if not items or not owns_schema(conn):
        return []
    done: list[str] = []
    if "statistics" in items:
        analyze(conn)
        done.append("statistics (ANALYZE)")
    for item, value in sorted(items.items()):
        if item.startswith("autovacuum:"):
            rel = item.removeprefix("autovacuum:")
            if scalar(conn, "SELECT to_regclass(%s)", (rel,)) is not None:
                _put_back_autovacuum(conn, rel, value or {})
                done.append(f"autovacuum on {rel}")
        conn.execute("DELETE FROM ctxbench.pending_restore WHERE item = %s", (item,))
    return done


def clear_statistics(conn: psycopg.Connection) -> dict[str, Any]:
    """Return the workload's tables to "freshly loaded, never analyzed", without reloading.

    Autovacuum switched off (remembered, so ``restore`` puts it back), then
    ``drop_planner_statistics`` over the tables, partitions and indexes.
    """
    set_autovacuum(conn, False)
    if statistics_state(conn)["pg_statistic_rows"]:
        _save(conn, "statistics", "present")
    state, deleted = drop_planner_statistics(conn, workload_relations(conn))
    if state.startswith("stale"):
        raise InfraError(f"clearing statistics needs superuser or PostgreSQL 18 ({state}); reload "
                         "the dataset with `ctxbench seed --replace --no-analyze` instead")
    return {"pg_statistic_rows_deleted": deleted, **statistics_state(conn)}


def analyze(conn: psycopg.Connection) -> dict[str, Any]:
    """ANALYZE the three tables. Autovacuum never analyzes a partitioned parent, so this is
    the only way the parent gets statistics."""
    require_owned(conn, "ANALYZE")
    t0 = time.perf_counter()
    for table in WORKLOAD_TABLES:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    seconds = time.perf_counter() - t0
    if scalar(conn, "SELECT to_regclass('ctxbench.pending_restore')") is not None:
        conn.execute("DELETE FROM ctxbench.pending_restore WHERE item = 'statistics'")
    return {"analyze_seconds": round(seconds, 3), **statistics_state(conn)}


def hnsw_indexes(conn: psycopg.Connection) -> list[str]:
    """The HNSW indexes of the partitions (the ones a search actually reads)."""
    rows = conn.execute(
        """
        SELECT x.indexrelid::regclass::text FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
        JOIN pg_inherits h ON h.inhrelid = x.indrelid
        WHERE am.amname = 'hnsw' AND h.inhparent = 'resource_action_traces'::regclass
        ORDER BY 1
        """).fetchall()
    return [r[0] for r in rows]


def prewarm(conn: psycopg.Connection, relations: list[str]) -> dict[str, Any]:
    """pg_prewarm each relation into shared buffers; returns seconds and blocks loaded."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    t0 = time.perf_counter()
    blocks = 0
    for rel in relations:
        blocks += int(scalar(conn, "SELECT pg_prewarm(%s::regclass)", (rel,)))
    return {"prewarm_seconds": round(time.perf_counter() - t0, 4), "prewarm_blocks": blocks,
            "prewarm_relations": len(relations)}


# Relations an ``on_start`` prewarm entry names (``queries.model.OnStart``): (kind, name) with
# kind an index access method, "heap" (the table or its partitions), or None (the relation, or
# the partitions of a partitioned table/index: only leaves hold blocks).
_LEAVES = ("SELECT relid FROM pg_partition_tree(%(t)s::regclass) WHERE isleaf "
           "UNION SELECT %(t)s::regclass")  # a relation outside any partition tree: itself


def resolve_prewarm(conn: psycopg.Connection, targets: list[tuple[str | None, str]]
                    ) -> list[str]:
    """The relations (qualified names, in order, no repeats) the entries name in this database;
    an entry that names nothing here is an error (a start action that warms nothing would make
    the remedy look measured when it was not)."""
    out: list[str] = []
    for kind, name in targets:
        label = f"{kind}:{name}" if kind else name
        if scalar(conn, "SELECT to_regclass(%s)", (name,)) is None:
            raise UsageError(f"on_start.prewarm entry {label!r}: relation {name!r} does not "
                             "exist in this database")
        if kind is None or kind == "heap":
            rows = conn.execute(
                f"SELECT c.oid::regclass::text FROM ({_LEAVES}) t JOIN pg_class c ON c.oid = "
                "t.relid WHERE c.relkind IN ('r', 'i', 'm', 't')" + (
                    " AND c.relkind IN ('r', 'm')" if kind == "heap" else "") + " ORDER BY 1",
                {"t": name}).fetchall()
        else:
            rows = conn.execute(
                f"SELECT x.indexrelid::regclass::text FROM ({_LEAVES}) t "
                "JOIN pg_index x ON x.indrelid = t.relid JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_am am ON am.oid = i.relam WHERE am.amname = %(am)s AND i.relkind = 'i' "
                "ORDER BY 1", {"t": name, "am": kind}).fetchall()
        if not rows:
            what = (f"no {kind} index on {name} or its partitions" if kind not in (None, "heap")
                    else f"{name} has no table or index with blocks (a view or sequence?)")
            raise UsageError(f"on_start.prewarm entry {label!r} names nothing to prewarm in "
                             f"this database: {what}")
        out += [r[0] for r in rows if r[0] not in out]
    return out


def resident_blocks(conn: psycopg.Connection, relations: list[str]) -> int:
    """Shared buffers that hold blocks of ``relations`` right now (pg_buffercache)."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
    return int(scalar(
        conn, "SELECT count(*) FROM pg_buffercache b JOIN pg_class c "
        "ON b.relfilenode = pg_relation_filenode(c.oid) WHERE c.oid = ANY (%s::regclass[]) "
        "AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (relations,)))


def run_on_start(conn: psycopg.Connection, targets: list[tuple[str | None, str]]
                 ) -> dict[str, Any]:
    """A remedy's server-start action: pg_prewarm the relations its entries name. Returns the
    cost (seconds, blocks, MB) and the blocks resident in shared buffers right after it."""
    relations = resolve_prewarm(conn, targets)
    done = prewarm(conn, relations)
    block_size = int(scalar(conn, "SELECT current_setting('block_size')::int"))
    return {"seconds": done["prewarm_seconds"], "blocks": done["prewarm_blocks"],
            "mb": round(done["prewarm_blocks"] * block_size / 1e6, 1),
            "relations": relations, "resident_blocks": resident_blocks(conn, relations)}
