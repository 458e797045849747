"""The dataset checksum, computed inside the database over every row of the three tables.

Rows are hashed in id order (md5 of the row's text form; the vector through its binary send
form, which is exact and avoids formatting 384 floats), grouped into buckets of 65,536 ids so
no aggregate grows large; a table's digest is the md5 of its bucket digests in bucket order,
and the three table digests are combined with sha256. Text forms depend on session settings,
so each session fixes TimeZone, DateStyle, IntervalStyle and extra_float_digits first. Only
the generated columns are hashed, by name, so a schema variant that adds a column does not
change the checksum of the same data. Bucket ranges can be hashed on several connections at
once; the result does not depend on how they were split.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

from ctxbench.datagen.encode import COPY_COLUMNS
from ctxbench.datagen.parents import HISTORY_COLUMNS, RESOURCE_COLUMNS
from ctxbench.db.connect import one_row, scalar

COLUMNS = {
    "resource_references": RESOURCE_COLUMNS,
    "action_histories": HISTORY_COLUMNS,
    "resource_action_traces": ("id", *sorted(c for c in COPY_COLUMNS if c != "id")),
}
SESSION = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
           "extra_float_digits": "3", "bytea_output": "hex"}
BUCKET_SHIFT = 16


def _bucket_query(table: str) -> sql.Composed:
    exprs = [sql.SQL("md5(vector_send({}))").format(sql.Identifier(c)) if c == "embedding"
             else sql.Identifier(c) for c in COLUMNS[table]]
    return sql.SQL(
        "SELECT id >> {shift} AS b, md5(string_agg(md5(ROW({cols})::text), '' ORDER BY id))"
        " FROM {table} WHERE id >= %(lo)s AND id < %(hi)s GROUP BY 1"
    ).format(shift=sql.Literal(BUCKET_SHIFT), cols=sql.SQL(", ").join(exprs),
             table=sql.Identifier(table))


def bucket_digests(conn: psycopg.Connection, table: str, lo: int, hi: int) -> list[tuple[int, str]]:
    """(bucket, md5) of the rows with lo <= id < hi, with the canonical session settings."""
    with conn.transaction():
        for name, value in SESSION.items():
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        return conn.execute(_bucket_query(table), {"lo": lo, "hi": hi}).fetchall()


def _id_range(conn: psycopg.Connection, table: str) -> tuple[int, int]:
    q = sql.SQL("SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM {}").format(
        sql.Identifier(table))
    lo, hi = one_row(conn, q)
    return int(lo), int(hi) + 1


def dataset_checksum(conn: psycopg.Connection,
                     run: Callable[[Sequence[Callable[[psycopg.Connection], object]]], list] | None = None
                     ) -> str:
    """``sha256:<hex>`` over all rows of the three tables, in canonical order.

    ``run`` executes a list of tasks (each taking a connection), possibly on several
    connections at once; by default they run one after the other on ``conn``.
    """
    run = run or (lambda tasks: [task(conn) for task in tasks])
    parts = []
    for table in COLUMNS:
        lo, hi = _id_range(conn, table)
        first, last = lo >> BUCKET_SHIFT, (hi - 1) >> BUCKET_SHIFT if hi > lo else -1
        n_buckets = last - first + 1
        pieces = max(1, min(4, n_buckets))
        bounds = [lo] + [(first + (n_buckets * i) // pieces) << BUCKET_SHIFT
                         for i in range(1, pieces)] + [hi]
        tasks = [functools.partial(bucket_digests, table=table, lo=a, hi=b)
                 for a, b in itertools.pairwise(bounds)]
        rows = [row for result in run(tasks) for row in result]
        digest = scalar(
            conn, "SELECT coalesce(md5(string_agg(h, '' ORDER BY b)), md5('')) "
            "FROM unnest(%s::bigint[], %s::text[]) AS t(b, h)",
            ([r[0] for r in rows], [r[1] for r in rows]))
        parts.append(f"{table}:{digest}")
    combined = scalar(conn, "SELECT encode(sha256(convert_to(%s, 'UTF8')), 'hex')",
                      ("\n".join(parts),))
    return f"sha256:{combined}"
