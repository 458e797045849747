"""Streaming generated rows into PostgreSQL with binary COPY.

A producer thread generates and encodes chunks while the sending thread writes the previous
ones (numpy work and socket waits release the GIL). Server-side parsing, TOASTing and WAL
are the bottleneck, so by default two connections load disjoint sets of month partitions
at once, one per core.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg

from ctxbench.datagen import pgbinary as pb
from ctxbench.datagen.encode import encode_chunk, traces_copy_statement
from ctxbench.datagen.model import HistoryStats, World
from ctxbench.datagen.parallel import connect_like

QUEUE_DEPTH = 4
SKIP_MARGIN_US = 3_600_000_000
DEFAULT_WORKERS = 2  # one COPY per core of the 2-core machines ctxbench targets


def encoded_chunks(world: World, chunks: Iterable[int], stats: HistoryStats | None = None,
                   time_range: tuple[int, int] | None = None) -> Iterator[tuple[int, bytes]]:
    """(row count, COPY rows) per chunk, in the given order; accumulates ``stats`` if given.

    With ``time_range`` = [lo, hi) µs, only chunks overlapping it are generated and only
    their rows inside it are emitted.
    """
    for k in chunks:
        if time_range is not None:
            # skip chunks that surely miss the range (bounds are computed, so keep a margin)
            first, last = world.chunk_time_bounds(k)
            if last < time_range[0] - SKIP_MARGIN_US or first >= time_range[1] + SKIP_MARGIN_US:
                continue
        c = world.chunk(k)
        if time_range is not None:
            inside = (c.ts >= time_range[0]) & (c.ts < time_range[1])
            if not inside.all():
                c = c.subset(inside)
            if len(c) == 0:
                continue
        if stats is not None:
            stats.add(c.history, c.ts)
        yield len(c), encode_chunk(world, c)


def _threaded(source: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """Run ``source`` in a producer thread, a few chunks ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="ctxbench-datagen", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)


def copy_rows(conn: psycopg.Connection, statement: str, blocks: Iterable[tuple[int, bytes]],
              on_rows: Callable[[int], None] | None = None) -> int:
    """Send a complete binary COPY (signature, blocks, trailer); return the rows sent."""
    rows = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(pb.SIGNATURE)
        for n, data in blocks:
            copy.write(data)
            rows += n
            if on_rows:
                on_rows(n)
        copy.write(pb.TRAILER)
    return rows


def copy_traces(conn: psycopg.Connection, world: World, stats: HistoryStats | None = None,
                on_rows: Callable[[int], None] | None = None, *, workers: int = DEFAULT_WORKERS,
                threaded: bool = True, table: str = "resource_action_traces") -> tuple[int, float]:
    """Load every trace of ``world``; returns (rows, seconds).

    With ``workers`` > 1 the time range is split at month boundaries and each part is loaded
    by its own connection (and producer thread), so the server parses rows on several cores
    while each partition is still written in id order by a single connection.
    """
    t0 = time.perf_counter()
    statement = traces_copy_statement(table)
    ranges = world.month_split(workers) if workers > 1 else []
    if len(ranges) <= 1:
        source = encoded_chunks(world, range(world.n_chunks), stats)
        rows = copy_rows(conn, statement, _threaded(source) if threaded else source, on_rows)
        return rows, time.perf_counter() - t0

    conns = [conn] + [connect_like(conn) for _ in ranges[1:]]

    def load(c: psycopg.Connection, time_range: tuple[int, int]) -> int:
        source = encoded_chunks(world, range(world.n_chunks), stats, time_range)
        try:
            return copy_rows(c, statement, _threaded(source), on_rows)
        except BaseException:
            for other in conns:  # abort the sibling COPYs instead of waiting for them
                if other is not c:
                    other.cancel_safe()
            raise

    try:
        with ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="ctxbench-copy") as pool:
            futures = [pool.submit(load, c, r) for c, r in zip(conns, ranges, strict=True)]
            results = [f.result() for f in futures]
    finally:
        for c in conns[1:]:
            c.close()
    return sum(results), time.perf_counter() - t0
