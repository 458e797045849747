"""Cold reset: server restart vs ``pg_buffercache_evict_all()``, side by side.

Both make "cold" the way a cold phase does — empty shared buffers, OS page cache dropped
(where permitted), then a new connection — and this script checks that they give the same
cold behaviour before the cheaper one is used: for every query (as shipped) and one fixed
parameter set per query, it alternates the two methods (restart, evict, evict, restart, ...)
and records, after each reset, the first execution's latency (timed exactly as the runner
times it) and, after a second reset of the same kind, the shared blocks read by the first
``EXPLAIN (ANALYZE, BUFFERS)``. It prints, per query and method, the median latency, the
median shared reads and the median reset time, and the ratios evict / restart.

    CTXBENCH_HOME=/var/lib/ctxbench-me python bench/cold_reset.py --rounds 4

It needs the embedded server (a restart) and uses the smoke scenario's dataset
(``ctxbench seed --scenario smoke`` first, or any ``--scenario``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ctxbench.db import control
from ctxbench.measure.executor import ConnectionSpec
from ctxbench.measure.phases import SilentProgress
from ctxbench.queries import ParamSampler, catalog
from ctxbench.results import ResultsDir, RunMeta
from ctxbench.results.explain import summarize_plan
from ctxbench.runs import session
from ctxbench.scenario import find as find_scenario

METHODS = ("restart", "evict")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="smoke")
    ap.add_argument("--rounds", type=int, default=4, help="resets per method and query")
    ap.add_argument("--queries", default="*", help="comma-separated names (default: all)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)

    scenario = find_scenario(args.scenario)
    results = ResultsDir(Path(tempfile.mkdtemp(prefix="ctxbench-cold-reset-")) / "run").create()
    meta = RunMeta(run_id="cold-reset", kind="bench", scenario_name=scenario.name,
                   scenario_text=scenario.text, started_at="")
    target = session.open_scenario_target(scenario, meta, dsn=None, home=None)
    if not target.can_restart:
        print("needs a server ctxbench can restart (embedded)", file=sys.stderr)
        return 3
    _, _, profile = session.prepare_data(target, scenario, results, meta, SilentProgress())
    sampler = ParamSampler(profile, scenario.sampler_seed)
    spec = ConnectionSpec(target.dsn, None, scenario.database.statement_timeout_ms)
    names = list(catalog) if args.queries == "*" else args.queries.split(",")
    raw: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in names:
        query = catalog[name]
        ps = sampler.sample(name, 1, stream="plan")[0]
        per = raw.setdefault(name, {m: {"latency_ms": [], "shared_read": [], "reset_s": [],
                                        "how": []} for m in METHODS})
        for r in range(args.rounds):
            order = METHODS if r % 2 == 0 else METHODS[::-1]
            for method in order:
                outcome = control.reset_caches(target, method)
                per[method]["reset_s"].append(outcome.seconds)
                per[method]["how"].append(outcome.method)  # type: ignore[arg-type]
                stmt = query.bind(ps.params)
                with spec.open() as conn:
                    t0 = time.perf_counter_ns()
                    stmt.execute(conn)
                    per[method]["latency_ms"].append((time.perf_counter_ns() - t0) / 1e6)
                control.reset_caches(target, method)
                with spec.open() as conn:
                    summary = summarize_plan(query.explain(conn, ps.params))
                per[method]["shared_read"].append(float(summary.get("shared_read") or 0))
    print(f"{'query':24} {'method':8} {'p50 ms':>9} {'reads':>8} {'reset s':>8}   ratio ms, reads")
    for name, per in raw.items():
        med = {m: {k: statistics.median(v) for k, v in per[m].items() if k != "how"}
               for m in METHODS}
        for m in METHODS:
            extra = ""
            if m == "evict":
                r = med["restart"]
                lat = med[m]["latency_ms"] / r["latency_ms"] if r["latency_ms"] else float("nan")
                reads = (med[m]["shared_read"] / r["shared_read"] if r["shared_read"]
                         else float("nan"))
                extra = f"   {lat:.2f}, {reads:.2f}"
            print(f"{name:24} {m:8} {med[m]['latency_ms']:9.1f} {med[m]['shared_read']:8.0f} "
                  f"{med[m]['reset_s']:8.2f}{extra}")
    hows = sorted({h for per in raw.values() for m in METHODS for h in per[m]["how"]})
    print("reset methods:", ", ".join(hows))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
