"""Plans for people comparing them: per-node tables and node-by-node diffs as document blocks.

Per node: rows estimated vs actual (per loop, as PostgreSQL reports them), loops, time
(inclusive and self, over all loops), shared buffers hit/read and read time, and the
conditions. A diff pairs nodes that did the same job (same relation, or same operator) and
says in words what changed.
"""

from __future__ import annotations

from typing import Any

from ctxbench.analysis.plans import PlanDiff, diff_plans, misestimates
from ctxbench.report.content import fmt_num
from ctxbench.report.document import Block, Bullets, Code, Heading, Para, Table

TAG = {"same": "=", "changed": "~", "removed": "−", "added": "+"}


def _node_label(n: dict[str, Any]) -> str:
    return "· " * n["depth"] + n["shape"]


def fmt_rows(value: float) -> str:
    """Row counts: whole numbers as such; PostgreSQL 18's per-loop averages with 2 decimals."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _rows(n: dict[str, Any] | None) -> str:
    if n is None:
        return ""
    actual = "never run" if n.get("never_executed") else (
        "–" if n.get("actual_rows") is None else fmt_rows(n["actual_rows"]))
    loops = f" ×{n['loops']}" if n.get("loops", 1) > 1 else ""
    return f"{fmt_rows(n['est_rows'])} → {actual}{loops}"


def _ms(n: dict[str, Any] | None) -> str:
    if n is None or n.get("total_ms") is None:
        return ""
    return f"{fmt_num(n['total_ms'])} ({fmt_num(n['self_ms'])})"


def _buf(n: dict[str, Any] | None) -> str:
    if n is None:
        return ""
    text = f"{n['shared_hit']}/{n['shared_read']}"
    if n.get("io_read_ms"):
        text += f" ({fmt_num(n['io_read_ms'])} ms)"
    return text


def plan_header(title: str, s: dict[str, Any]) -> list[Block]:
    return [Heading(2, title),
            Para(f"planning {fmt_num(s['planning_ms'])} ms, execution {fmt_num(s['execution_ms'])}"
                 f" ms; shared buffers hit {s['shared_hit']}, read {s['shared_read']} "
                 f"({fmt_num(s['io_read_ms'])} ms reading); planning read "
                 f"{s.get('planning_shared_read', 0)}; fingerprint {s['fingerprint']}")]


def _numbers(n: dict[str, Any]) -> str:
    return f"rows {_rows(n)}, {_ms(n) or '–'} ms, hit/read {_buf(n)}"


def plan_text(s: dict[str, Any]) -> str:
    """The outline with each node's numbers on the line below (fits 80 columns)."""
    lines = []
    for n, line in zip(s["nodes"], s["outline"], strict=True):
        pad = "  " * n["depth"] + ("   " if n["depth"] else "")
        lines += [line, f"{pad}  {_numbers(n)}"]
        if n.get("detail"):
            lines.append(f"{pad}  {n['detail']}")
    return "\n".join(lines)


def plan_blocks(title: str, s: dict[str, Any], compact: bool = False) -> list[Block]:
    """One plan: header line and a node table (or, compact, an annotated outline)."""
    rows = [[_node_label(n), _rows(n), _ms(n), _buf(n), n.get("detail") or ""]
            for n in s["nodes"]]
    blocks = plan_header(title, s)
    if compact:
        blocks.append(Code(plan_text(s)))
    else:
        blocks.append(Table(["Node", "Rows est → actual", "ms total (self)", "Hit/read",
                             "Conditions"], rows, numeric={1, 2, 3}))
    bad = misestimates(s["nodes"])
    if bad:
        blocks.append(Bullets([f"row estimate off: {b}" for b in bad]))
    return blocks


def diff_text(d: PlanDiff) -> str:
    """A unified-diff-like listing: one line per node (A's for −/~, B's for +/=), with numbers."""
    lines = []
    for x, y, tag in d.rows:
        mark = {"same": " ", "changed": "~", "removed": "-", "added": "+"}[tag]
        if tag == "changed" and x and y:
            lines += [f"~ {_node_label(x)}", f"  → {_node_label(y)}",
                      f"      A: {_numbers(x)}", f"      B: {_numbers(y)}"]
        elif tag == "same" and x and y:
            lines += [f"  {_node_label(y)}", f"      A: {_numbers(x)}",
                      f"      B: {_numbers(y)}"]
        else:
            node = x or y
            assert node is not None
            lines += [f"{mark} {_node_label(node)}",
                      f"      {'A' if x else 'B'}: {_numbers(node)}"]
    return "\n".join(lines)


def diff_blocks(title_a: str, a: dict[str, Any], title_b: str, b: dict[str, Any],
                compact: bool = False) -> tuple[list[Block], PlanDiff]:
    """Side-by-side node rows (A | B) with a change tag, then the changes in words."""
    d = diff_plans(a, b)
    rows, kinds = [], []
    for x, y, tag in d.rows:
        rows.append([TAG[tag], _node_label(x) if x else "", _rows(x), _ms(x), _buf(x),
                     _node_label(y) if y else "", _rows(y), _ms(y), _buf(y)])
        kinds.append(tag)
    verdict = "same plan shape" if d.same_shape else "plan shape changed"
    blocks: list[Block] = [
        Heading(1, f"Plan diff: {title_a} → {title_b}"),
        Para(f"{verdict} ({a['fingerprint']} → {b['fingerprint']})", "verdict"),
        Bullets(d.changes)]
    if compact:
        blocks += [Code(diff_text(d)),
                   Para("~ changed (A → B), - only in A, + only in B. Rows are per loop; ms "
                        "(self) and hit/read include children.", "note")]
    else:
        blocks += [Table(["", "A node", "A rows est → act", "A ms (self)", "A hit/read",
                          "B node", "B rows est → act", "B ms (self)", "B hit/read"], rows,
                         numeric={2, 3, 4, 6, 7, 8}, row_kinds=kinds),
                   Para("= same node, ~ changed, − only in A, + only in B. Rows are per loop; "
                        "ms (self) and hit/read include children.", "note")]
    return blocks, d
