"""Seeding a database with a deterministic Kubernaut-shaped dataset: the public entry points.

``seed_dataset`` migrates, refuses to overwrite unless asked, defers indexes and foreign
keys, creates the month partitions the data needs, streams the rows by binary COPY,
rebuilds every deferred index/constraint (timing each), sets the sequences, optionally
VACUUM ANALYZEs, computes the in-database checksum and records params + checksum + summary
in ``ctxbench.datasets``. The same (scale, seed, anchor, months, severities, generator
version) gives the same rows byte for byte.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ctxbench.datagen import ddl, parents
from ctxbench.datagen.checksum import dataset_checksum
from ctxbench.datagen.embeddings import DEFAULT_PROFILE, check_profile
from ctxbench.datagen.loader import DEFAULT_WORKERS, copy_rows, copy_traces
from ctxbench.datagen.model import HistoryStats, World
from ctxbench.datagen.parallel import run_tasks
from ctxbench.datagen.pgbinary import copy_statement
from ctxbench.datagen.progress import NoProgress, ProgressSink
from ctxbench.datagen.rng import MAX_SEED
from ctxbench.datagen.vocab import SEVERITY_MIXES
from ctxbench.db import control, partitions
from ctxbench.db.connect import check_server, one_row, scalar
from ctxbench.db.migrate import WORKLOAD_TABLES, migrate
from ctxbench.errors import UsageError

__all__ = ["GENERATOR_VERSION", "DatasetOptions", "LoadSummary", "current_dataset",
           "dataset_checksum", "seed_dataset"]

# 2: embeddings follow a profile ("realistic" by default, calibrated against a real sentence
# embedding model; "hard" = the geometry of version 1), recorded in the dataset's params.
GENERATOR_VERSION = "2"
MIN_SCALE, MAX_SCALE = 1_000, 10_000_000
MIN_MONTHS, MAX_MONTHS = 1, 24
TRACES = "resource_action_traces"

CATALOG = """
CREATE TABLE IF NOT EXISTS ctxbench.datasets (
    singleton   BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    state       TEXT NOT NULL CHECK (state IN ('loading', 'loaded')),
    params      JSONB NOT NULL,
    checksum    TEXT,
    summary     JSONB,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
"""


@dataclass(frozen=True)
class DatasetOptions:
    """What identifies a dataset. Invalid values raise UsageError naming value and range."""

    scale: int
    seed: int = 42
    anchor: date | None = None
    months: int = 3
    severities: str = "documented"
    default_partition: bool = False
    embedding_profile: str = DEFAULT_PROFILE

    def __post_init__(self) -> None:
        check_profile(self.embedding_profile)
        if isinstance(self.scale, bool) or not isinstance(self.scale, int) \
                or not MIN_SCALE <= self.scale <= MAX_SCALE:
            raise UsageError(f"scale {self.scale!r} is not allowed: the number of traces must be "
                             f"an integer from {MIN_SCALE:,} to {MAX_SCALE:,}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) \
                or not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"seed {self.seed!r} is not allowed: use an integer from 0 to "
                             f"{MAX_SEED}")
        if isinstance(self.months, bool) or not isinstance(self.months, int) \
                or not MIN_MONTHS <= self.months <= MAX_MONTHS:
            raise UsageError(f"months {self.months!r} is not allowed: the time range is "
                             f"{MIN_MONTHS} to {MAX_MONTHS} months")
        if self.severities not in SEVERITY_MIXES:
            raise UsageError(f"severities {self.severities!r} is not allowed; allowed: "
                             f"{', '.join(SEVERITY_MIXES)}")
        if self.anchor is not None:
            if isinstance(self.anchor, datetime) or not isinstance(self.anchor, date):
                raise UsageError(f"anchor {self.anchor!r} is not allowed: give a date "
                                 "(YYYY-MM-DD, the UTC midnight the data ends at)")
            if not 2001 <= self.anchor.year <= 2199:
                raise UsageError(f"anchor {self.anchor.isoformat()} is not allowed: use a date "
                                 "between 2001-01-01 and 2199-12-31")

    def anchor_date(self) -> date:
        """The anchor, today (UTC) if it was left open."""
        return self.anchor if self.anchor is not None else datetime.now(UTC).date()

    def resolved(self) -> DatasetOptions:
        """The options with the anchor filled in (today, UTC) if it was left open."""
        if self.anchor is not None:
            return self
        return replace(self, anchor=self.anchor_date())

    def params(self) -> dict[str, Any]:
        """Canonical, JSON-able identity of the dataset (anchor resolved)."""
        r = self.resolved()
        return {"generator_version": GENERATOR_VERSION, "scale": r.scale, "seed": r.seed,
                "anchor": r.anchor_date().isoformat(), "months": r.months,
                "severities": r.severities, "default_partition": r.default_partition,
                "embedding_profile": r.embedding_profile}

    def world(self) -> World:
        r = self.resolved()
        return World(r.scale, r.seed, r.anchor, r.months, r.severities, r.embedding_profile)


@dataclass
class LoadSummary:
    """What a load did and how long each step took."""

    params: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)
    load_seconds: dict[str, float] = field(default_factory=dict)
    builds: list[dict[str, Any]] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    time_range: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    index_sizes: dict[str, int] = field(default_factory=dict)
    analyze_seconds: float | None = None
    statistics: str = ""
    checksum: str = ""
    checksum_seconds: float = 0.0
    total_seconds: float = 0.0
    server: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> dict[str, float]:
        return {t: round(self.rows[t] / s, 1) for t, s in self.load_seconds.items() if s > 0}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["schema_version"] = 1
        out["rows_per_second"] = self.rows_per_second
        return out


def _ensure_catalog(conn: psycopg.Connection) -> None:
    conn.execute(CATALOG)


def current_dataset(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The recorded dataset: {"params", "checksum", "summary", "state"}, or None."""
    if scalar(conn, "SELECT to_regclass('ctxbench.datasets')") is None:
        return None
    row = conn.execute("SELECT params, checksum, summary, state FROM ctxbench.datasets").fetchone()
    if row is None:
        return None
    return {"params": row[0], "checksum": row[1], "summary": row[2], "state": row[3]}


def _occupied(conn: psycopg.Connection) -> str | None:
    """Why the target is not empty, or None."""
    existing = current_dataset(conn)
    if existing is not None:
        p = existing["params"]
        what = "an interrupted load of" if existing["state"] == "loading" else "a dataset:"
        return (f"{what} scale={p.get('scale')} seed={p.get('seed')} anchor={p.get('anchor')} "
                f"months={p.get('months')}")
    for table in WORKLOAD_TABLES:
        q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        if scalar(conn, q):
            return f"rows in {table} that no ctxbench load recorded"
    return None


def _refuse_dependents(conn: psycopg.Connection) -> None:
    """Never empty the workload's tables under a table someone else made to reference them."""
    row = conn.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname "
        "FROM pg_constraint c WHERE c.contype = 'f' "
        "AND c.confrelid = ANY (SELECT to_regclass(t)::oid FROM unnest(%s::text[]) t) "
        "AND c.conrelid <> ALL (SELECT to_regclass(t)::oid FROM unnest(%s::text[]) t) "
        "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.conrelid)",
        (list(WORKLOAD_TABLES), list(WORKLOAD_TABLES))).fetchone()
    if row is not None:
        raise UsageError(f"table {row[0]} references {row[1]} (constraint {row[2]}): ctxbench will "
                         "not empty tables another table depends on; drop that constraint, or load "
                         "into another database (--database NAME)")


