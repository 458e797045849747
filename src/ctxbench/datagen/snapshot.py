"""Seeded datasets that are cheap to get back: snapshots as template databases.

A snapshot is a copy of a seeded database, made inside the same cluster with
``CREATE DATABASE snap TEMPLATE db STRATEGY FILE_COPY`` (a checkpoint, then a file copy of the
database's directory: heap, TOAST and every index, HNSW included, so nothing is rebuilt). Restoring
is the same copy the other way round, then the dataset checksum is recomputed in the restored
database and compared with the one recorded at seeding; a mismatch drops the copy and fails.
``bench/snapshot_mechanisms.py`` measured this against a file-level copy of a stopped cluster and
``pg_dump -Fd -j 2`` / ``pg_restore -j 2`` (which rebuilds every index, the HNSW build included):
see the README. Across machines (the nightly job) the whole stopped cluster is cached as files.

Identity: a snapshot is keyed by everything that defines the dataset — the generator's
parameters (``DatasetOptions.params()``: scale, seed, anchor, months, severities, default
partition, generator version, and any option the generator adds there) plus the schema (each
migration's and schema variant's sha256). Snapshot databases are named ``ctxbench_snap_<key>``,
carry the comment ``ctxbench:owned snapshot {json}``, refuse connections and are templates, so
nothing writes into them. Restoring replaces only a database ctxbench created (its
``ctxbench:owned`` comment), never another one.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ctxbench import __version__
from ctxbench.datagen.checksum import dataset_checksum
from ctxbench.datagen.generator import current_dataset
from ctxbench.datagen.loader import DEFAULT_WORKERS
from ctxbench.datagen.parallel import run_tasks
from ctxbench.db.connect import scalar
from ctxbench.db.migrate import available_variants, discover
from ctxbench.db.target import OWNER_COMMENT, Target, database_exists, database_owned
from ctxbench.errors import InfraError, NotOwnedError, UsageError

PREFIX = "ctxbench_snap_"
MARK = f"{OWNER_COMMENT} snapshot "
KEY_VERSION = 1


def schema_identity(variants: list[str]) -> dict[str, str]:
    """sha256 of every migration and of each wanted schema variant's file."""
    known = available_variants()
    unknown = sorted(set(variants) - set(known))
    if unknown:
        raise UsageError(f"unknown schema variant(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(known))}")
    ident = {m.version: m.sha256 for m in discover()}
    for name in sorted(set(variants)):
        ident[f"variant:{name}"] = hashlib.sha256(known[name].read_bytes()).hexdigest()
    return ident


def dataset_key(params: dict[str, Any], variants: list[str]) -> str:
    """16 hex digits naming a dataset: generator parameters + schema (see module docstring)."""
    canon = json.dumps({"v": KEY_VERSION, "params": params, "schema": schema_identity(variants)},
                       sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


@dataclass
class Snapshot:
    name: str
    key: str
    params: dict[str, Any]
    schema_variants: list[str]
    checksum: str
    saved_at: str
    save_seconds: float
    size_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "params": self.params,
                "schema_variants": self.schema_variants, "checksum": self.checksum,
                "saved_at": self.saved_at, "save_seconds": self.save_seconds,
                "size_bytes": self.size_bytes}


def _admin(target: Target) -> psycopg.Connection:
    if target.kind == "dsn":
        raise UsageError("snapshots are made on a server ctxbench runs (--backend embedded or "
                         "testcontainers): with --dsn ctxbench creates no database")
    return target.admin_connect()


def list_snapshots(target: Target) -> list[Snapshot]:
    with _admin(target) as conn:
        return _list(conn)


def _list(conn: psycopg.Connection) -> list[Snapshot]:
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
        "FROM pg_database WHERE datname LIKE %s ORDER BY datname", (PREFIX + "%",)).fetchall()
    out = []
    for name, comment, size in rows:
        if not comment or not comment.startswith(MARK):
            continue  # a database of that name ctxbench did not make: not a snapshot of ours
        try:
            info = json.loads(comment[len(MARK):])
        except json.JSONDecodeError:
            continue
        out.append(Snapshot(name, info["key"], info["params"], info["schema_variants"],
                            info["checksum"], info["saved_at"], info["save_seconds"], int(size)))
    return out


def find(target: Target, key: str) -> Snapshot | None:
    return next((s for s in list_snapshots(target) if s.key == key), None)


