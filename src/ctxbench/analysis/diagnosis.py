"""Why a check failed, read from the plan captured in the same state, and what fixes it.

For every FAIL or INCONCLUSIVE verdict, ``diagnose_verdicts`` picks the plan that represents
the failure — the group's slowest tail plan (``plans/*__tail-N.json``: the slowest sample's
parameters, captured in the same cache/statistics state) when there is one, else the group's
fixed-parameter plan — and attaches ``diagnosis`` to the verdict row in summary.json:

``diagnosis`` (all keys always present; numbers from that one EXPLAIN ANALYZE)::

    plan           {file, role ('fixed' or 'tail-N'), param_kind, measured_ms, execution_ms}
    causes         [{code, text}]  cause codes of ctxbench.queries.remedies.CAUSES, in words
    io_read_share  share of execution time spent reading blocks (track_io_timing), 0..1
    planning_ms, execution_ms, planning_read_blocks  (cold_planning: planning ≥ execution)
    io_read_ms, shared_read_blocks, shared_hit_blocks, read_mb
    top_nodes      [{node, self_ms, share}]  the 3 nodes with the most exclusive time
    rows_fetched   rows produced by the scans (all relations); rows_returned: by the root
    sorts          [{node, input_rows, method}] sorts over ≥ 10× the rows they emit
    aggregates     [{node, input_rows, output_rows}] aggregates over ≥ 10,000 rows
    partitions     {scanned, with_rows, pruned} for the partitioned traces table (or null)
    misestimates   [text] nodes whose row estimate is off by ≥ 10×
    hnsw           {k, returned} when a vector query returned fewer than k rows (or null)
    remedies       [{variant, what, addresses}] catalog remedies addressing these causes
    text           one paragraph: the causes and the remedy, in words

The shape is deliberately flat so renderers (report sections, exports) can pick keys as
they need; cause codes are stable identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctxbench.analysis.plans import misestimates
from ctxbench.queries.remedies import (
    AGGREGATE_ALL_ROWS,
    CAUSES,
    COLD_PLANNING,
    HNSW_SHORT,
    IO_BOUND,
    MISESTIMATE,
    NO_PRUNING,
    SCAN_ALL_ROWS,
    SORT_ALL_ROWS,
    addressing,
)
from ctxbench.results.summary_types import GroupRef, PlanEntry, VerdictRow

IO_SHARE = 0.5            # I/O-bound when at least half of the time was reading
FETCH_FACTOR = 10.0       # rows fetched ≥ 10× rows returned ...
FETCH_MIN = 10_000        # ... and at least this many
AGG_MIN = 10_000          # aggregates over at least this many rows
PARTITION_PREFIX = "resource_action_traces_"
BLOCK_BYTES = 8192
DIAGNOSED = ("FAIL", "INCONCLUSIVE")


def _children(nodes: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    depth, out = nodes[i]["depth"], []
    for n in nodes[i + 1:]:
        if n["depth"] <= depth:
            break
        if n["depth"] == depth + 1:
            out.append(n)
    return out


def _rows(n: dict[str, Any]) -> float:
    if n.get("actual_rows") is None or n.get("never_executed"):
        return 0.0
    return float(n["actual_rows"]) * max(int(n.get("loops") or 1), 1)


def analyse_plan(summary: dict[str, Any], *, query: str | None = None,
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The findings of one plan summary (``summarize_plan`` output)."""
    nodes = summary["nodes"]
    execution = float(summary.get("execution_ms") or 0.0)
    planning = float(summary.get("planning_ms") or 0.0)
    io_ms = float(summary.get("io_read_ms") or 0.0)
    share = min(1.0, io_ms / execution) if execution > 0 else 0.0
    causes: list[str] = []
    if planning >= execution and planning >= 10.0:
        causes.append(COLD_PLANNING)
    if share >= IO_SHARE:
        causes.append(IO_BOUND)

    timed = [n for n in nodes if n.get("self_ms") is not None]
    top = sorted(timed, key=lambda n: -n["self_ms"])[:3]
    top_nodes = [{"node": n["shape"], "self_ms": round(n["self_ms"], 3),
                  "share": round(min(1.0, n["self_ms"] / execution), 3) if execution else None}
                 for n in top]

    scans = [n for n in nodes if n.get("relation")]
    fetched = sum(_rows(n) for n in scans)
    returned = _rows(nodes[0]) if nodes else 0.0
    if fetched >= FETCH_MIN and fetched >= FETCH_FACTOR * max(returned, 1.0):
        causes.append(SCAN_ALL_ROWS)

    sorts, aggregates = [], []
    for i, n in enumerate(nodes):
        kids = _children(nodes, i)
        below = sum(_rows(k) for k in kids)
        kind = n["node_type"]
        if "Sort" in kind and "Incremental" not in kind and below >= FETCH_MIN \
                and below >= FETCH_FACTOR * max(_rows(n), 1.0):
            method = ""
            if "Sort Method:" in (n.get("detail") or ""):
                method = n["detail"].split("Sort Method:", 1)[1].split(";")[0].strip()
            sorts.append({"node": n["shape"], "input_rows": int(below), "method": method})
        if "Aggregate" in kind and below >= AGG_MIN:
            aggregates.append({"node": n["shape"], "input_rows": int(below),
                               "output_rows": int(_rows(n))})
    if sorts:
        causes.append(SORT_ALL_ROWS)
    if aggregates:
        causes.append(AGGREGATE_ALL_ROWS)

    parts = [n for n in scans if str(n["relation"]).startswith(PARTITION_PREFIX)]
    partitions = None
    if parts:
        scanned = {n["relation"] for n in parts if not n.get("never_executed")}
        with_rows = {n["relation"] for n in parts if _rows(n) > 0}
        pruned = sum(int(str(n.get("detail") or "").split("Subplans Removed: ")[1].split(";")[0])
                     for n in nodes if "Subplans Removed: " in str(n.get("detail") or ""))
        partitions = {"scanned": len(scanned), "with_rows": len(with_rows), "pruned": pruned}
        if len(scanned) > len(with_rows) and len(scanned) > 1:
            causes.append(NO_PRUNING)

    wrong = misestimates(nodes)
    if wrong:
        causes.append(MISESTIMATE)

    hnsw = None
    uses_hnsw = any("hnsw" in str(n.get("index") or "").lower() for n in nodes)
    k = (params or {}).get("limit")
    if uses_hnsw and isinstance(k, int) and returned < k:
        hnsw = {"k": k, "returned": int(returned)}
        causes.append(HNSW_SHORT)

    read_blocks = int(summary.get("shared_read") or 0)
    return {
        "causes": [{"code": c, "text": CAUSES[c]} for c in causes],
        "io_read_share": round(share, 3), "io_read_ms": round(io_ms, 3),
        "planning_ms": round(planning, 3), "execution_ms": round(execution, 3),
        "planning_read_blocks": int(summary.get("planning_shared_read") or 0),
        "shared_read_blocks": read_blocks, "shared_hit_blocks": int(summary.get("shared_hit") or 0),
        "read_mb": round(read_blocks * BLOCK_BYTES / 1e6, 1),
        "top_nodes": top_nodes, "rows_fetched": int(fetched), "rows_returned": int(returned),
        "sorts": sorts, "aggregates": aggregates, "partitions": partitions,
        "misestimates": wrong[:5], "hnsw": hnsw,
    }


