"""A readable outline and the key numbers of one EXPLAIN (FORMAT JSON) result."""

from __future__ import annotations

from typing import Any


def _root(explain: Any) -> dict[str, Any]:
    return explain[0] if isinstance(explain, list) else explain


def plan_numbers(explain: Any) -> dict[str, Any]:
    """Planning/execution time and the root node's buffer counts (they include children)."""
    root = _root(explain)
    top = root["Plan"]
    return {
        "planning_ms": root.get("Planning Time"),
        "execution_ms": root.get("Execution Time"),
        "shared_hit": top.get("Shared Hit Blocks"),
        "shared_read": top.get("Shared Read Blocks"),
        "io_read_ms": top.get("I/O Read Time", top.get("Shared I/O Read Time")),
        "rows": top.get("Actual Rows"),
        "settings": dict(root.get("Settings") or {}),
    }


def _label(node: dict[str, Any]) -> str:
    text = node["Node Type"]
    if node.get("Index Name"):
        text += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        text += f" on {node['Relation Name']}"
        if node.get("Alias") and node["Alias"] != node["Relation Name"]:
            text += f" {node['Alias']}"
    if node.get("Subplans Removed"):
        text += f" (subplans removed: {node['Subplans Removed']})"
    est = f"est {node.get('Plan Rows')}"
    if "Actual Rows" in node:
        loops = node.get("Actual Loops", 1)
        est += (f", actual {node['Actual Rows']} x{loops}, "
                f"{node.get('Actual Total Time', 0):.3f} ms")
    if "Actual Rows" in node and node.get("Shared Hit Blocks") is not None:
        est += f", hit {node.get('Shared Hit Blocks')} read {node.get('Shared Read Blocks')}"
    return f"{text}  [{est}]"


def plan_outline(explain: Any) -> list[str]:
    """One indented line per plan node."""
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        lines.append("  " * depth + ("-> " if depth else "") + _label(node))
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(_root(explain)["Plan"], 0)
    return lines
