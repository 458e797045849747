"""Load-rate benchmark: ctxbench's binary COPY loader against a server-side ``COPY FROM`` file.

Both load the same generated resource_action_traces rows into the same table in the same
state, on the same embedded server, in one run, alternating (loader, server, server,
loader, ...) with a TRUNCATE and CHECKPOINT before each load. The loader's time includes
generating and encoding the rows (that is what ``ctxbench seed`` does); the server-side
COPY reads a file of the identical bytes written beforehand.

Table states (``--state``): ``bare`` = as ``ctxbench seed`` loads (indexes, keys and foreign
keys deferred); ``fk`` = the same plus the foreign key to action_histories (parents loaded).

    python bench/load_rate.py --scale 100000

The last line is the ratio loader rows/s ÷ server-side rows/s (medians over the rounds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from ctxbench.datagen import ddl, parents
from ctxbench.datagen import pgbinary as pb
from ctxbench.datagen.encode import COPY_COLUMNS, traces_copy_statement
from ctxbench.datagen.generator import DatasetOptions, _ensure_catalog, _set_autovacuum
from ctxbench.datagen.loader import DEFAULT_WORKERS, copy_rows, copy_traces, encoded_chunks
from ctxbench.datagen.model import HistoryStats
from ctxbench.db import partitions
from ctxbench.db import settings as server_settings
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.migrate import migrate
from ctxbench.db.target import open_target

TRACES = "resource_action_traces"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=100_000, help="traces to load (default 100000)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--anchor", type=date.fromisoformat, default=date(2025, 10, 31))
    p.add_argument("--rounds", type=int, default=3,
                   help="each round loads once by each method (order alternates)")
    p.add_argument("--state", choices=("bare", "fk"), default="bare")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"loader connections (default {DEFAULT_WORKERS}, as ctxbench seed)")
    p.add_argument("--home", type=Path, default=None,
                   help="embedded server folder (default: a temporary one, removed afterwards)")
    return p.parse_args(argv)


def prepare(conn, options: DatasetOptions, state: str, data_file: Path) -> tuple:
    """Schema in the chosen state, partitions, parents if needed, and the rows file."""
    migrate(conn)
    _ensure_catalog(conn)
    conn.execute("TRUNCATE resource_action_traces, action_histories, resource_references")
    partitions.drop_all(conn)
    ddl.defer_all(conn)
    world = options.world()
    tl = world.timeline
    partitions.ensure_monthly(conn, tl.start, tl.end - timedelta(microseconds=1))
    tables = ["resource_references", "action_histories", *partitions.list_partitions(conn)]
    _set_autovacuum(conn, tables, enabled=False)
    stats = HistoryStats(world.n_resources)
    with data_file.open("wb") as fh:
        fh.write(pb.SIGNATURE)
        for _, block in encoded_chunks(world, range(world.n_chunks), stats):
            fh.write(block)
        fh.write(pb.TRAILER)
    data_file.chmod(0o644)
    if state == "fk":
        for table, columns, encode in (
            ("resource_references", parents.RESOURCE_COLUMNS, parents.resource_rows),
            ("action_histories", parents.HISTORY_COLUMNS, parents.history_rows),
        ):
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            copy_rows(conn, statement, [(world.n_resources, encode(world, stats))])
        ddl.rebuild(conn, kinds={"foreign key"})
    return world


def reset(conn) -> None:
    conn.execute(f"TRUNCATE {TRACES}")
    conn.execute("CHECKPOINT")


def load_with_ctxbench(conn, world, workers: int) -> float:
    reset(conn)
    rows, seconds = copy_traces(conn, world, workers=workers)
    assert rows == world.n_traces
    return seconds


def load_server_side(conn, data_file: Path) -> float:
    reset(conn)
    t0 = time.perf_counter()
    conn.execute(f"COPY {TRACES} ({', '.join(COPY_COLUMNS)}) FROM '{data_file}' (FORMAT BINARY)")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = DatasetOptions(scale=args.scale, seed=args.seed, anchor=args.anchor)
    base = "/var/tmp" if os.geteuid() == 0 else None
    home = args.home or Path(tempfile.mkdtemp(prefix="ctxbench-loadrate-", dir=base))
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    server = EmbeddedServer(home, server_settings.merged(None))
    data_file = home / "traces.pgcopy"
    try:
        target = open_target(server, "loadrate")
        with target.connect() as conn:
            conn.execute("SET synchronous_commit = off")
            print(f"server: {home} ({conn.execute('SHOW server_version').fetchone()[0]}), "
                  f"table state: {args.state}, loader connections: {args.workers}", flush=True)
            t0 = time.perf_counter()
            world = prepare(conn, options, args.state, data_file)
            print(f"prepared {args.scale:,} rows ({data_file.stat().st_size / 2**20:.0f} MiB file) "
                  f"in {time.perf_counter() - t0:.1f} s", flush=True)
            print(f"statement: {traces_copy_statement()[:60]}...", flush=True)
            times: dict[str, list[float]] = {"ctxbench": [], "server": []}
            for r in range(args.rounds):
                order = ("ctxbench", "server") if r % 2 == 0 else ("server", "ctxbench")
                for method in order:
                    if method == "ctxbench":
                        secs = load_with_ctxbench(conn, world, args.workers)
                    else:
                        secs = load_server_side(conn, data_file)
                    times[method].append(secs)
                    print(f"round {r + 1} {method:9s} {secs:7.2f} s  "
                          f"{args.scale / secs:10,.0f} rows/s", flush=True)
            reset(conn)
        rate = {m: args.scale / statistics.median(t) for m, t in times.items()}
        print(f"ctxbench loader: {rate['ctxbench']:,.0f} rows/s; server-side COPY FROM file: "
              f"{rate['server']:,.0f} rows/s (medians of {args.rounds})")
        print(f"ratio loader/server-side: {rate['ctxbench'] / rate['server']:.2f}")
    finally:
        data_file.unlink(missing_ok=True)
        if args.home is None:
            server.down()
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
