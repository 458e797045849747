"""Reports from synthetic results folders: content, validity, idempotence, exit codes."""

from __future__ import annotations

import base64
import csv
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli

from ctxbench.analysis.summary import build_summary
from ctxbench.analysis.synthetic import (
    index_plan,
    lognormal_ms,
    seq_plan,
    uniform_ms,
    write_run,
)
from ctxbench.errors import UsageError
from ctxbench.report.build import build_reports

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"




def curve(rng: np.random.Generator, n: int) -> np.ndarray:
    """A warm-up curve: slow first searches decaying to ~2 ms (positions 1..n)."""
    return 2 + 90 * np.exp(-np.arange(n) / 3.0) + rng.uniform(0, 0.3, n)


def full_run(path: Path, *, status: str = "complete") -> Path:
    """Every phase the runner writes, with the runner's phase names and labels."""
    key = ("before_analyze.warm", "list_incidents", "as_shipped")
    groups = {
        ("cold", "list_incidents", "as_shipped"): (lognormal_ms(240), 30),
        ("warm", "list_incidents", "as_shipped"): (lognormal_ms(7), 300),
        ("cold", "count_incidents", "as_shipped"): (lognormal_ms(700), 30),
        ("warm", "count_incidents", "as_shipped"): (lognormal_ms(6), 300),
        ("before_analyze.cold", "list_incidents", "as_shipped"): (lognormal_ms(250), 20),
        key: (lognormal_ms(9), 100),
        ("after_analyze.cold", "list_incidents", "as_shipped"): (lognormal_ms(200), 20),
        ("after_analyze.warm", "list_incidents", "as_shipped"): (lognormal_ms(5), 100),
        ("hnsw_warmup", "semantic_search", "as_shipped"): (curve, 20),
    }
    labels = {k: {"cache": k[0].rsplit(".", 1)[-1]} for k in groups if "." in k[0]}
    labels[("hnsw_warmup", "semantic_search", "as_shipped")] = {"prewarm": "none"}
    plans = {("cold", "list_incidents", "as_shipped"): index_plan(read=4000, ms=230),
             ("warm", "list_incidents", "as_shipped"): index_plan(),
             ("before_analyze.warm", "list_incidents", "as_shipped"): seq_plan(),
             ("after_analyze.warm", "list_incidents", "as_shipped"): index_plan()}
    write_run(path, groups=groups, labels=labels, plans=plans, status=status,
              errors={("warm", "list_incidents", "as_shipped"): 2})
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    folder = full_run(tmp_path_factory.mktemp("report") / "run")
    return folder, build_reports(folder)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    VOID = frozenset({"img", "meta", "br", "hr", "input", "link"})

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def test_all_files_are_written(built) -> None:
    folder, paths = built
    for path in paths.files():
        assert path.exists() and path.stat().st_size > 0, path
    assert {p.name for p in paths.plot_files} >= {"cold-vs-warm.png", "hnsw-warmup.png",
                                                  "before-after-analyze.png"}
    assert paths.folder == folder


