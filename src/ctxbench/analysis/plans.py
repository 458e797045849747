"""Query plans: summarise an EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) result, fingerprint it, diff two.

The fingerprint identifies the *shape* of a plan: the node tree with each node's type
(including join type, aggregate strategy, parallelism and scan direction, since those are
different algorithms), and the relation, index, CTE, function and subplan names it touches.
Costs, row counts, timings and buffers are left out, so the same plan run twice (or re-costed
after ANALYZE) keeps its fingerprint, while "Seq Scan" becoming "Index Scan", or another index
being chosen, changes it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
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


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _read_ms(node: dict[str, Any]) -> float:
    for key in _READ_TIME_KEYS:
        if key in node:
            return _num(node[key])
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
        loops = int(_num(node.get("Actual Loops", 0)))
        per_loop_ms = _num(node.get("Actual Total Time"))
        total_ms = per_loop_ms * max(loops, 1) if "Actual Total Time" in node else None
        entry: dict[str, Any] = {
            "depth": depth,
            "node_type": node_name(node),
            "relation": node.get("Relation Name"),
            "index": node.get("Index Name"),
            "alias": node.get("Alias"),
            "parent_relationship": node.get("Parent Relationship"),
            "shape": _shape(node),
            "est_rows": _num(node.get("Plan Rows")),
            "actual_rows": _num(node["Actual Rows"]) if "Actual Rows" in node else None,
            "loops": loops,
            "never_executed": "Actual Loops" in node and loops == 0,
            "total_ms": total_ms,
            "self_ms": None,
            "shared_hit": int(_num(node.get("Shared Hit Blocks"))),
            "shared_read": int(_num(node.get("Shared Read Blocks"))),
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
        "planning_ms": _num(root.get("Planning Time")),
        "execution_ms": _num(root.get("Execution Time")),
        "shared_hit": top["shared_hit"],
        "shared_read": top["shared_read"],
        "io_read_ms": top["io_read_ms"],
        "planning_shared_hit": int(_num(planning.get("Shared Hit Blocks"))),
        "planning_shared_read": int(_num(planning.get("Shared Read Blocks"))),
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


# -- diffs ------------------------------------------------------------------------------------

@dataclass
class PlanDiff:
    """Two plans aligned node by node, plus the changes in words."""

    rows: list[tuple[dict[str, Any] | None, dict[str, Any] | None, str]] = field(
        default_factory=list)  # (node in A, node in B, tag: same | changed | removed | added)
    changes: list[str] = field(default_factory=list)
    same_shape: bool = True


def _key(node: dict[str, Any]) -> str:
    return f"{node['depth']}|{node['shape']}"


def diff_plans(a: dict[str, Any], b: dict[str, Any]) -> PlanDiff:
    """Align the node lists of two plan summaries and explain what changed from A to B."""
    na, nb = a["nodes"], b["nodes"]
    matcher = difflib.SequenceMatcher(a=[_key(n) for n in na], b=[_key(n) for n in nb],
                                      autojunk=False)
    rows: list[tuple[dict[str, Any] | None, dict[str, Any] | None, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend((na[i], nb[j], "same") for i, j in zip(range(i1, i2), range(j1, j2),
                                                               strict=True))
            continue
        rows.extend(_pair_block(na[i1:i2], nb[j1:j2]))
    same = a.get("fingerprint") == b.get("fingerprint")
    return PlanDiff(rows=rows, changes=explain_changes(a, b, rows), same_shape=same)


def _pair_block(left: list[dict[str, Any]], right: list[dict[str, Any]]
                ) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None, str]]:
    """Pair the nodes of a changed stretch: same relation first (a scan that changed method),
    else same node type at any depth (an operator that moved); the rest are added/removed."""
    used: set[int] = set()
    match: list[int | None] = []
    for r in right:
        found = None
        for i, node in enumerate(left):
            if i in used:
                continue
            if (r.get("relation") and node.get("relation") == r["relation"]) or (
                    not r.get("relation") and not node.get("relation")
                    and node["node_type"] == r["node_type"]):
                found = i
                break
        if found is not None:
            used.add(found)
        match.append(found)
    rows: list[tuple[dict[str, Any] | None, dict[str, Any] | None, str]] = []
    emitted: set[int] = set()
    for r, i in zip(right, match, strict=True):
        if i is None:
            rows.append((None, r, "added"))
            continue
        for k in range(i):
            if k not in used and k not in emitted:
                rows.append((left[k], None, "removed"))
                emitted.add(k)
        rows.append((left[i], r, "same" if _key(left[i]) == _key(r) else "changed"))
    rows.extend((left[k], None, "removed") for k in range(len(left))
                if k not in used and k not in emitted)
    return rows


def _uses(nodes: list[dict[str, Any]], with_index: bool = True) -> dict[str, set[str]]:
    """For each relation: the access methods used on it ('Seq Scan', 'Index Scan using i')."""
    uses: dict[str, set[str]] = {}
    for n in nodes:
        if n.get("relation"):
            how = n["node_type"]
            if with_index and n.get("index"):
                how += f" using {n['index']}"
            uses.setdefault(n["relation"], set()).add(how)
    return uses


def _indexes(nodes: list[dict[str, Any]]) -> set[str]:
    return {n["index"] for n in nodes if n.get("index")}


def _names(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def _access_changes(na: list[dict[str, Any]], nb: list[dict[str, Any]]) -> list[str]:
    """'Seq Scan → Index Scan using i on t' per relation whose access method changed; the same
    change over many partitions becomes one line (index names dropped, they differ per
    partition)."""
    fa, fb = _uses(na), _uses(nb)
    ta, tb = _uses(na, with_index=False), _uses(nb, with_index=False)
    groups: dict[str, list[tuple[str, str]]] = {}
    for rel in sorted(set(fa) & set(fb)):
        if fa[rel] == fb[rel]:
            continue
        by_type = f"{' + '.join(sorted(ta[rel]))} → {' + '.join(sorted(tb[rel]))}"
        full = f"{' + '.join(sorted(fa[rel]))} → {' + '.join(sorted(fb[rel]))}"
        groups.setdefault(by_type, []).append((rel, full))
    out = []
    for by_type, members in groups.items():
        if len(members) == 1:
            rel, full = members[0]
            out.append(f"{full} on {rel}")
        else:
            out.append(f"{by_type} on {len(members)} relations "
                       f"({_names([m[0] for m in members])})")
    return out


def misestimates(nodes: list[dict[str, Any]], factor: float = 10.0) -> list[str]:
    """Nodes whose row estimate is off by more than ``factor`` (the planner's blind spots)."""
    out = []
    for n in nodes:
        actual = n.get("actual_rows")
        if actual is None or n.get("never_executed"):
            continue
        if n.get("under_limit") and actual < (n.get("est_rows") or 0.0):
            continue  # a LIMIT above stopped it early: fewer rows than estimated is expected
        est = max(n.get("est_rows") or 0.0, 1.0)
        act = max(actual, 1.0)
        ratio = max(est / act, act / est)
        if ratio > factor:
            out.append(f"{n['shape'].strip()}: estimated {est:g} rows, got {actual:g} "
                       f"per loop ({ratio:.0f}× off)")
    return out


def explain_changes(a: dict[str, Any], b: dict[str, Any],
                    rows: list[tuple[dict[str, Any] | None, dict[str, Any] | None, str]]
                    | None = None) -> list[str]:
    """Short sentences: access-method changes, index use, join/aggregate changes, bad
    estimates and where the buffers came from."""
    na, nb = a["nodes"], b["nodes"]
    changes: list[str] = []
    if a.get("fingerprint") == b.get("fingerprint"):
        changes.append("same plan shape")
    else:
        changes.extend(_access_changes(na, nb))
        ua, ub = _uses(na), _uses(nb)
        only_a, only_b = sorted(set(ua) - set(ub)), sorted(set(ub) - set(ua))
        if only_a:
            changes.append("no longer reads " + _names(only_a))
        if only_b:
            changes.append("now also reads " + _names(only_b))
        ia, ib = _indexes(na), _indexes(nb)
        if ib - ia:
            changes.append("index now used: " + _names(sorted(ib - ia)))
        if ia - ib:
            changes.append("index no longer used: " + _names(sorted(ia - ib)))
        ops_a = [n["node_type"] for n in na if not n.get("relation")]
        ops_b = [n["node_type"] for n in nb if not n.get("relation")]
        if ops_a != ops_b:
            gone = sorted(set(ops_a) - set(ops_b))
            new = sorted(set(ops_b) - set(ops_a))
            if gone or new:
                changes.append(f"operators: {', '.join(gone) or '–'} → {', '.join(new) or '–'}")
        if len(changes) == 0:
            changes.append("same nodes, different tree: join order or nesting changed")
    for label, nodes in (("A", na), ("B", nb)):
        for text in misestimates(nodes)[:3]:
            changes.append(f"{label} row estimate: {text}")
    changes.append(
        f"buffers A hit {a.get('shared_hit', 0)} / read {a.get('shared_read', 0)}"
        f" ({_ms(a.get('io_read_ms'))} reading) → B hit {b.get('shared_hit', 0)} / read "
        f"{b.get('shared_read', 0)} ({_ms(b.get('io_read_ms'))} reading)")
    changes.append(f"execution {_ms(a.get('execution_ms'))} → {_ms(b.get('execution_ms'))}, "
                   f"planning {_ms(a.get('planning_ms'))} → {_ms(b.get('planning_ms'))}")
    return changes


def _ms(value: Any) -> str:
    v = _num(value)
    return f"{v:.3g} ms" if v < 100 else f"{v:.0f} ms"


def short_change(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The first structural change in one phrase, e.g. 'Seq Scan → Index Scan using i on t'."""
    for line in explain_changes(a, b):
        if line != "same plan shape":
            return line
    return "same plan shape"
