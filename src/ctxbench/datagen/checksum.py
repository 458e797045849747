"""The dataset checksum, computed inside the database over every row of the three tables.

Rows are hashed in id order (md5 of the row's text form; the vector through its binary send
form, which is exact and avoids formatting 384 floats), grouped into buckets of 65,536 ids so
no aggregate grows large, and the three table digests are combined with sha256. Text forms
depend on session settings, so the session fixes TimeZone, DateStyle, IntervalStyle and
extra_float_digits first. Only the generated columns are hashed, by name, so a schema variant
that adds a column does not change the checksum of the same data.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ctxbench.datagen.encode import COPY_COLUMNS
from ctxbench.datagen.parents import HISTORY_COLUMNS, RESOURCE_COLUMNS

COLUMNS = {
    "resource_references": RESOURCE_COLUMNS,
    "action_histories": HISTORY_COLUMNS,
    "resource_action_traces": ("id", *sorted(c for c in COPY_COLUMNS if c != "id")),
}
SESSION = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
           "extra_float_digits": "3", "bytea_output": "hex"}
BUCKET_SHIFT = 16


def _table_digest(table: str) -> sql.Composed:
    exprs = [sql.SQL("md5(vector_send({}))").format(sql.Identifier(c)) if c == "embedding"
             else sql.Identifier(c) for c in COLUMNS[table]]
    return sql.SQL(
        "SELECT coalesce(md5(string_agg(h, '' ORDER BY b)), md5('')) FROM ("
        " SELECT id >> {shift} AS b,"
        " md5(string_agg(md5(ROW({cols})::text), '' ORDER BY id)) AS h"
        " FROM {table} GROUP BY 1) s"
    ).format(shift=sql.Literal(BUCKET_SHIFT), cols=sql.SQL(", ").join(exprs),
             table=sql.Identifier(table))


def dataset_checksum(conn: psycopg.Connection) -> str:
    """``sha256:<hex>`` over all rows of the three tables, in canonical order."""
    with conn.transaction():
        for name, value in SESSION.items():
            conn.execute(sql.SQL("SELECT set_config({}, {}, true)").format(
                sql.Literal(name), sql.Literal(value)))
        parts = []
        for table in COLUMNS:
            digest = conn.execute(_table_digest(table)).fetchone()[0]
            parts.append(f"{table}:{digest}")
        combined = conn.execute("SELECT encode(sha256(convert_to(%s, 'UTF8')), 'hex')",
                                ("\n".join(parts),)).fetchone()[0]
    return f"sha256:{combined}"
