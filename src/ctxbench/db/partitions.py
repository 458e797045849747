"""Monthly partitions of resource_action_traces that cover exactly the generated time range.

The shipped schema had fixed months and no DEFAULT partition, so inserts outside them failed;
ctxbench creates the months its dataset needs (named like the shipped ones: ``_y2025m10``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

PARENT = "resource_action_traces"


def month_starts(first: date, last: date) -> list[date]:
    """First days of every month from ``first``'s month to ``last``'s month, inclusive."""
    months, cur = [], date(first.year, first.month, 1)
    while cur <= last:
        months.append(cur)
        cur = date(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
    return months


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def ensure_monthly(conn: psycopg.Connection, first: datetime, last: datetime,
                   *, default_partition: bool = False) -> list[str]:
    """Create missing month partitions covering [first, last] (UTC); return the created names."""
    existing = set(list_partitions(conn))
    created = []
    for month in month_starts(first.astimezone(UTC).date(), last.astimezone(UTC).date()):
        name = partition_name(month)
        if name in existing:
            continue
        conn.execute(sql.SQL(
            "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
        ).format(sql.Identifier(name), sql.Identifier(PARENT),
                 sql.Literal(f"{month.isoformat()} 00:00:00+00"),
                 sql.Literal(f"{_next_month(month).isoformat()} 00:00:00+00")))
        created.append(name)
    default = f"{PARENT}_default"
    if default_partition and default not in existing:
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
            sql.Identifier(default), sql.Identifier(PARENT)))
        created.append(default)
    return created


def list_partitions(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1", (PARENT,)
    ).fetchall()
    return [r[0] for r in rows]


def drop_all(conn: psycopg.Connection) -> None:
    """Drop every partition (only called on a schema ctxbench owns)."""
    for name in list_partitions(conn):
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
