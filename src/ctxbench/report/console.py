"""The verdict table on a terminal (rich), shared by `ctxbench report` and `ctxbench run`."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ctxbench.analysis.verdicts import FAIL, INCONCLUSIVE, PASS
from ctxbench.report.content import budget_text, overall_line, phase_label, verdict_estimate

STYLE = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow"}
WIDE = 110  # below this many columns, one line per verdict reads better than a table


def print_verdicts(console: Console | None, report: Any, limit: int | None = 60) -> None:
    """Overall verdict, an incomplete-run warning, and the verdict rows (FAIL first).

    ``report`` is what ``build_reports`` returned, or a summary dict."""
    console = console or Console()
    summary: dict[str, Any] = report if isinstance(report, dict) else report.summary_data
    run = summary["run"]
    if not run["complete"]:
        console.print(f"[bold yellow]INCOMPLETE RUN:[/] {run.get('incomplete_reason')}",
                      highlight=False)
    rows = summary["verdicts"]
    shown = rows[:limit] if limit else rows
    if console.width < WIDE:
        for v in shown:
            name = v["query"] if v["variant"] == "default" else f"{v['query']}[{v['variant']}]"
            line = Text.assemble(
                (f"{v['verdict']:<12}", STYLE[v["verdict"]]),
                f" {name} {phase_label(v['phase'], v['labels'])}: {v['metric']} "
                f"{budget_text(v)} — {verdict_estimate(v)}, n={v['n']}",
                ("" if v["verdict"] == PASS else f" ({v['reason']})", "dim"))
            console.print(line)
    else:
        _table(console, shown)
    if limit and len(rows) > limit:
        console.print(f"… {len(rows) - limit} more rows in report.md")
    style = STYLE.get(summary["verdict"]["overall"], "")
    console.print(Text(overall_line(summary), style=style))
    for problem in summary["verdict"].get("problems", []):
        console.print(f"[bold red]error:[/] {problem} — not a PASS", highlight=False)


def _table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Query", no_wrap=True)
    table.add_column("Phase", no_wrap=True)
    table.add_column("Budget", no_wrap=True)
    table.add_column("Estimate [95% CI]", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Why", ratio=1, overflow="fold")
    for v in rows:
        name = v["query"] if v["variant"] == "default" else f"{v['query']}[{v['variant']}]"
        table.add_row(name, phase_label(v["phase"], v["labels"]),
                      f"{v['metric']} {budget_text(v)}", verdict_estimate(v), str(v["n"]),
                      Text(v["verdict"], style=STYLE[v["verdict"]]),
                      "" if v["verdict"] == PASS else v["reason"])
    if rows:
        console.print(table)
