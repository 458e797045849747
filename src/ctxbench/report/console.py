"""The first screen on a terminal (rich), shared by `ctxbench report` and `ctxbench run`.

Same order as report.md: overall verdict, the findings, the verdict matrix, then the checks
that did not pass (one line each; every check is in report.md)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ctxbench.analysis.verdicts import FAIL, INCONCLUSIVE, PASS
from ctxbench.report.build import ReportPaths
from ctxbench.report.content import budget_text, overall_line, phase_label, verdict_estimate
from ctxbench.report.firstscreen import findings, is_near_miss, matrix, run_wide_lines
from ctxbench.report.terminal import rich_table
from ctxbench.results.summary_types import Summary, VerdictRow

STYLE = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow"}
WIDE = 110  # below this many columns, one line per verdict reads better than a table


def print_verdicts(console: Console | None, report: ReportPaths | Summary,
                   limit: int | None = 20) -> None:
    """Overall verdict, findings, matrix, and the failed / near-miss checks (FAIL first).

    ``report`` is what ``build_reports`` returned, or a summary dict."""
    console = console or Console()
    summary = report.summary_data if isinstance(report, ReportPaths) else report
    run = summary["run"]
    if not run["complete"]:
        console.print(f"[bold yellow]INCOMPLETE RUN:[/] {run.get('incomplete_reason')}",
                      highlight=False)
    style = STYLE.get(summary["verdict"]["overall"], "")
    console.print(Text(overall_line(summary), style=style))
    for problem in summary["verdict"].get("problems", []):
        console.print(f"[bold red]error:[/] {problem} — not a PASS", highlight=False)
    for item in findings(summary):
        console.print(Text(f"• {item}"), highlight=False)
    table = matrix(summary)
    if table is not None:
        console.print(rich_table(table))
    for whole_run in run_wide_lines(summary):
        console.print(Text(whole_run), highlight=False)
    rows = [v for v in summary["verdicts"] if v["verdict"] == FAIL or is_near_miss(v)]
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
    rest = len(summary["verdicts"]) - len(shown)
    if rest > 0:
        console.print(Text(f"{rest} more checks in report.md / report.html", style="dim"))


def _table(console: Console, rows: list[VerdictRow]) -> None:
    """One line per check: every column but "Why" keeps its width, "Why" gets the rest and is
    cut with an ellipsis rather than wrapped onto a second line."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Failed and near-miss checks",
                  title_justify="left")
    table.add_column("Query", no_wrap=True)
    table.add_column("Phase", no_wrap=True)
    table.add_column("Budget", no_wrap=True)
    table.add_column("Estimate [95% CI]", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Why", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
    for v in rows:
        name = v["query"] if v["variant"] == "default" else f"{v['query']}[{v['variant']}]"
        table.add_row(name, phase_label(v["phase"], v["labels"]),
                      f"{v['metric']} {budget_text(v)}", verdict_estimate(v), str(v["n"]),
                      Text(v["verdict"], style=STYLE[v["verdict"]]),
                      "" if v["verdict"] == PASS else v["reason"])
    if rows:
        console.print(table)
