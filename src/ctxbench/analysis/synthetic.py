"""Synthetic results folders with known answers, for tests and for trying the reports.

Latencies are drawn from seeded distributions whose percentiles are known, and plans are
small hand-built EXPLAIN JSON trees, so analysis and rendering can be checked without a
database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ctxbench.results.model import Measurement, PhaseRecord, RunMeta
from ctxbench.results.store import ResultsDir

Node = dict[str, Any]


def plan_node(node_type: str, children: Iterable[Node] = (), *, relation: str | None = None,
              index: str | None = None, rows: float = 100, actual: float | None = None,
              ms: float = 1.0, hit: int = 10, read: int = 0, cost: float = 10.0,
              **extra: Any) -> Node:
    """One EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) node; buffers are summed up the tree the way
    PostgreSQL reports them (a parent includes its children)."""
    kids = list(children)
    node: Node = {"Node Type": node_type, "Startup Cost": 0.0, "Total Cost": cost,
                  "Plan Rows": rows, "Plan Width": 40, "Actual Startup Time": 0.01,
                  "Actual Total Time": ms, "Actual Rows": rows if actual is None else actual,
                  "Actual Loops": 1,
                  "Shared Hit Blocks": hit + sum(k["Shared Hit Blocks"] for k in kids),
                  "Shared Read Blocks": read + sum(k["Shared Read Blocks"] for k in kids),
                  "Shared I/O Read Time": read * 0.06 + sum(k["Shared I/O Read Time"]
                                                           for k in kids)}
    if relation:
        node["Relation Name"] = relation
        node["Alias"] = relation[:3]
    if index:
        node["Index Name"] = index
    node.update(extra)
    if kids:
        node["Plans"] = kids
    return node


# extra EXPLAIN keys of some nodes (typed Any: they go to plan_node's **extra)
_INNER_JOIN: dict[str, Any] = {"Join Type": "Inner"}
_SORT_BY_TIME: dict[str, Any] = {"Sort Key": ["rat.action_timestamp DESC"]}
_BACKWARD: dict[str, Any] = {"Scan Direction": "Backward"}


def explain(root: Node, *, planning_ms: float = 0.3, execution_ms: float | None = None
            ) -> list[dict[str, Any]]:
    return [{"Plan": root, "Planning": {"Shared Hit Blocks": 12, "Shared Read Blocks": 0},
             "Planning Time": planning_ms,
             "Execution Time": root["Actual Total Time"] if execution_ms is None
             else execution_ms,
             "Settings": {"work_mem": "16MB", "jit": "off"}, "Triggers": []}]


def seq_plan(read: int = 0, ms: float = 40.0, cost: float = 900.0) -> list[dict[str, Any]]:
    """Limit → Sort → Hash Join(Seq Scan rat_a + rat_b, Hash(Seq Scan rr))."""
    scans = [plan_node("Seq Scan", relation=f"rat_y2025m{m}", rows=5000, hit=200, read=read,
                       ms=ms / 3, cost=cost / 3) for m in ("09", "10")]
    app = plan_node("Append", scans, rows=10000, ms=ms * 0.7, hit=0)
    inner = plan_node("Hash", [plan_node("Seq Scan", relation="resource_references", rows=50,
                                         hit=5, ms=0.2)], rows=50, hit=0, ms=0.3)
    join = plan_node("Hash Join", [app, inner], rows=10000, actual=120, ms=ms * 0.9, hit=0,
                     **_INNER_JOIN)
    sort = plan_node("Sort", [join], rows=10000, actual=120, ms=ms, hit=0,
                     **_SORT_BY_TIME)
    return explain(plan_node("Limit", [sort], rows=10, ms=ms, hit=0, cost=cost))


def index_plan(read: int = 0, ms: float = 2.0, cost: float = 40.0) -> list[dict[str, Any]]:
    """Limit → Nested Loop(Index Scan on the partitions, Index Scan rr_pkey)."""
    scans = [plan_node("Index Scan", relation=f"rat_y2025m{m}",
                       index=f"rat_y2025m{m}_history_ts_idx", rows=60, hit=30, read=read,
                       ms=ms / 3, cost=cost / 3, **_BACKWARD)
             for m in ("09", "10")]
    app = plan_node("Append", scans, rows=120, ms=ms * 0.6, hit=0)
    probe = plan_node("Index Scan", relation="resource_references", index="rr_pkey", rows=1,
                      hit=3, ms=0.01)
    join = plan_node("Nested Loop", [app, probe], rows=120, ms=ms * 0.9, hit=0,
                     **_INNER_JOIN)
    return explain(plan_node("Limit", [join], rows=10, ms=ms, hit=0, cost=cost))


Sampler = Callable[[np.random.Generator, int], np.ndarray]


def uniform_ms(lo: float, hi: float) -> Sampler:
    return lambda rng, n: rng.uniform(lo, hi, n)


def lognormal_ms(median: float, sigma: float = 0.25) -> Sampler:
    return lambda rng, n: median * np.exp(rng.normal(0.0, sigma, n))


def write_run(path: Path | str, *, run_id: str = "synthetic", scenario: str = "synthetic",
              groups: dict[tuple[str, str, str], tuple[Sampler, int]]
              | None = None,
              labels: dict[tuple[str, str, str], dict[str, str]] | None = None,
              budgets: list[dict[str, Any]] | None = None,
              plans: dict[tuple[str, str, str], list[dict[str, Any]]] | None = None,
              status: str = "complete", seed: int = 1, rows: int = 10,
              errors: dict[tuple[str, str, str], int] | None = None,
              warmup: int = 3, meta_overrides: dict[str, Any] | None = None) -> ResultsDir:
    """A results folder with one group per (phase, query, variant) key drawn from its sampler.

    ``labels`` adds labels to a key's measurements, ``errors`` adds that many failed
    executions, ``warmup`` warm-up executions are written first (and must be ignored).
    """
    rng = np.random.default_rng(seed)
    rd = ResultsDir(path).create()
    meta = RunMeta(run_id=run_id, kind="run", scenario_name=scenario,
                   scenario_text=f'name = "{scenario}"\n', started_at="2025-11-01T00:00:00+00:00",
                   ended_at="2025-11-01T00:10:00+00:00", status=status,
                   error=None if status == "complete" else "server went away in phase warm",
                   ctxbench_version="0.1.0", git_sha="0" * 40, backend="embedded",
                   target="host=127.0.0.1 port=5 user=postgres dbname=ctxbench",
                   server={"server_version": "18.6", "extensions": {"vector": "0.8.6"},
                           "settings": {"shared_buffers": "1GB", "jit": "off"}},
                   dataset={"scale": 5000, "seed": 7, "checksum": "abc123",
                            "anchor": "2025-11-01"},
                   machine={"cores": 2, "memory_gb": 24, "os": "Linux"},
                   budgets=list(budgets or []))
    for key, value in (meta_overrides or {}).items():
        setattr(meta, key, value)
    rd.write_meta(meta)
    phases_seen: list[str] = []
    for (phase, query, variant), (sampler, n) in (groups or {}).items():
        extra = (labels or {}).get((phase, query, variant), {})
        if phase not in phases_seen:
            phases_seen.append(phase)
        for i in range(warmup):
            rd.append_measurement(Measurement(run_id, phase, query, variant, f"w{i}", i,
                                              latency_ns=10**9, rows=rows, warmup=True,
                                              ts="2025-11-01T00:00:01+00:00",
                                              labels=dict(extra)))
        values = sampler(rng, n)
        for i, ms in enumerate(values):
            rd.append_measurement(Measurement(run_id, phase, query, variant, f"p{i}",
                                              i + 1, latency_ns=round(ms * 1e6),
                                              rows=rows, ts="2025-11-01T00:00:02+00:00",
                                              labels=dict(extra)))
        for i in range((errors or {}).get((phase, query, variant), 0)):
            rd.append_measurement(Measurement(run_id, phase, query, variant, f"e{i}", n + i + 1,
                                              latency_ns=0, rows=0, ok=False,
                                              error="canceling statement due to timeout",
                                              ts="2025-11-01T00:00:03+00:00",
                                              labels=dict(extra)))
    rd.close()
    for phase in phases_seen:
        rd.append_phase(PhaseRecord(run_id, phase, "2025-11-01T00:00:00+00:00",
                                    "2025-11-01T00:01:00+00:00", status="complete",
                                    cache_reset="restart+drop_caches" if "cold" in phase
                                    else None,
                                    stats_state="no_stats" if phase == "before_analyze"
                                    else "analyzed"))
    for (phase, query, variant), raw in (plans or {}).items():
        from ctxbench.results.explain import summarize_plan

        rd.write_plan(phase, query, variant, {"param_id": "p0", "params": {"limit": 10},
                                              "plan": raw, "summary": summarize_plan(raw)})
    return rd