def _source_free(conn: psycopg.Connection, db: str, wait_s: float = 10.0) -> None:
    """FILE_COPY needs the template without connections: wait a little for ours to close."""
    deadline = time.monotonic() + wait_s
    while True:
        n = scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,))
        if n == 0:
            return
        if time.monotonic() > deadline:
            raise InfraError(f"database {db!r} has {n} open connection(s); a snapshot copies it "
                             "only when nothing is connected")
        time.sleep(0.2)


def save(target: Target, *, replace: bool = False) -> tuple[Snapshot, bool]:
    """Snapshot the target's seeded dataset. Returns (snapshot, made now?): an existing snapshot
    with the same key is kept unless ``replace``."""
    with _admin(target) as admin:
        if not database_owned(admin, target.database):
            raise NotOwnedError(f"database {target.database!r} was not created by ctxbench; it is "
                                "not copied")
    with target.connect() as conn:
        dataset = current_dataset(conn)
        if not dataset or dataset.get("state") != "loaded" or not dataset.get("checksum"):
            raise UsageError(f"database {target.database!r} holds no complete dataset to snapshot "
                             "(run `ctxbench seed` first)")
        from ctxbench.db.migrate import applied_variants

        variants = applied_variants(conn)
    key = dataset_key(dataset["params"], variants)
    name = PREFIX + key
    with _admin(target) as admin:
        existing = next((s for s in _list(admin) if s.key == key), None)
        if existing and not replace:
            return existing, False
        if existing:
            _drop(admin, existing.name)
        elif database_exists(admin, name):
            raise NotOwnedError(f"database {name!r} exists but is not a ctxbench snapshot; it was "
                                "left untouched")
        _source_free(admin, target.database)
        t0 = time.perf_counter()
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(target.database)))
        seconds = time.perf_counter() - t0
        snap = Snapshot(name, key, dataset["params"], variants, dataset["checksum"],
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), round(seconds, 3))
        info = {k: v for k, v in snap.to_json().items() if k not in ("name", "size_bytes")}
        info["ctxbench_version"] = __version__
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(MARK + json.dumps(info, sort_keys=True))))
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
                      .format(sql.Identifier(name)))
        snap.size_bytes = int(scalar(admin, "SELECT pg_database_size(%s)", (name,)))
    return snap, True


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name)))
    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def drop(target: Target, key: str) -> bool:
    with _admin(target) as admin:
        snap = next((s for s in _list(admin) if s.key == key), None)
        if snap is None:
            return False
        _drop(admin, snap.name)
        return True


def restore(target: Target, key: str, *, verify: bool = True) -> dict[str, Any]:
    """Replace the target database (only one ctxbench created, or none) by a copy of the
    snapshot ``key``; then recompute the dataset checksum and compare. Returns timings."""
    with _admin(target) as admin:
        snap = next((s for s in _list(admin) if s.key == key), None)
        if snap is None:
            raise UsageError(f"no snapshot with key {key!r} on this server "
                             "(`ctxbench snapshot list` shows them)")
        if target.database.startswith(PREFIX):
            raise UsageError(f"{target.database!r} is a snapshot's name; restore into another "
                             "database")
        if database_exists(admin, target.database):
            if not database_owned(admin, target.database):
                raise NotOwnedError(f"database {target.database!r} was not created by ctxbench; "
                                    "it was left untouched (restore into another database)")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                sql.Identifier(target.database)))
        t0 = time.perf_counter()
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(target.database), sql.Identifier(snap.name)))
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(target.database), sql.Literal(f"{OWNER_COMMENT} {__version__}")))
        copy_s = time.perf_counter() - t0
    out: dict[str, Any] = {"key": key, "snapshot": snap.name, "copy_seconds": round(copy_s, 3),
                           "checksum": snap.checksum, "size_bytes": snap.size_bytes}
    if verify:
        t1 = time.perf_counter()
        with target.connect() as conn:  # the seed's way: buckets over DEFAULT_WORKERS connections
            found = dataset_checksum(conn, lambda tasks: run_tasks(conn, tasks, DEFAULT_WORKERS))
        out["verify_seconds"] = round(time.perf_counter() - t1, 3)
        if found != snap.checksum:
            with _admin(target) as admin:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                    sql.Identifier(target.database)))
            raise InfraError(f"snapshot {snap.name}: the restored data has checksum {found}, "
                             f"not {snap.checksum} as recorded; the copy was dropped")
        out["verified"] = True
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out