def test_summary_shape(built) -> None:
    _folder, paths = built
    s = json.loads(paths.summary.read_text())
    assert s["schema_version"] == 1
    assert {"run", "phases", "analysis", "budgets", "groups", "verdicts", "plans",
            "plan_changes", "cold_warm", "before_after", "hnsw_warmup", "verdict"} <= set(s)
    # count_incidents cold ~700 ms: a failed p95 ≤ 500 ms budget even with 30 samples
    assert s["verdict"]["overall"] == "FAIL"
    fail = [v for v in s["verdicts"] if v["verdict"] == "FAIL"]
    assert [(v["query"], v["phase"]) for v in fail] == [("count_incidents", "cold")]
    # the 30 list cold samples are far under budget but too few to PASS a p95
    list_cold = next(v for v in s["verdicts"]
                     if (v["query"], v["phase"]) == ("list_incidents", "cold"))
    assert list_cold["verdict"] == "INCONCLUSIVE" and "too few" in list_cold["reason"]
    assert s["verdicts"][0]["verdict"] == "FAIL"  # worst first
    warm = next(g for g in s["groups"] if (g["query"], g["phase"]) == ("list_incidents", "warm"))
    assert warm["n"] == 300 and warm["n_errors"] == 2 and warm["n_warmup"] == 3
    assert warm["rows"]["empty_fraction"] == 0
    pairs = {(p["query"], p["context"]) for p in s["cold_warm"]}
    assert pairs == {("list_incidents", ""), ("count_incidents", ""),
                     ("list_incidents", "before_analyze"), ("list_incidents", "after_analyze")}
    list_pair = next(p for p in s["cold_warm"] if p["context"] == "" and
                     p["query"] == "list_incidents")
    assert list_pair["ratio"] > 10 and list_pair["cold"]["plan"]["shared_read"] > 0
    assert {p["context"] for p in s["before_after"]} == {"cold", "warm"}
    (change,) = s["plan_changes"]
    assert change["kind"] == "before → after ANALYZE"
    assert change["change"].startswith("Seq Scan → Index Scan")
    (hnsw,) = s["hnsw_warmup"]
    assert hnsw["prewarm"] == "none" and hnsw["first_ms"] > 10 * hnsw["steady_ms"]
    # 20 searches of a curve decaying with time constant 3: its last quarter is still ~40 %
    # below the one before, so the one steady-state rule (analysis.warmup) refuses it
    assert not hnsw["steady"] and hnsw["queries_to_steady"] is None
    assert hnsw["ms_to_steady"] is None and "still drifting" in hnsw["reason"]
    assert hnsw["reason"] in paths.report_md.read_text()


def test_markdown_starts_with_the_verdict(built) -> None:
    _, paths = built
    md = paths.report_md.read_text()
    lines = md.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert lines[first_table].startswith("| Query | cold | warm |")  # the verdict matrix
    assert "Verdict: ❌ FAIL" in "\n".join(lines[:first_table])
    assert first_table < lines.index("## Run")
    assert "❌ FAIL" in md and "⚠️ INCONCLUSIVE" in md and "✅ PASS" in md
    for heading in ("## Latency by phase", "## Cold vs warm", "## Before vs after ANALYZE",
                    "## Plan changes", "## HNSW warm-up", "## Environment"):
        assert heading in md
    assert "Seq Scan → Index Scan" in md
    assert "INCOMPLETE" not in md


def test_html_is_self_contained_and_well_formed(built) -> None:
    _, paths = built
    html = paths.report_html.read_text()
    parser = _Html()
    parser.feed(html)
    parser.close()
    assert parser.stack == ["html"] or parser.stack == []
    assert "<style>" in html and "<link" not in html and "<script" not in html
    assert len(parser.images) == len(paths.plot_files)
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "Before vs after ANALYZE" in "".join(parser.text)


