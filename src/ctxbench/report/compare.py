"""Rendering a run comparison: Markdown (via the document model) and a rich table."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from ctxbench.analysis.compare import FASTER, SAME, SLOWER, UNKNOWN
from ctxbench.report.content import fmt_num, phase_label
from ctxbench.report.document import Block, Bullets, Code, Heading, Para
from ctxbench.report.document import Table as DocTable
from ctxbench.report.markdown import render_markdown

ICON = {SLOWER: "❌", FASTER: "✅", SAME: "➖", UNKNOWN: "⚠️"}
STYLE = {SLOWER: "bold red", FASTER: "green", SAME: "", UNKNOWN: "yellow"}
ORDER = {SLOWER: 0, FASTER: 1, UNKNOWN: 2, SAME: 3}
WIDE = 120


def _ratio(r: dict[str, Any]) -> str:
    if r["ratio"] is None:
        return "–"
    if r["ratio_lo"] is None:
        return f"{r['ratio']:.3f}×"
    return f"{r['ratio']:.3f}× [{r['ratio_lo']:.3f}–{r['ratio_hi']:.3f}]"


def _name(r: dict[str, Any]) -> str:
    name = r["query"] if r["variant"] == "default" else f"{r['query']}[{r['variant']}]"
    return f"{name} · {phase_label(r['phase'], r['labels'])}"


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def sorted_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(result["groups"], key=lambda r: (ORDER[r["verdict"]], r["key"]))


def headline(result: dict[str, Any]) -> str:
    c = result["counts"]
    return (f"{c[SLOWER]} slower, {c[FASTER]} faster, {c[SAME]} unchanged, {c[UNKNOWN]} with "
            f"too little data (threshold ±{result['threshold']:.0%}, alpha {result['alpha']:g})")


def compare_document(result: dict[str, Any]) -> list[Block]:
    a, b = result["a"], result["b"]
    blocks: list[Block] = [
        Heading(1, f"ctxbench compare — {a['run_id']} → {b['run_id']}"),
        Para(("Regression: " if result["regression"] else "No regression: ") + headline(result),
             "verdict")]
    if result["warnings"]:
        blocks.append(Para("Warnings: " + " | ".join(result["warnings"]), "warning"))
    rows = [[_name(r), f"{r['n_a']} / {r['n_b']}", f"{fmt_num(r['median_a'])} → "
             f"{fmt_num(r['median_b'])}", f"{fmt_num(r['p95_a'])} → {fmt_num(r['p95_b'])}",
             _ratio(r), _p(r["p_value"]), f"{ICON[r['verdict']]} {r['verdict']}"]
            for r in sorted_rows(result)]
    blocks.append(DocTable(["Group", "n A / B", "Median ms A → B", "p95 ms A → B",
                            "B/A median [95% CI]", "p (Mann–Whitney)", "Verdict"], rows,
                           numeric={1, 2, 3, 4, 5}))
    for side, key in (("A", "only_in_a"), ("B", "only_in_b")):
        if result[key]:
            blocks += [Heading(2, f"Only in {side}"), Bullets(result[key])]
    if result["plan_changes"]:
        blocks.append(Heading(2, "Plan changes A → B"))
        for c in result["plan_changes"]:
            blocks += [Heading(3, f"{c['query']}[{c['variant']}] · {c['phase']}: {c['change']}"),
                       Bullets(c["changes"]),
                       Code(f"# A ({c['fingerprint_a']})\n" + "\n".join(c["outline_a"])
                            + f"\n\n# B ({c['fingerprint_b']})\n" + "\n".join(c["outline_b"]))]
    if result["metadata_diff"]:
        blocks += [Heading(2, "Metadata differences"),
                   DocTable(["Key", "A", "B"], [[d["key"], str(d["a"]), str(d["b"])]
                                                for d in result["metadata_diff"]])]
    blocks.append(Para(f"A: {a['path']} ({a['status']}); B: {b['path']} ({b['status']}). "
                       f"Method: {result['method']}.", "note"))
    return blocks


def compare_markdown(result: dict[str, Any]) -> str:
    return render_markdown(compare_document(result))


def print_comparison(console: Console, result: dict[str, Any]) -> None:
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if console.width < WIDE:
        for r in sorted_rows(result):
            console.print(Text.assemble(
                (f"{r['verdict']:<22}", STYLE[r["verdict"]]),
                f" {_name(r)}: median {fmt_num(r['median_a'])} → {fmt_num(r['median_b'])} ms, "
                f"B/A {_ratio(r)}, p={_p(r['p_value'])}, n={r['n_a']}/{r['n_b']}"))
    else:
        _table(console, result)
    for side, key in (("A", "only_in_a"), ("B", "only_in_b")):
        if result[key]:
            console.print(f"only in {side}: " + ", ".join(result[key]), highlight=False)
    for c in result["plan_changes"]:
        console.print(f"[bold]plan changed[/] {c['query']}[{c['variant']}] {c['phase']}: "
                      f"{c['change']}", highlight=False)
    style = "bold red" if result["regression"] else "green"
    console.print(Text(("Regression: " if result["regression"] else "No regression: ")
                       + headline(result), style=style))


def _table(console: Console, result: dict[str, Any]) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Group", "left"), ("n A/B", "right"), ("Median A → B", "right"), ("p95 A → B", "right"),
        ("B/A [95% CI]", "right"), ("p", "right"), ("Verdict", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    for r in sorted_rows(result):
        table.add_row(_name(r), f"{r['n_a']}/{r['n_b']}",
                      f"{fmt_num(r['median_a'])} → {fmt_num(r['median_b'])}",
                      f"{fmt_num(r['p95_a'])} → {fmt_num(r['p95_b'])}", _ratio(r),
                      _p(r["p_value"]), Text(r["verdict"], style=STYLE[r["verdict"]]))
    console.print(table)
