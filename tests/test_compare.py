"""Comparing two runs: a known 2× slowdown, no change, plan and metadata differences, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import cli

from ctxbench.analysis.compare import (
    FASTER,
    SAME,
    SLOWER,
    UNKNOWN,
    compare_runs,
    parse_threshold,
)
from ctxbench.analysis.synthetic import index_plan, lognormal_ms, seq_plan, write_run
from ctxbench.errors import UsageError


def cli_(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    return cli(monkeypatch, capsys, *args, squash=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("compare")

    def groups(list_median: float) -> dict:
        return {("warm", "list_incidents", "default"): (lognormal_ms(list_median), 200),
                ("warm", "count_incidents", "default"): (lognormal_ms(6), 200),
                ("cold", "list_incidents", "default"): (lognormal_ms(240), 3)}

    a = write_run(root / "a", run_id="A", seed=1, groups={
        **groups(7), ("warm", "trend", "default"): (lognormal_ms(3), 50)},
        plans={("warm", "list_incidents", "default"): index_plan()}).path
    b = write_run(root / "b", run_id="B", seed=2, groups={
        **groups(14), ("warm", "semantic_search", "default"): (lognormal_ms(3), 50)},
        plans={("warm", "list_incidents", "default"): seq_plan()},
        meta_overrides={"dataset": {"scale": 5000, "seed": 7, "checksum": "other"},
                        "server": {"server_version": "18.7",
                                   "extensions": {"vector": "0.8.6"},
                                   "settings": {"shared_buffers": "2GB", "jit": "off"}}}).path
    return a, b


def _row(result: dict, query: str, phase: str = "warm") -> dict:
    return next(r for r in result["groups"] if (r["query"], r["phase"]) == (query, phase))


def test_known_slowdown_and_no_change(runs: tuple[Path, Path]) -> None:
    a, b = runs
    result = compare_runs(a, b, threshold=0.05, alpha=0.01)
    slow = _row(result, "list_incidents")
    assert slow["verdict"] == SLOWER
    assert slow["ratio_lo"] <= 2.0 <= slow["ratio_hi"]  # the true ratio of medians is 2
    assert slow["p_raw"] < 1e-6
    tested = sum(r.get("p_raw") is not None for r in result["groups"])
    assert slow["p_raw"] <= slow["p_value"] <= tested * slow["p_raw"] * (1 + 1e-5)  # Holm
    same = _row(result, "count_incidents")
    assert same["verdict"] == SAME
    assert same["ratio_lo"] <= 1.0 <= same["ratio_hi"]
    assert _row(result, "list_incidents", "cold")["verdict"] == UNKNOWN  # 3 samples each
    assert result["regression"] is True
    assert result["counts"][SLOWER] == 1


def test_swapping_runs_mirrors_the_verdict(runs: tuple[Path, Path]) -> None:
    a, b = runs
    result = compare_runs(b, a)
    assert _row(result, "list_incidents")["verdict"] == FASTER
    assert result["regression"] is False


def test_threshold_hides_small_but_significant_changes(runs: tuple[Path, Path]) -> None:
    a, b = runs
    result = compare_runs(a, b, threshold=2.0)  # only a 3× change would count
    assert _row(result, "list_incidents")["verdict"] == SAME


def test_groups_plans_and_metadata_differences_are_listed(runs: tuple[Path, Path]) -> None:
    a, b = runs
    result = compare_runs(a, b)
    assert result["only_in_a"] == ["warm/trend[default]"]
    assert result["only_in_b"] == ["warm/semantic_search[default]"]
    (change,) = result["plan_changes"]
    assert change["query"] == "list_incidents" and "Index Scan" in change["change"]
    text = " ".join(result["warnings"])
    assert "different datasets" in text
    assert "server.server_version differs: 18.6 → 18.7" in text
    assert "shared_buffers 1GB → 2GB" in text


def test_parse_threshold() -> None:
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.1") == pytest.approx(0.1)
    with pytest.raises(UsageError, match="--threshold"):
        parse_threshold("fast")
    with pytest.raises(UsageError, match="out of range"):
        parse_threshold("-3%")


def test_compare_cli(runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture) -> None:
    a, b = runs
    code, out = cli_(monkeypatch, capsys, "compare", str(a), str(b))
    assert code == 0 and "slower" in out
    md = tmp_path / "cmp.md"
    code, _ = cli_(monkeypatch, capsys, "compare", str(a), str(b), "--fail-on-regression",
                  "--md", str(md))
    assert code == 1
    assert "❌ slower" in md.read_text() and "| Group |" in md.read_text()
    code, out = cli_(monkeypatch, capsys, "compare", str(a), str(a), "--json",
                    "--fail-on-regression")
    assert code == 0
    data = json.loads(out)
    assert {r["verdict"] for r in data["groups"]} <= {SAME, UNKNOWN}
    code, out = cli_(monkeypatch, capsys, "compare", str(a), str(tmp_path / "missing"))
    assert code == 2 and "missing" in out
    code, out = cli_(monkeypatch, capsys, "compare", str(a), str(b), "--alpha", "2")
    assert code == 2 and "--alpha" in out
