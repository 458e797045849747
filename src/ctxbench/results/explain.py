"""The one reader of EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON): a plan's numbers, its nodes
and its fingerprint. Everything that looks at a plan (plan capture, the vector study's plan
classes, diagnosis, plan diffs, ``ctxbench queries explain``) reads it through here.

The fingerprint identifies the *shape* of a plan: the node tree with each node's type
(including join type, aggregate strategy, parallelism and scan direction, since those are
different algorithms), and the relation, index, CTE, function and subplan names it touches.
Costs, row counts, timings and buffers are left out, so the same plan run twice (or re-costed
after ANALYZE) keeps its fingerprint, while "Seq Scan" becoming "Index Scan", or another index
being chosen, changes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ctxbench.errors import UsageError

# How a plan summary looks changes rarely; bump when fields change meaning.
SUMMARY_VERSION = 1

_AGG_NAMES = {"Plain": "Aggregate", "Sorted": "GroupAggregate", "Hashed": "HashAggregate",
              "Mixed": "MixedAggregate"}
_SETOP_NAMES = {"Sorted": "SetOp", "Hashed": "HashSetOp"}
_JOINS = {"Nested Loop", "Hash Join", "Merge Join"}
_READ_TIME_KEYS = ("Shared I/O Read Time", "I/O Read Time")  # PG 17+, then older servers


def _root(explain_json: Any) -> dict[str, Any]:
    """The top-level object of an EXPLAIN JSON answer, whichever way it was handed over."""
    data = explain_json
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UsageError(f"plan is not valid JSON ({exc.msg})") from exc
    if isinstance(data, list):
        if not data:
            raise UsageError("plan is an empty list; expected EXPLAIN (FORMAT JSON) output")
        data = data[0]
    if isinstance(data, dict) and "QUERY PLAN" in data:  # psycopg row dict
        return _root(data["QUERY PLAN"])
    if not isinstance(data, dict) or "Plan" not in data:
        raise UsageError("plan has no 'Plan' key; expected EXPLAIN (FORMAT JSON) output")
    return data


def node_name(node: dict[str, Any]) -> str:
    """The node's name as text EXPLAIN prints it (e.g. 'Hash Left Join', 'HashAggregate')."""
    kind = str(node.get("Node Type", "?"))
    if kind == "Aggregate":
        kind = _AGG_NAMES.get(node.get("Strategy", "Plain"), kind)
    elif kind == "SetOp":
        kind = _SETOP_NAMES.get(node.get("Strategy", "Sorted"), kind)
    elif kind in _JOINS and node.get("Join Type", "Inner") != "Inner":
        base = kind.removesuffix(" Join")
        kind = f"{base} {node['Join Type']} Join"
    elif kind == "ModifyTable" and node.get("Operation"):
        kind = str(node["Operation"])
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if node.get("Scan Direction") == "Backward":
        kind = f"{kind} Backward"
    return kind


def _target(node: dict[str, Any]) -> str:
    """What the node reads: 'using idx on rel', 'on rel', 'CTE x', ... (names only)."""
    parts = []
    if node.get("Index Name"):
        parts.append(f"using {node['Index Name']}")
    if node.get("Relation Name"):
        parts.append(f"on {node['Relation Name']}")
    elif node.get("CTE Name"):
        parts.append(f"on CTE {node['CTE Name']}")
    elif node.get("Function Name"):
        parts.append(f"on {node['Function Name']}()")
    return " ".join(parts)


def _shape(node: dict[str, Any]) -> str:
    text = node_name(node)
    target = _target(node)
    if target:
        text = f"{text} {target}"
    if node.get("Subplan Name"):
        text = f"{text} ({node['Subplan Name']})"
    return text


def as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _read_ms(node: dict[str, Any]) -> float:
    for key in _READ_TIME_KEYS:
        if key in node:
            return as_float(node[key])
    return 0.0


def _detail(node: dict[str, Any]) -> str:
    """The conditions that explain a node's cost, kept short for one-line outlines."""
    bits = []
    for key in ("Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter",
                "Order By"):
        if node.get(key):
            bits.append(f"{key}: {node[key]}")
    if node.get("Sort Key"):
        bits.append("Sort Key: " + ", ".join(map(str, node["Sort Key"])))
    if node.get("Sort Method"):
        bits.append(f"Sort Method: {node['Sort Method']}")
    removed = node.get("Rows Removed by Filter")
    if removed:
        bits.append(f"Rows Removed by Filter: {removed}")
    if node.get("Subplans Removed"):
        bits.append(f"Subplans Removed: {node['Subplans Removed']}")
    return "; ".join(bits)