def test_junit_is_valid_with_one_case_per_check(built) -> None:
    _, paths = built
    summary = paths.summary_data
    root = ET.parse(paths.junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(summary["verdicts"])
    counts = summary["verdict"]["counts"]
    assert len(root.findall(".//failure")) == counts["FAIL"] == int(root.get("failures"))
    assert len(root.findall(".//skipped")) == counts["INCONCLUSIVE"] == int(root.get("skipped"))
    assert int(root.get("tests")) == len(cases)
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("ctxbench.cold", "count_incidents[as_shipped] p95 <= 500 ms") in names
    failure = root.find(".//failure")
    assert "[95% CI" in failure.get("message") and "n=30" in failure.get("message")


def test_latencies_csv_has_every_measurement(built) -> None:
    folder, paths = built
    with paths.latencies_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    total = sum(1 for _ in (folder / "measurements.jsonl").open())
    assert len(rows) == total
    assert "label.cache" in rows[0] and "label.prewarm" in rows[0]
    ok = [r for r in rows if r["ok"] == "1" and r["warmup"] == "0"]
    assert float(ok[0]["latency_ms"]) == pytest.approx(int(ok[0]["latency_ns"]) / 1e6)


def test_rebuild_from_disk_is_byte_identical(built) -> None:
    folder, paths = built
    first = {p.name: p.read_bytes() for p in paths.files()}
    (folder / "report.md").unlink()
    again = build_reports(folder)
    second = {p.name: p.read_bytes() for p in again.files()}
    assert first == second


def test_incomplete_run_is_marked(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_run(folder, groups={("warm", "q", "default"): (lognormal_ms(5), 100)},
              status="incomplete")
    paths = build_reports(folder)
    md = paths.report_md.read_text()
    first_table = md.index("\n|")
    assert "INCOMPLETE RUN" in md[:first_table]
    assert "server went away" in md[:first_table]
    assert paths.verdict == "INCONCLUSIVE"  # no budget failed, but the run did not finish
    root = ET.parse(paths.junit).getroot()
    errors = root.findall(".//error")
    assert len(errors) == 1 and int(root.get("errors")) == 1
    assert "INCOMPLETE" in paths.report_html.read_text()


def test_text_is_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    evil = "<script>alert(1)</script>|x"
    write_run(folder, groups={("warm", evil, "default"): (lognormal_ms(5), 10)})
    paths = build_reports(folder)
    html = paths.report_html.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = paths.report_md.read_text()
    lines = md.splitlines()
    i = next(i for i, line in enumerate(lines) if "alert" in line and line.startswith("|"))
    header = next(lines[j] for j in range(i, -1, -1) if lines[j].startswith("|---"))
    assert lines[i].count(" | ") == header.count("|") - 2  # the pipe did not add a cell
    ET.parse(paths.junit)


def test_missing_or_foreign_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such results folder"):
        build_reports(tmp_path / "nope")
    with pytest.raises(UsageError, match=str(tmp_path)):
        build_reports(tmp_path)


def test_budgets_from_meta_drive_the_verdicts(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_run(folder, groups={("warm", "q", "default"): (uniform_ms(1, 1000), 2000)},
              budgets=[{"query": "q", "phase": "warm", "metric": "p50", "max": 100.0},
                       {"query": "*", "phase": "*", "metric": "p95", "max": None},
                       {"query": "q", "phase": "*", "metric": "error_rate", "max": 0.0}])
    s = build_summary(folder)
    verdicts = {v["metric"]: v["verdict"] for v in s["verdicts"]}
    assert verdicts == {"p50": "FAIL", "error_rate": "PASS"}  # p95 switched off


def test_report_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture) -> None:
    ok = tmp_path / "ok"  # 400 error-free samples: enough for the default error_rate <= 1 %
    write_run(ok, groups={("warm", "q", "default"): (lognormal_ms(5), 400)})
    code, out = cli(monkeypatch, capsys, "report", str(ok))
    assert code == 0 and "PASS" in out and "report.md" in out
    unsure = tmp_path / "unsure"
    write_run(unsure, groups={("cold", "q", "default"): (lognormal_ms(200), 20)})
    assert cli(monkeypatch, capsys, "report", str(unsure))[0] == 0
    assert cli(monkeypatch, capsys, "report", str(unsure), "--strict")[0] == 1
    bad = tmp_path / "bad"
    write_run(bad, groups={("warm", "q", "default"): (lognormal_ms(900), 200)})
    code, out = cli(monkeypatch, capsys, "report", str(bad))
    assert code == 1 and "FAIL" in out
    code, out = cli(monkeypatch, capsys, "report", str(tmp_path / "missing"))
    assert code == 2 and "missing" in out


def test_an_open_bound_is_shown_as_open() -> None:
    """Too few samples for a percentile's upper bound: shown as ∞, not as a bare dash."""
    from ctxbench.report.content import fmt_est

    assert fmt_est({"value": 313.2, "lo": 168.0, "hi": None}) == "313 [168–∞]"
    assert fmt_est({"value": 2.5, "lo": 2.38, "hi": 3.66}) == "2.50 [2.38–3.66]"