def _words(found: dict[str, Any], remedies: list[dict[str, Any]]) -> str:
    bits = []
    codes = {c["code"] for c in found["causes"]}
    if COLD_PLANNING in codes:
        bits.append(f"planning took {found['planning_ms']:.3g} ms (execution "
                    f"{found['execution_ms']:.3g} ms), reading {found['planning_read_blocks']:,} "
                    "catalog/index blocks cold")
    if IO_BOUND in codes:
        bits.append(f"{found['io_read_share'] * 100:.0f}% of the time was I/O "
                    f"({found['shared_read_blocks']:,} blocks, {found['read_mb']:g} MB read)")
    if found["top_nodes"]:
        n = found["top_nodes"][0]
        bits.append(f"most exclusive time in {n['node']} ({n['self_ms']:.3g} ms)")
    if SCAN_ALL_ROWS in codes:
        bits.append(f"scans fetched {found['rows_fetched']:,} rows to return "
                    f"{found['rows_returned']:,}")
    for s in found["sorts"][:1]:
        bits.append(f"a sort over {s['input_rows']:,} rows ({s['method'] or 'method unknown'})")
    for a in found["aggregates"][:1]:
        bits.append(f"an aggregate over {a['input_rows']:,} rows")
    p = found["partitions"]
    if NO_PRUNING in codes and p:
        bits.append(f"{p['scanned']} partitions scanned, {p['with_rows']} returned rows")
    if MISESTIMATE in codes:
        bits.append(f"row misestimate: {found['misestimates'][0]}")
    if found["hnsw"]:
        bits.append(f"the HNSW scan returned {found['hnsw']['returned']} of k = "
                    f"{found['hnsw']['k']} rows after the threshold and joins")
    text = "; ".join(bits) or "no single cause stands out in the captured plan"
    if remedies:
        text += ". Remedy: " + "; ".join(f"{r['variant']} ({r['what']})" for r in remedies[:2])
    elif found["causes"]:
        text += ". No other remedy in the catalog addresses this"
    return text + "."


