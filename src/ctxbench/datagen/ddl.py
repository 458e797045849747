"""Deferring indexes and constraints during a bulk load, and rebuilding them afterwards.

Loading into bare tables and building each index once is much faster than maintaining 20
indexes, an HNSW graph and two foreign keys row by row. The definitions are read back from
the catalog (so whatever the migrations and variants created is restored exactly) and
saved in ``ctxbench.deferred_ddl`` *before* anything is dropped, in the same transaction:
if a load dies half-way, the next ``seed`` finds them there and still rebuilds them.

Kept during the load: the primary keys and unique constraints of resource_references and
action_histories (small tables; the foreign keys need them) and the CHECK constraint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from ctxbench.db.connect import scalar

TABLES = ("resource_references", "action_histories", "resource_action_traces")
DEFERRED_DDL = """
CREATE TABLE IF NOT EXISTS ctxbench.deferred_ddl (
    position   INT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    table_name TEXT NOT NULL,
    ddl        TEXT NOT NULL
);
"""
# rebuild order: keys first (foreign keys need them), cheap btrees, GIN, HNSW last
_ORDER = {"primary key": 0, "unique": 1, "foreign key": 2, "btree": 3, "gin": 4, "hnsw": 5}


@dataclass(frozen=True)
class Deferred:
    position: int
    name: str
    kind: str
    table: str
    ddl: str


def _captures(conn: psycopg.Connection) -> list[tuple[str, str, str, str, str]]:
    """(name, kind, table, create ddl, drop ddl) of what to defer, from the catalog."""
    rows = conn.execute(
        """
        SELECT c.conname, c.contype, t.relname,
               format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', t.relname, c.conname,
                      pg_get_constraintdef(c.oid)),
               format('ALTER TABLE %%I DROP CONSTRAINT %%I', t.relname, c.conname)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
          AND (c.contype = 'f' OR (c.contype IN ('p', 'u') AND t.relname = 'resource_action_traces'))
          AND c.conparentid = 0
        """, (list(TABLES),)).fetchall()
    out = [(name, {"f": "foreign key", "p": "primary key", "u": "unique"}[ct], tbl, create, drop)
           for name, ct, tbl, create, drop in rows]
    rows = conn.execute(
        """
        SELECT ic.relname, am.amname, t.relname, pg_get_indexdef(i.indexrelid),
               format('DROP INDEX %%I', ic.relname)
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_am am ON am.oid = ic.relam
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                          AND c.contype IN ('p', 'u', 'x'))
        """, (list(TABLES),)).fetchall()
    for name, am, tbl, create, drop in rows:
        # a partitioned parent's index reads "ON ONLY parent"; rebuilt, it must cover partitions
        out.append((name, am if am in _ORDER else "btree", tbl,
                    create.replace(" ON ONLY ", " ON ", 1), drop))
    out.sort(key=lambda r: (_ORDER.get(r[1], 3), TABLES.index(r[2]), r[0]))
    return out


def defer_all(conn: psycopg.Connection) -> list[Deferred]:
    """Record and drop the deferrable indexes/constraints; return everything now pending."""
    with conn.transaction():
        conn.execute(DEFERRED_DDL)
        start = scalar(conn, "SELECT coalesce(max(position), 0) FROM ctxbench.deferred_ddl")
        captures = _captures(conn)
        for offset, (name, kind, tbl, create, _) in enumerate(captures, start=1):
            # the object exists, so any older record of it is stale
            conn.execute("DELETE FROM ctxbench.deferred_ddl WHERE name = %s AND table_name = %s",
                         (name, tbl))
            conn.execute("INSERT INTO ctxbench.deferred_ddl VALUES (%s, %s, %s, %s, %s)",
                         (start + offset, name, kind, tbl, create))
        # foreign keys first: a key cannot be dropped while a foreign key needs it
        for *_, drop in sorted(captures, key=lambda r: r[1] != "foreign key"):
            conn.execute(drop)
    return pending(conn)


def pending(conn: psycopg.Connection) -> list[Deferred]:
    if scalar(conn, "SELECT to_regclass('ctxbench.deferred_ddl')") is None:
        return []
    rows = conn.execute("SELECT position, name, kind, table_name, ddl FROM ctxbench.deferred_ddl"
                        ).fetchall()
    items = [Deferred(*r) for r in rows]
    return sorted(items, key=lambda d: (_ORDER.get(d.kind, 3), d.position))


def rebuild(conn: psycopg.Connection, on_done: Callable[[Deferred, float], None] | None = None,
            on_start: Callable[[Deferred], None] | None = None,
            kinds: set[str] | None = None) -> list[tuple[Deferred, float]]:
    """Create every pending item (of ``kinds``, default all) in dependency order, timing each;
    forget each once built."""
    done = []
    for item in pending(conn):
        if kinds is not None and item.kind not in kinds:
            continue
        if on_start:
            on_start(item)
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute(item.ddl)
            conn.execute("DELETE FROM ctxbench.deferred_ddl WHERE position = %s", (item.position,))
        seconds = time.perf_counter() - t0
        done.append((item, seconds))
        if on_done:
            on_done(item, seconds)
    return done