def _sizes(conn: psycopg.Connection) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Bytes per table (heap + TOAST, summed over partitions) and per index (over partitions)."""
    tree = ("(SELECT relid FROM pg_partition_tree({0}) UNION SELECT {0})")
    sizes = {}
    for t in WORKLOAD_TABLES:
        table_bytes, index_bytes = one_row(
            conn, "SELECT coalesce(sum(pg_table_size(relid)), 0), coalesce(sum(pg_indexes_size(relid)), 0) "
            f"FROM {tree.format('%(t)s::regclass')} s", {"t": t})
        sizes[t] = {"table_bytes": int(table_bytes), "index_bytes": int(index_bytes),
                    "total_bytes": int(table_bytes + index_bytes)}
    rows = conn.execute(
        "SELECT ic.relname, (SELECT coalesce(sum(pg_relation_size(relid)), 0) "
        f"                    FROM {tree.format('ic.oid')} s) "
        "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
        "ORDER BY 1", (list(WORKLOAD_TABLES),)).fetchall()
    return sizes, {name: int(size) for name, size in rows}


def _vacuum_analyze(conn: psycopg.Connection, plain_tables: list[str], workers: int) -> None:
    """VACUUM (ANALYZE) every table; partitions in parallel, then the parent's own statistics.

    ``ANALYZE ONLY`` (PostgreSQL 18) collects the partitioned parent's inherited statistics
    without analysing every partition a second time; older servers get the plain recursive
    VACUUM (ANALYZE) of the parent, one table after the other.
    """
    def vacuum(table: str):
        return lambda c: c.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))

    if conn.info.server_version < 180000:
        run_tasks(conn, [vacuum(t) for t in WORKLOAD_TABLES], 1)
        return
    run_tasks(conn, [vacuum(t) for t in plain_tables], workers)
    conn.execute(sql.SQL("ANALYZE ONLY {}").format(sql.Identifier(TRACES)))


def seed_dataset(conn: psycopg.Connection, options: DatasetOptions, *, replace: bool = False,
                 analyze: bool = True, progress: ProgressSink | None = None,
                 workers: int = DEFAULT_WORKERS) -> LoadSummary:
    """Load the dataset ``options`` describe into the database behind ``conn`` (autocommit).

    ``workers`` connections share the COPY, VACUUM ANALYZE and checksum steps; the data does
    not depend on it.
    """
    t_start = time.perf_counter()
    progress = progress or NoProgress()
    options = options.resolved()
    summary = LoadSummary(params=options.params())
    summary.server = check_server(conn)
    migrate(conn, where=f"database {conn.info.dbname!r}")
    _ensure_catalog(conn)

    reason = _occupied(conn)
    if reason is not None and not replace:
        raise UsageError(f"database {conn.info.dbname!r} already holds {reason}; pass --replace "
                         "(replace=True) to drop it and load the new dataset")
    _refuse_dependents(conn)
    world = options.world()
    tl = world.timeline
    summary.time_range = {"start": tl.start.isoformat(), "end": tl.end.isoformat()}

    with conn.transaction():
        conn.execute("TRUNCATE resource_action_traces, action_histories, resource_references")
        partitions.drop_all(conn)
        conn.execute("DELETE FROM ctxbench.datasets")
        conn.execute("INSERT INTO ctxbench.datasets (state, params) VALUES ('loading', %s)",
                     (Jsonb(summary.params),))
    ddl.defer_all(conn)
    partitions.ensure_monthly(conn, tl.start, tl.end - timedelta(microseconds=1),
                              default_partition=options.default_partition)
    summary.partitions = partitions.list_partitions(conn)
    plain_tables = ["resource_references", "action_histories", *summary.partitions]
    control.switch_autovacuum(conn, plain_tables, enabled=False)

    stats = HistoryStats(world.n_resources)
    step = f"COPY {TRACES}"
    progress.begin(step, world.n_traces)
    rows, seconds = copy_traces(conn, world, stats, lambda n: progress.advance(step, n),
                                workers=workers)
    progress.end(step)
    if rows != world.n_traces:  # a loader bug, never a user error
        raise RuntimeError(f"loaded {rows} traces instead of {world.n_traces}")
    summary.rows[TRACES], summary.load_seconds[TRACES] = rows, round(seconds, 3)

    for table, columns, encode in (
        ("action_histories", parents.HISTORY_COLUMNS, parents.history_rows),
        ("resource_references", parents.RESOURCE_COLUMNS, parents.resource_rows),
    ):
        step = f"COPY {table}"
        progress.begin(step, world.n_resources)
        t0 = time.perf_counter()
        data = encode(world, stats)
        statement = copy_statement(table, columns)
        summary.rows[table] = copy_rows(conn, statement, [(world.n_resources, data)],
                                        functools.partial(progress.advance, step))
        summary.load_seconds[table] = round(time.perf_counter() - t0, 3)
        progress.end(step)

    def started(item: ddl.Deferred) -> None:
        progress.begin(f"build {item.name}", None)

    def finished(item: ddl.Deferred, secs: float) -> None:
        progress.end(f"build {item.name}")
        summary.builds.append({"name": item.name, "kind": item.kind, "table": item.table,
                               "seconds": round(secs, 3)})

    ddl.rebuild(conn, on_done=finished, on_start=started)
    for table in WORKLOAD_TABLES:
        conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                     (table, max(summary.rows[table], 1)))

    if analyze:
        progress.begin("VACUUM ANALYZE", None)
        t0 = time.perf_counter()
        _vacuum_analyze(conn, plain_tables, workers)
        summary.analyze_seconds = round(time.perf_counter() - t0, 3)
        summary.statistics = "analyzed"
        control.switch_autovacuum(conn, plain_tables, enabled=True)
        progress.end("VACUUM ANALYZE")
    else:
        summary.statistics = control.drop_planner_statistics(conn, [*plain_tables, TRACES])[0]

    progress.begin("checksum", None)
    t0 = time.perf_counter()
    summary.checksum = dataset_checksum(conn, lambda tasks: run_tasks(conn, tasks, workers))
    summary.checksum_seconds = round(time.perf_counter() - t0, 3)
    progress.end("checksum")

    summary.sizes, summary.index_sizes = _sizes(conn)
    summary.total_seconds = round(time.perf_counter() - t_start, 3)
    conn.execute("UPDATE ctxbench.datasets SET state = 'loaded', checksum = %s, summary = %s, "
                 "finished_at = now()", (summary.checksum, Jsonb(summary.to_json())))
    return summary