def pick_plan(verdict: VerdictRow, fixed: PlanEntry | None,
              tails: list[PlanEntry]) -> PlanEntry | None:
    """The slowest tail plan of the verdict's group (by measured latency), else its fixed plan."""
    mine = [t for t in tails if t.get("_summary")
            and (t["phase"], t["query"], t["variant"]) == (verdict["phase"], verdict["query"],
                                                           verdict["variant"])]
    if mine:
        def slowness(t: PlanEntry) -> float:
            return float("inf") if t.get("measured_failed") else float(t.get("measured_ms") or 0)
        return max(mine, key=slowness)
    return fixed if fixed and fixed.get("_summary") else None


def diagnose(verdict: VerdictRow, plan: PlanEntry | None) -> dict[str, Any]:
    if plan is None:
        return {"plan": None, "causes": [], "remedies": [],
                "text": "no plan was captured for this group, so no diagnosis"}
    found = analyse_plan(plan["_summary"], query=verdict["query"], params=plan.get("params"))
    codes = {c["code"] for c in found["causes"]}
    remedies = [{"variant": r.variant, "what": r.what, "addresses": sorted(r.addresses & codes)}
                for r in addressing(verdict["query"], codes) if r.variant != verdict["variant"]]
    out = {"plan": {"file": plan.get("file"), "role": plan.get("role") or "fixed",
                    "param_kind": plan.get("param_kind"), "measured_ms": plan.get("measured_ms"),
                    "execution_ms": plan.get("execution_ms")},
           **found, "remedies": remedies}
    out["text"] = _words(found, remedies)
    return out


def diagnose_verdicts(verdicts: list[VerdictRow], fixed_for: Callable[[GroupRef], PlanEntry | None],
                      tails: list[PlanEntry]) -> None:
    """Attach ``diagnosis`` to every FAIL/INCONCLUSIVE latency verdict (in place).
    ``fixed_for(group)`` finds a group's fixed-parameter plan (summary.PlanIndex.for_group)."""
    for v in verdicts:
        if v["verdict"] not in DIAGNOSED or v.get("unit") != "ms":
            continue
        group: GroupRef = {"phase": v["phase"], "query": v["query"], "variant": v["variant"],
                 "labels": v["labels"]}
        v["diagnosis"] = diagnose(v, pick_plan(v, fixed_for(group), tails))
