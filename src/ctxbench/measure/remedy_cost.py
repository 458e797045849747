"""What each remedy costs the Data Storage service: build time, disk, and write throughput.

For each schema state — the shipped schema (baseline), each remedy schema variant alone, and
all of them together — measured side by side in one run, alternating the states round by
round (baseline, A, B, ..., then in reverse order):

- build: seconds and bytes of the relations the variant creates (on this database's data);
- COPY batches: ``COPY resource_action_traces (...) FROM STDIN`` of ``batch_rows`` traces per
  transaction (the bulk path), rows/s;
- single-row INSERTs: ``connections`` connections, each inserting ``single_rows`` traces one
  autocommitted ``INSERT ... VALUES`` at a time (the service's path), total rows/s.

The rows are copies of the newest traces (new ids from the sequence, action_id suffixed), so
they land in the newest partition as live writes do; they are deleted after each state's
measurement (untimed). Throughput is relative: the ratio to the baseline in the same run is
the figure to read, and the machine's load average is recorded with it.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ctxbench.datagen.pgbinary import copy_statement
from ctxbench.db import migrate as mig
from ctxbench.db.connect import scalar
from ctxbench.db.target import Target
from ctxbench.errors import UsageError
from ctxbench.measure import schema_stages
from ctxbench.queries import schema_variant_names
from ctxbench.queries.remedies import REMEDIES

MARK = "-rcost-"
COST_FILE = "remedy_cost.json"


def remedy_schema_variants() -> list[str]:
    out: list[str] = []
    for rs in REMEDIES.values():
        for r in rs:
            for name in schema_variant_names(r.schema_variant):
                if name not in out:
                    out.append(name)
    return out


@dataclass
class CostSpec:
    batch_rows: int = 2000
    batches: int = 2
    single_rows: int = 150
    connections: int = 4
    rounds: int = 2
    variants: list[str] = field(default_factory=remedy_schema_variants)


def _columns(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = 'resource_action_traces' AND column_name <> 'id' "
        "ORDER BY ordinal_position").fetchall()]


def _template(conn: psycopg.Connection, cols: list[str], n: int) -> list[tuple]:
    # every value as its text form: COPY (text) and INSERT (untyped literals) take them as is
    rows = conn.execute(f"SELECT {', '.join(c + '::text' for c in cols)} FROM resource_action_traces "
                        f"ORDER BY id DESC LIMIT {int(n)}").fetchall()
    if len(rows) < n:
        raise UsageError(f"remedy cost: the database holds {len(rows)} traces, fewer than the "
                         f"{n} rows a measurement copies; seed a dataset first")
    return rows


def _tagged(rows: list[tuple], action_at: int, tag: str) -> list[tuple]:
    return [(*r[:action_at], f"{r[action_at]}{MARK}{tag}-{i}", *r[action_at + 1:])
            for i, r in enumerate(rows)]


def _copy_rate(target: Target, cols: list[str], rows: list[tuple], batches: int,
               batch_rows: int, action_at: int, tag: str) -> float:
    rates = []
    with target.connect() as conn:
        for b in range(batches):
            data = _tagged(rows[:batch_rows], action_at, f"{tag}c{b}")
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(
                    copy_statement("resource_action_traces", cols, binary=False)) as cp:
                for row in data:
                    cp.write_row(row)
            rates.append(len(data) / (time.perf_counter() - t0))
    return statistics.median(rates)


def _insert_rate(target: Target, cols: list[str], rows: list[tuple], spec: CostSpec,
                 action_at: int, tag: str) -> float:
    sql = (f"INSERT INTO resource_action_traces ({', '.join(cols)}) VALUES "
           f"({', '.join(['%s'] * len(cols))})")
    start = threading.Barrier(spec.connections + 1)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        data = _tagged(rows[k * spec.single_rows:(k + 1) * spec.single_rows], action_at,
                       f"{tag}i{k}")
        try:
            with target.connect() as conn:
                conn.autocommit = True
                conn.execute("SELECT 1")
                start.wait()
                for row in data:
                    conn.execute(sql, row)
        except BaseException as exc:  # reported after the join
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(spec.connections)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return spec.connections * spec.single_rows / elapsed


def _cleanup(target: Target) -> None:
    with target.connect() as conn:
        conn.autocommit = True
        conn.execute(f"DELETE FROM resource_action_traces WHERE action_id LIKE '%{MARK}%'")


def measure_costs(target: Target, spec: CostSpec | None = None, progress=None) -> dict[str, Any]:
    spec = spec or CostSpec()
    known = mig.available_variants()
    unknown = [v for v in spec.variants if v not in known]
    if unknown:
        raise UsageError(f"remedy cost: unknown schema variant(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(known)}")
    states: list[tuple[str, list[str]]] = [("as_shipped", [])]
    states += [(v, [v]) for v in spec.variants]
    if len(spec.variants) > 1:
        states.append(("all remedies", list(spec.variants)))
    with target.connect() as conn:
        cols = _columns(conn)
        rows = _template(conn, cols, max(spec.batch_rows, spec.single_rows * spec.connections))
        traces = scalar(conn, "SELECT count(*) FROM resource_action_traces")
        original = mig.applied_variants(conn)
    action_at = cols.index("action_id")
    builds: dict[str, dict[str, Any]] = {}
    copy: dict[str, list[float]] = {name: [] for name, _ in states}
    insert: dict[str, list[float]] = {name: [] for name, _ in states}
    load = [os.getloadavg()[0]]
    try:
        for rnd in range(spec.rounds):
            order = states if rnd % 2 == 0 else list(reversed(states))
            for name, variants in order:
                if progress:
                    progress(f"round {rnd + 1}/{spec.rounds}: {name}")
                for ev in schema_stages.build(target, [], variants):
                    builds.setdefault(ev["name"], ev)  # each build is timed the first time
                tag = f"r{rnd}{name[:3]}"
                copy[name].append(_copy_rate(target, cols, rows, spec.batches, spec.batch_rows,
                                             action_at, tag))
                insert[name].append(_insert_rate(target, cols, rows, spec, action_at, tag))
                _cleanup(target)
                load.append(os.getloadavg()[0])
    finally:
        _cleanup(target)
        with target.connect() as conn:
            conn.autocommit = True
            mig.set_variants(conn, original)
    base_copy = statistics.median(copy["as_shipped"])
    base_insert = statistics.median(insert["as_shipped"])
    out_states = []
    for name, variants in states:
        c, i = statistics.median(copy[name]), statistics.median(insert[name])
        built = [builds[v] for v in variants if v in builds]
        out_states.append({
            "state": name, "schema_variants": variants,
            "copy_rows_per_s": round(c, 1), "copy_vs_shipped": round(c / base_copy, 3),
            "insert_rows_per_s": round(i, 1), "insert_vs_shipped": round(i / base_insert, 3),
            "copy_rounds": [round(x, 1) for x in copy[name]],
            "insert_rounds": [round(x, 1) for x in insert[name]],
            "build_seconds": round(sum(b["seconds"] for b in built), 3) if built else 0.0,
            "bytes": sum(b["bytes"] for b in built),
        })
    return {"kind": "remedy_cost", "traces": int(traces), "spec": spec.__dict__,
            "states": out_states, "builds": builds,
            "load_average": {"min": min(load), "max": max(load)},
            "method": __doc__.strip().split("\n\n")[1]}
