"""Running independent database tasks on several connections to one database at once.

The server does the work (COPY parsing, hashing, ANALYZE sampling) and is single-threaded per
connection, so a 2-core machine finishes such steps faster with two connections.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

Task = Callable[[psycopg.Connection], Any]


def connect_like(conn: psycopg.Connection) -> psycopg.Connection:
    """Another autocommit connection to the same database as ``conn``."""
    dsn = make_conninfo(conn.info.dsn, password=conn.info.password or None)
    return psycopg.connect(dsn, autocommit=True)


def run_tasks(conn: psycopg.Connection, tasks: Sequence[Task], workers: int) -> list[Any]:
    """Results of ``tasks`` in order, run on ``conn`` plus up to ``workers - 1`` more connections.

    The first failure is re-raised after the running tasks finish; queued tasks are skipped.
    """
    n = min(workers, len(tasks))
    if n <= 1:
        return [task(conn) for task in tasks]
    todo: queue.Queue = queue.Queue()
    for item in enumerate(tasks):
        todo.put(item)
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []

    def work(c: psycopg.Connection) -> None:
        while not errors:
            try:
                i, task = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = task(c)
            except BaseException as exc:
                errors.append(exc)

    extra = [connect_like(conn) for _ in range(n - 1)]
    try:
        threads = [threading.Thread(target=work, args=(c,), name=f"ctxbench-db-{k}")
                   for k, c in enumerate(extra, start=1)]
        for t in threads:
            t.start()
        work(conn)
        for t in threads:
            t.join()
    finally:
        for c in extra:
            c.close()
    if errors:
        raise errors[0]
    return results
