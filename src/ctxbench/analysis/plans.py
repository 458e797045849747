"""Query plans compared: diff two plan summaries and say what changed (access paths, joins,
misestimates). Reading a plan is ``ctxbench.results.explain``'s job.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ctxbench.results.explain import as_float

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


def diff_plans(a: Mapping[str, Any], b: Mapping[str, Any]) -> PlanDiff:
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
    for r, at in zip(right, match, strict=True):
        if at is None:
            rows.append((None, r, "added"))
            continue
        for k in range(at):
            if k not in used and k not in emitted:
                rows.append((left[k], None, "removed"))
                emitted.add(k)
        rows.append((left[at], r, "same" if _key(left[at]) == _key(r) else "changed"))
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


def explain_changes(a: Mapping[str, Any], b: Mapping[str, Any],
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
    v = as_float(value)
    return f"{v:.3g} ms" if v < 100 else f"{v:.0f} ms"


def short_change(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """The first structural change in one phrase, e.g. 'Seq Scan → Index Scan using i on t'."""
    for line in explain_changes(a, b):
        if line != "same plan shape":
            return line
    return "same plan shape"
