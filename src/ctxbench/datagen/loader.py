"""Streaming generated rows into PostgreSQL with binary COPY.

A producer thread generates and encodes chunks while the calling thread sends the previous
ones: numpy work and socket waits release the GIL, so generation overlaps with the server
parsing rows on the other core.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import psycopg

from ctxbench.datagen import pgbinary as pb
from ctxbench.datagen.encode import copy_statement, encode_chunk
from ctxbench.datagen.model import HistoryStats, World

QUEUE_DEPTH = 4


def encoded_chunks(world: World, chunks: Iterable[int],
                   stats: HistoryStats | None = None) -> Iterator[tuple[int, bytes]]:
    """(row count, COPY rows) per chunk, in the given order; accumulates ``stats`` if given."""
    for k in chunks:
        c = world.chunk(k)
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
                on_rows: Callable[[int], None] | None = None, *, threaded: bool = True,
                table: str = "resource_action_traces") -> tuple[int, float]:
    """Load every trace of ``world``; returns (rows, seconds)."""
    t0 = time.perf_counter()
    source = encoded_chunks(world, range(world.n_chunks), stats)
    blocks = _threaded(source) if threaded else source
    rows = copy_rows(conn, copy_statement(table), blocks, on_rows)
    return rows, time.perf_counter() - t0
