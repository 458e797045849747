"""Never green by accident: names that resolve to nothing, folders that measured nothing and
budgets that matched nothing are errors (exit 2), not a PASS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import cli

from ctxbench import scenario as scenarios
from ctxbench.analysis.synthetic import lognormal_ms, write_run
from ctxbench.errors import UsageError
from ctxbench.report.build import build_reports
from ctxbench.runs.validate import check_scenario

KEY = ("warm", "list_incidents", "as_shipped")


@pytest.mark.parametrize(("text", "key"), [
    ('[queries]\nvariants = ["nosuchvariant"]\n', "queries.variants[0]"),
    ('[phases]\nrun = []\n', "phases.run"),
    ('[phases]\nrun = ["warm", "warm"]\n', "phases.run[1]"),
    ('[[budgets]]\nquery = "get_incidnet"\nmax = 10\n', "budgets[0].query"),
    ('[[budgets]]\nquery = "list_incidents"\nvariant = "nosuch"\nmax = 10\n', "budgets[0].variant"),
    ('[[budgets]]\nquery = "semantic_search"\nvariant = "zz*"\nmax = 10\n', "budgets[0].variant"),
    ('[queries.weights]\nlist_incidents = -1.0\n', "queries.weights.list_incidents"),
    ('[queries.weights]\nnosuchquery = 1.0\n', "queries.weights.nosuchquery"),
    ('[phases]\nrun = ["hnsw_warmup"]\n[phases.hnsw_warmup]\nquery = "nosuch"\n',
     "phases.hnsw_warmup.query"),
    ('[phases]\nrun = ["hnsw_warmup"]\n[phases.hnsw_warmup]\nvariant = "zzz"\n',
     "phases.hnsw_warmup.variant"),
    ('[database]\nschema_variants = ["nosuch"]\n', "database.schema_variants[0]"),
])
def test_every_name_must_resolve(text: str, key: str) -> None:
    sc = scenarios.load_text('name = "t"\n' + text, "t.toml")
    with pytest.raises(UsageError) as exc:
        check_scenario(sc, "run")
    assert "t.toml" in str(exc.value) and key in str(exc.value)


def test_names_that_resolve_pass() -> None:
    sc = scenarios.load_text('name = "t"\n[[budgets]]\nquery = "semantic_*"\nvariant = "ef*"\nmax = 9\n'
                             '[[budgets]]\nquery = "semantic_search"\nvariant = "ef200_relaxed"\nmax = 9\n'
                             '[queries.weights]\nlist_incidents = 2.0\n', "t.toml")
    check_scenario(sc, "run")


@pytest.mark.parametrize("text", ["max = nan", "max = inf", "max = -inf"])
def test_non_finite_budget_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="finite"):
        scenarios.load_text(f"[[budgets]]\nmetric = 'p95'\n{text}\n", "t.toml")


def test_non_finite_numbers_are_refused_in_every_float_key() -> None:
    for key in ("[load]\nrate = nan", "[load]\nduration_s = inf", "[queries.weights]\nx = nan",
                "[vector]\nthreshold = nan"):
        with pytest.raises(UsageError, match="finite"):
            scenarios.load_text(key + "\n", "t.toml")


def test_an_empty_scenario_file_is_an_error(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# nothing here\n")
    code, out = cli(monkeypatch, capsys, "run", "--scenario", str(path))
    assert code == 2 and "empty" in out and "Traceback" not in out


def test_run_with_an_unknown_variant_exits_2_before_measuring(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "v.toml"
    path.write_text('[queries]\nvariants = ["nosuchvariant"]\n')
    code, out = cli(monkeypatch, capsys, "run", "--scenario", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and "queries.variants[0]" in out and "as_shipped" in out
    assert not (tmp_path / "o").exists()  # nothing started


def test_report_of_a_folder_that_measured_nothing_is_an_error(tmp_path: Path, monkeypatch, capsys) -> None:
    write_run(tmp_path / "empty", groups={})
    code, out = cli(monkeypatch, capsys, "report", str(tmp_path / "empty"))
    assert code == 2 and "nothing was measured" in out
    assert "PASS" not in json.loads((tmp_path / "empty" / "summary.json").read_text())["verdict"]["overall"]
    (tmp_path / "empty" / "measurements.jsonl").unlink(missing_ok=True)
    code, out = cli(monkeypatch, capsys, "report", str(tmp_path / "empty"))
    assert code == 2 and "nothing was measured" in out


def test_a_budget_that_matched_no_group_is_an_error(tmp_path: Path) -> None:
    budgets = [{"query": "*", "phase": "*", "metric": "p95", "max": 500.0},
               {"query": "list_incidents", "phase": "warm", "metric": "p95", "max": 1e6,
                "labels": {"prewarm": "nosuch"}}]
    write_run(tmp_path / "r", groups={KEY: (lognormal_ms(5), 200)}, budgets=budgets)
    reports = build_reports(tmp_path / "r")
    assert reports.exit_code == 2 and reports.verdict != "PASS"
    assert "matched no measured group" in reports.problems[0] and "nosuch" in reports.problems[0]
    budgets[1]["labels"] = {}
    # 400 error-free samples: enough for the default error_rate <= 1 % (368) to PASS too
    write_run(tmp_path / "ok", groups={KEY: (lognormal_ms(5), 400)}, budgets=budgets)
    ok = build_reports(tmp_path / "ok")
    assert ok.problems == [] and ok.exit_code == 0 and ok.verdict == "PASS"


def test_compare_with_no_group_in_common_is_an_error(tmp_path: Path, monkeypatch, capsys) -> None:
    write_run(tmp_path / "a", groups={KEY: (lognormal_ms(5), 50)})
    write_run(tmp_path / "b", groups={("cold", "count_incidents", "as_shipped"): (lognormal_ms(5), 50)})
    code, out = cli(monkeypatch, capsys, "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                    "--fail-on-regression")
    assert code == 2 and "no (query, variant, phase) group in common" in out
    code, out = cli(monkeypatch, capsys, "compare", str(tmp_path / "a"), str(tmp_path / "a"),
                    "--md", str(tmp_path))
    assert code == 2 and "is a folder" in out
