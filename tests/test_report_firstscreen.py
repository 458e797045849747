"""The report's first screen: findings in words, the verdict matrix, the order in md/html/console,
and report.md staying under GitHub's job-summary limit."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rich.console import Console

from ctxbench.analysis.synthetic import index_plan, lognormal_ms, seq_plan, write_run
from ctxbench.analysis.verdicts import ICONS
from ctxbench.report.build import build_reports
from ctxbench.report.content import fmt_num
from ctxbench.report.document import Details, Heading, Para, Table
from ctxbench.report.firstscreen import (
    diagnosis_text,
    fallback_cause,
    findings,
    first_screen,
    is_run_wide,
    matrix,
    run_wide_lines,
    short_cause,
)
from ctxbench.report.markdown import LEFT_OUT, render_markdown


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """A failing cold group whose captured plan spent its time reading from disk, a near miss,
    a passing warm group, two variants, and a plan change before/after ANALYZE."""
    folder = tmp_path_factory.mktemp("first") / "run"
    groups = {
        ("before_analyze.cold", "list_incidents", "a"): (lognormal_ms(900), 30),
        ("before_analyze.warm", "list_incidents", "a"): (lognormal_ms(20), 100),
        ("after_analyze.cold", "list_incidents", "a"): (lognormal_ms(150), 30),
        ("after_analyze.warm", "list_incidents", "a"): (lognormal_ms(3), 100),
        ("after_analyze.warm", "list_incidents", "b"): (lognormal_ms(400, 0.05), 200),
        ("after_analyze.warm", "count_incidents", "a"): (lognormal_ms(5), 100),
    }
    labels = {k: {"cache": k[0].rsplit(".", 1)[-1]} for k in groups}
    plans = {("before_analyze.cold", "list_incidents", "a"): seq_plan(read=9000, ms=800),
             ("before_analyze.warm", "list_incidents", "a"): seq_plan(),
             ("after_analyze.warm", "list_incidents", "a"): index_plan()}
    write_run(folder, groups=groups, labels=labels, plans=plans)
    paths = build_reports(folder)
    return folder, paths, json.loads(paths.summary.read_text())


def test_findings_name_the_failure_with_its_cause_and_the_effects(run) -> None:
    _, _, s = run
    items = findings(s)
    fail = next(v for v in s["verdicts"] if v["verdict"] == "FAIL")
    assert (fail["query"], fail["phase"]) == ("list_incidents", "before_analyze.cold")
    first = items[0]
    assert first.startswith("❌ list_incidents[a] · before_analyze.cold")
    assert fmt_num(fail["estimate"]) in first
    # the analysis diagnosed it: its words (shortened) are the cause shown
    assert short_cause(diagnosis_text(fail)) in first
    # without a diagnosis, the cause comes from the captured plan: I/O share and the scans
    bare = copy.deepcopy(s)
    for v in bare["verdicts"]:
        v.pop("diagnosis", None)
    first = findings(bare)[0]
    plan = next(p for p in s["plans"] if p["phase"] == "before_analyze.cold")
    share = plan["io_read_ms"] / plan["execution_ms"]
    assert f"{share:.0%} of the captured plan" in first
    assert "sequential scan on rat_y2025m09" in fallback_cause(bare, fail)
    near = next(i for i in items if i.startswith("⚠️ Near miss"))
    assert "list_incidents[b]" in near and "after_analyze.warm" in near
    assert any(i.startswith("Biggest cold/warm effect") for i in items)
    analyze = next(i for i in items if i.startswith("Biggest ANALYZE effect"))
    assert "plan changed: Seq Scan → Index Scan" in analyze
    assert any("plan change(s) between phases" in i for i in items)


def test_a_diagnosis_is_shown_instead_of_the_fallback(run) -> None:
    _, _, s = run
    s = copy.deepcopy(s)
    fail = next(v for v in s["verdicts"] if v["verdict"] == "FAIL")
    fail["diagnosis"] = {"cause": "no statistics: the planner guessed 200 rows",
                         "remedy": "ANALYZE after the bulk load"}
    first = findings(s)[0]
    assert first.endswith("— no statistics: the planner guessed 200 rows — remedy: ANALYZE after "
                          "the bulk load.")
    assert "captured plan" not in first
    fail["diagnosis"] = "cold cache"
    assert findings(s)[0].endswith("— cold cache.")
    fail["diagnosis"] = {"unexpected": 1}  # unknown shape: fall back to the data
    for v in s["verdicts"]:
        if v is not fail:
            v.pop("diagnosis", None)
    assert "captured plan" in findings(s)[0]
    # the shape the diagnosis step writes: its text says cause and remedy
    fail["diagnosis"] = {"plan": {"role": "tail"}, "causes": [{"code": "io_bound", "text": "x"}],
                         "remedies": [{"variant": "indexed", "what": "an index"}],
                         "text": "81% of the time was I/O. Remedy: variant indexed (an index)."}
    assert findings(s)[0].endswith("— 81% of the time was I/O — remedy: variant indexed.")
    fail["diagnosis"] = {"plan": None, "causes": [], "remedies": [],
                         "text": "no plan was captured for this group, so no diagnosis"}
    assert "captured plan" in findings(s)[0]  # nothing found: what the data shows instead


def test_short_cause_keeps_the_first_clause_and_remedy() -> None:
    text = ("99% of the time was I/O (1,636 blocks, 13.4 MB read); most exclusive time in Index "
            "Scan using a_very_long_index_name on a_partition (601 ms). Remedy: iterative "
            "(ef_search 100 + strict iterative scan); other (more)")
    assert short_cause(text) == ("99% of the time was I/O (1,636 blocks, 13.4 MB read) — "
                                 "remedy: iterative")
    assert short_cause("a; b") == "a; b"
    assert len(short_cause("x" * 400)) <= 150 and short_cause("x" * 400).endswith(" …")
    long = " ".join(["word"] * 80)
    assert len(short_cause(long)) <= 150 and short_cause(long).endswith(" …")


def test_matrix_is_query_by_phase_with_variants_side_by_side(run) -> None:
    _, _, s = run
    table = matrix(s)
    assert table is not None and table.kind == "matrix"
    assert table.headers[0] == "Query"
    assert "after_analyze.warm · a" in table.headers and "after_analyze.warm · b" in table.headers
    assert table.headers.index("before_analyze.cold · a") < table.headers.index(
        "after_analyze.warm · a")
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {"list_incidents", "count_incidents"}
    col = table.headers.index("before_analyze.cold · a")
    fail = next(v for v in s["verdicts"] if v["verdict"] == "FAIL")
    assert rows["list_incidents"][col] == f"❌ {fmt_num(fail['estimate'])} / ≤500"
    kinds = dict(zip([r[0] for r in table.rows], table.cell_kinds, strict=True))
    assert kinds["list_incidents"][col] == "fail"
    assert rows["count_incidents"][col] == "·" and kinds["count_incidents"][col] == "none"
    # every check's verdict is the colour of its cell (one per cell here); the check on the whole
    # run pooled (the default error budget) is a line beside the matrix, not a row and column
    (whole,) = [v for v in s["verdicts"] if is_run_wide(v)]
    assert "all" not in rows and not any(h.startswith("all") for h in table.headers)
    assert run_wide_lines(s) == [line.text for line in first_screen(s)
                                 if isinstance(line, Para) and line.text.startswith("Whole run")]
    assert run_wide_lines(s)[0].startswith(f"Whole run (every query and phase pooled): "
                                           f"{ICONS[whole['verdict']]} {whole['verdict']} — "
                                           "error_rate")
    for v in s["verdicts"]:
        if v is whole:
            continue
        c = table.headers.index(f"{v['phase']} · {v['variant']}")
        assert kinds[v["query"]][c] == {"PASS": "pass", "FAIL": "fail",
                                        "INCONCLUSIVE": "warn"}[v["verdict"]]


def test_markdown_order_verdict_findings_matrix_then_details(run) -> None:
    _, paths, _ = run
    md = paths.report_md.read_text()
    lines = md.splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("**Verdict: ❌ FAIL"))
    bullet = next(i for i, line in enumerate(lines) if line.startswith("- ❌ list"))
    matrix_row = next(i for i, line in enumerate(lines) if line.startswith("| Query |"))
    details = next(i for i, line in enumerate(lines) if line.startswith("<details><summary>All"))
    assert verdict < bullet < matrix_row < details < lines.index("## Run")
    assert lines[matrix_row].startswith("| Query | before\\_analyze.cold · a |")
    assert "| Query | Variant | Phase | Metric |" in "\n".join(lines[details:])


def test_html_matrix_has_coloured_cells(run) -> None:
    _, paths, _ = run
    html = paths.report_html.read_text()
    assert '<table class="matrix" id="matrix">' in html and '<ul class="findings">' in html
    assert html.index('<ul class="findings">') < html.index('id="matrix"') < html.index(
        "<details>")
    assert '<td class="fail">❌' in html and '<td class="pass">✅' in html


def test_console_prints_the_same_order_one_line_per_check(run) -> None:
    _, paths, s = run
    from ctxbench.report.console import print_verdicts

    console = Console(width=160, record=True, force_terminal=False, color_system=None)
    print_verdicts(console, paths)
    text = console.export_text()
    lines = text.splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("Verdict:"))
    bullet = next(i for i, line in enumerate(lines) if line.startswith("• ❌"))
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Query"))
    assert verdict < bullet < header
    # the check table: every row on one line (the "Why" column is cut, not wrapped)
    table_head = next(i for i, line in enumerate(lines) if "Why" in line)
    body = [line for line in lines[table_head + 2:] if line.strip()
            and not line.startswith(("…", " more")) and "more checks" not in line]
    shown = [v for v in s["verdicts"] if v["verdict"] == "FAIL" or (v["query"] == "list_incidents"
             and v["variant"] == "b")]
    assert len(body) == len(shown) and all(line.split()[0] in ("list_incidents",
                                                               "count_incidents")
                                           for line in body)


def test_report_md_stays_under_the_job_summary_limit() -> None:
    big = Table(["a", "b"], [[f"row {i}", "x" * 200] for i in range(6000)])
    blocks = [Heading(1, "t"), Para("Verdict: ✅ PASS", "verdict"), Details("Long", [big]),
              Heading(2, "Tail"), big]
    full = render_markdown(blocks, None)
    assert len(full.encode()) > 2 * 1024 * 1024
    fitted = render_markdown(blocks)
    assert len(fitted.encode()) <= 1024 * 1024 - 64 * 1024
    assert fitted.startswith("# t") and "**Verdict: ✅ PASS**" in fitted and LEFT_OUT in fitted
    small = render_markdown(blocks[:2])
    assert LEFT_OUT not in small


def test_incomplete_status_is_not_repeated(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_run(folder, groups={("warm", "q", "default"): (lognormal_ms(5), 100)},
              status="incomplete")
    md = build_reports(folder).report_md.read_text()
    assert "| Status | incomplete |" in md and "incomplete (incomplete)" not in md
    folder2 = tmp_path / "run2"
    write_run(folder2, groups={("warm", "q", "default"): (lognormal_ms(5), 100)},
              status="interrupted")
    assert "| Status | incomplete (interrupted) |" in build_reports(folder2).report_md.read_text()
