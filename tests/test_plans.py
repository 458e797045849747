"""Plan summaries, fingerprints and diffs; the plan CLI; one check against real EXPLAIN output."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from cli_helpers import cli
from typer.testing import CliRunner

from ctxbench.analysis.plans import diff_plans, misestimates, short_change
from ctxbench.analysis.synthetic import (
    explain,
    index_plan,
    lognormal_ms,
    plan_node,
    seq_plan,
    write_run,
)
from ctxbench.cli import app
from ctxbench.errors import UsageError
from ctxbench.results.explain import summarize_plan


def _scale_numbers(node: dict, factor: float) -> None:
    for key in ("Total Cost", "Startup Cost", "Plan Rows", "Actual Rows", "Actual Total Time",
                "Shared Hit Blocks", "Shared Read Blocks"):
        node[key] = node[key] * factor
    for child in node.get("Plans", []):
        _scale_numbers(child, factor)


def test_summary_numbers_come_from_the_root_and_the_header() -> None:
    raw = index_plan(read=40, ms=12.0)
    s = summarize_plan(raw)
    root = raw[0]
    assert s["planning_ms"] == root["Planning Time"]
    assert s["execution_ms"] == root["Execution Time"]
    assert s["shared_hit"] == root["Plan"]["Shared Hit Blocks"]
    assert s["shared_read"] == root["Plan"]["Shared Read Blocks"] == 80  # two partitions x 40
    assert s["io_read_ms"] == pytest.approx(root["Plan"]["Shared I/O Read Time"])
    assert len(s["nodes"]) == len(s["outline"]) == 6
    assert s["outline"][0] == "Limit"
    assert "Index Scan Backward using rat_y2025m09_history_ts_idx on rat_y2025m09" in \
        s["outline"][3]
    assert s["settings"] == {"work_mem": "16MB", "jit": "off"}


def test_summary_accepts_text_dict_and_list_forms() -> None:
    raw = seq_plan()
    a = summarize_plan(raw)
    assert summarize_plan(raw[0])["fingerprint"] == a["fingerprint"]
    assert summarize_plan(json.dumps(raw))["fingerprint"] == a["fingerprint"]
    with pytest.raises(UsageError, match="Plan"):
        summarize_plan({"nothing": 1})
    with pytest.raises(UsageError, match="JSON"):
        summarize_plan("{not json")


def test_fingerprint_ignores_costs_rows_timings_and_buffers() -> None:
    raw = index_plan()
    other = copy.deepcopy(raw)
    _scale_numbers(other[0]["Plan"], 7.5)
    other[0]["Execution Time"] = 999.0
    assert summarize_plan(raw)["fingerprint"] == summarize_plan(other)["fingerprint"]
    assert summarize_plan(index_plan(read=100))["fingerprint"] == \
        summarize_plan(raw)["fingerprint"]


def test_fingerprint_changes_with_node_type_index_or_join_type() -> None:
    base = summarize_plan(index_plan())["fingerprint"]
    assert summarize_plan(seq_plan())["fingerprint"] != base
    renamed = index_plan()
    renamed[0]["Plan"]["Plans"][0]["Plans"][1]["Index Name"] = "another_index"
    assert summarize_plan(renamed)["fingerprint"] != base
    left = index_plan()
    left[0]["Plan"]["Plans"][0]["Join Type"] = "Left"
    s = summarize_plan(left)
    assert s["fingerprint"] != base
    assert s["outline"][1].strip() == "-> Nested Loop Left Join"


def test_node_names_follow_text_explain() -> None:
    agg = explain(plan_node("Aggregate", [plan_node("Seq Scan", relation="t")],
                            Strategy="Hashed"))
    s = summarize_plan(agg)
    assert s["outline"][0] == "HashAggregate"
    par = explain(plan_node("Seq Scan", relation="t", **{"Parallel Aware": True}))
    assert summarize_plan(par)["outline"][0] == "Parallel Seq Scan on t"


def test_older_servers_io_read_time_key() -> None:
    raw = explain(plan_node("Seq Scan", relation="t", read=5))
    node = raw[0]["Plan"]
    node["I/O Read Time"] = node.pop("Shared I/O Read Time")
    assert summarize_plan(raw)["io_read_ms"] == pytest.approx(node["I/O Read Time"])


def test_diff_explains_seq_to_index_scan() -> None:
    a, b = summarize_plan(seq_plan()), summarize_plan(index_plan())
    d = diff_plans(a, b)
    assert not d.same_shape
    text = "\n".join(d.changes)
    assert "Seq Scan → Index Scan Backward on 2 relations" in text
    assert "Seq Scan → Index Scan using rr_pkey on resource_references" in text
    assert "index now used" in text
    assert short_change(a, b).startswith("Seq Scan → Index Scan")
    tags = {tag for _, _, tag in d.rows}
    assert {"same", "changed"} <= tags
    # every node of both plans appears exactly once in the aligned rows
    assert sum(1 for x, _, _ in d.rows if x) == len(a["nodes"])
    assert sum(1 for _, y, _ in d.rows if y) == len(b["nodes"])
    same = diff_plans(a, summarize_plan(seq_plan(read=50)))
    assert same.same_shape and same.changes[0] == "same plan shape"


def test_misestimates_flag_ten_times_off_but_not_under_a_limit() -> None:
    bad = explain(plan_node("Seq Scan", relation="t", rows=10, actual=5000))
    assert misestimates(summarize_plan(bad)["nodes"])
    limited = explain(plan_node("Limit", [plan_node("Seq Scan", relation="t", rows=5000,
                                                    actual=10)], rows=10))
    assert not misestimates(summarize_plan(limited)["nodes"])


@pytest.fixture
def planned_run(tmp_path: Path) -> Path:
    write_run(tmp_path / "run", groups={
        ("before_analyze.warm", "list", "default"): (lognormal_ms(9), 20),
        ("after_analyze.warm", "list", "default"): (lognormal_ms(4), 20)},
        plans={("before_analyze.warm", "list", "default"): seq_plan(),
               ("after_analyze.warm", "list", "default"): index_plan(),
               ("after_analyze.cold", "list", "default"): index_plan(read=300)})
    return tmp_path / "run"


def test_plans_show_and_diff_cli(planned_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["plans", "show", str(planned_run), "--query", "list",
                                 "--phase", "after_analyze"])
    assert result.exit_code == 0, result.output
    assert result.output.count("fingerprint") == 2  # .cold and .warm both match the parent
    md = tmp_path / "diff.md"
    result = runner.invoke(app, ["plans", "diff", str(planned_run), "--query", "list",
                                 "--phase", "before_analyze.warm", "--against",
                                 "after_analyze.warm", "--md", str(md)])
    assert result.exit_code == 0, result.output
    assert "Seq Scan → Index Scan" in result.output
    text = md.read_text()
    assert "| A node |" in text and "plan shape changed" in text


def test_plans_diff_between_runs_and_files(planned_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_run(other, groups={("after_analyze.warm", "list", "default"): (lognormal_ms(4), 5)},
              plans={("after_analyze.warm", "list", "default"): seq_plan()})
    runner = CliRunner()
    result = runner.invoke(app, ["plans", "diff", str(planned_run), str(other), "--query",
                                 "list", "--phase", "after_analyze.warm"])
    assert result.exit_code == 0, result.output
    assert "Index Scan Backward → Seq Scan" in result.output
    fa, fb = tmp_path / "a.json", tmp_path / "b.json"
    fa.write_text(json.dumps(seq_plan()))
    fb.write_text(json.dumps(seq_plan(read=10)))
    result = runner.invoke(app, ["plans", "diff", str(fa), str(fb)])
    assert result.exit_code == 0 and "same plan shape" in result.output




def test_plans_cli_usage_errors(planned_run: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture) -> None:
    run = str(planned_run)
    code, text = cli(monkeypatch, capsys, "plans", "diff", run, "--query", "nope", "--phase",
                     "after_analyze.warm", "--against", "cold")
    assert code == 2 and "no plan for query 'nope'" in text
    code, text = cli(monkeypatch, capsys, "plans", "diff", run, "--query", "list", "--phase",
                     "after_analyze", "--against", "x")
    assert code == 2 and "2 plans match" in text
    code, text = cli(monkeypatch, capsys, "plans", "diff", run)
    assert code == 2 and "--against" in text
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    code, text = cli(monkeypatch, capsys, "plans", "show", str(bad))
    assert code == 2 and "not valid JSON" in text


@pytest.mark.db
def test_real_explain_output_fingerprints(fresh_target) -> None:
    """PostgreSQL's own EXPLAIN JSON: same plan twice → same fingerprint; a forced change of
    access method → a different one, explained."""
    with fresh_target.connect() as conn:
        conn.execute("CREATE TABLE fp_t (id int PRIMARY KEY, ns text)")
        conn.execute("INSERT INTO fp_t SELECT i, 'ns' || (i % 10) FROM generate_series(1, 5000) i")
        conn.execute("ANALYZE fp_t")
        sql = "EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) SELECT * FROM fp_t WHERE id < 20"
        one = summarize_plan(conn.execute(sql).fetchone()[0])
        two = summarize_plan(conn.execute(sql).fetchone()[0])
        conn.execute("SET enable_indexscan = off")
        conn.execute("SET enable_bitmapscan = off")
        forced = summarize_plan(conn.execute(sql).fetchone()[0])
    assert one["fingerprint"] == two["fingerprint"]
    assert one["execution_ms"] > 0 and one["shared_hit"] + one["shared_read"] > 0
    assert "fp_t_pkey" in one["outline"][0]
    assert forced["fingerprint"] != one["fingerprint"]
    assert forced["outline"][0] == "Seq Scan on fp_t"
    assert "Index Scan using fp_t_pkey → Seq Scan on fp_t" in short_change(one, forced)
    assert forced["settings"].get("enable_indexscan") == "off"