def _flatten(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Pre-order list of nodes with depth, structural label and the numbers per node."""
    out: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], depth: int, limited: bool) -> float:
        loops = int(as_float(node.get("Actual Loops", 0)))
        per_loop_ms = as_float(node.get("Actual Total Time"))
        total_ms = per_loop_ms * max(loops, 1) if "Actual Total Time" in node else None
        entry: dict[str, Any] = {
            "depth": depth,
            "node_type": node_name(node),
            "relation": node.get("Relation Name"),
            "index": node.get("Index Name"),
            "alias": node.get("Alias"),
            "parent_relationship": node.get("Parent Relationship"),
            "shape": _shape(node),
            "est_rows": as_float(node.get("Plan Rows")),
            "actual_rows": as_float(node["Actual Rows"]) if "Actual Rows" in node else None,
            "loops": loops,
            "never_executed": "Actual Loops" in node and loops == 0,
            "total_ms": total_ms,
            "self_ms": None,
            "shared_hit": int(as_float(node.get("Shared Hit Blocks"))),
            "shared_read": int(as_float(node.get("Shared Read Blocks"))),
            "io_read_ms": _read_ms(node),
            "detail": _detail(node),
            "under_limit": limited,
        }
        out.append(entry)
        child_ms = 0.0
        limited = limited or node.get("Node Type") == "Limit"
        for child in node.get("Plans", []) or []:
            child_ms += walk(child, depth + 1, limited) or 0.0
        if total_ms is not None:
            entry["self_ms"] = max(0.0, total_ms - child_ms)
        return total_ms or 0.0

    walk(plan, 0, False)
    return out


def outline_line(node: dict[str, Any]) -> str:
    """One structural line per node: indentation shows the tree, no numbers."""
    arrow = "-> " if node["depth"] else ""
    return f"{'  ' * node['depth']}{arrow}{node['shape']}"


def fingerprint_nodes(nodes: list[dict[str, Any]]) -> str:
    canon = "\n".join(f"{n['depth']}|{n['shape']}" for n in nodes)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]


def summarize_plan(explain_json: Any) -> dict[str, Any]:
    """The numbers and shape of one EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) result.

    Accepts the list psycopg returns, its first element, or the JSON text. Buffer counts and
    read time are the root node's (PostgreSQL reports them including children); planning
    buffers are reported separately because a cold planner reads the catalog too.
    """
    root = _root(explain_json)
    nodes = _flatten(root["Plan"])
    top = nodes[0]
    planning = root.get("Planning") or {}
    return {
        "summary_version": SUMMARY_VERSION,
        "planning_ms": as_float(root.get("Planning Time")),
        "execution_ms": as_float(root.get("Execution Time")),
        "shared_hit": top["shared_hit"],
        "shared_read": top["shared_read"],
        "io_read_ms": top["io_read_ms"],
        "planning_shared_hit": int(as_float(planning.get("Shared Hit Blocks"))),
        "planning_shared_read": int(as_float(planning.get("Shared Read Blocks"))),
        "fingerprint": fingerprint_nodes(nodes),
        "outline": [outline_line(n) for n in nodes],
        "nodes": nodes,
        "settings": dict(root.get("Settings") or {}),
    }


def summary_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a saved plan file: recomputed from the raw plan when it is there (so every
    file is judged by the same rules), else the stored summary; None for a failed capture."""
    raw = payload.get("plan")
    if raw:
        return summarize_plan(raw)
    summary = payload.get("summary")
    return summary if isinstance(summary, dict) and summary.get("nodes") else None


def plan_numbers(explain_json: Any) -> dict[str, Any]:
    """Planning/execution time, the root node's buffers and read time (they include children),
    rows returned and non-default settings; ``None`` where the plan did not measure them
    (EXPLAIN without ANALYZE)."""
    root = _root(explain_json)
    top = root["Plan"]
    analyzed = "Actual Rows" in top
    return {
        "planning_ms": root.get("Planning Time"),
        "execution_ms": root.get("Execution Time"),
        "shared_hit": top.get("Shared Hit Blocks") if analyzed else None,
        "shared_read": top.get("Shared Read Blocks") if analyzed else None,
        "io_read_ms": _read_ms(top) if analyzed else None,
        "rows": top.get("Actual Rows"),
        "settings": dict(root.get("Settings") or {}),
    }


def numbered_outline(explain_json: Any) -> list[str]:
    """One indented line per node with its estimate and, measured, actual rows × loops, total
    time over all loops and buffers."""
    lines = []
    for n in _flatten(_root(explain_json)["Plan"]):
        est = f"est {n['est_rows']:g}"
        if n["actual_rows"] is not None:
            est += f", actual {n['actual_rows']:g} x{n['loops']}, {n['total_ms'] or 0:.3f} ms"
            est += f", hit {n['shared_hit']} read {n['shared_read']}"
        lines.append(f"{outline_line(n)}  [{est}]")
    return lines
