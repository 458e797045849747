"""Scenario validation: every shipped scenario loads; bad input names file, key, value, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxbench import scenario
from ctxbench.errors import UsageError

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    sc = scenario.load(path)
    assert sc.name == path.stem
    assert sc.text == path.read_text()
    budgets = sc.resolved_budgets()
    assert budgets[0] == {"query": "*", "phase": "*", "variant": "*", "metric": "p95", "max": 500.0}


def test_smoke_is_small_enough_for_ci() -> None:
    assert scenario.find("smoke").dataset.scale <= 20000
    assert scenario.find(None).name == "smoke"


def test_nightly_and_1m_scales() -> None:
    assert scenario.find("nightly").dataset.scale >= 200_000
    assert scenario.find("scale-1m").dataset.scale == 1_000_000


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[dataset]\nscale = 0", ["dataset.scale", "0", "1000 .. 10000000"]),
        ("[dataset]\nscale = 'big'", ["dataset.scale", "'big'", "integer"]),
        ("[dataset]\nscael = 5", ["dataset.scael", "unknown key", "scale"]),
        ("colour = 'blue'", ["'colour'", "unknown key"]),
        ("[database]\nbackend = 'mysql'", ["database.backend", "'mysql'", "embedded, dsn, testcontainers"]),
        ("[phases]\nrun = ['hot']", ["phases.run[0]", "'hot'", "before_analyze"]),
        ("[phases.hnsw_warmup]\nmodes = ['all']", ["phases.hnsw_warmup.modes[0]", "index+heap"]),
        ("[dataset]\nanchor = '2025-13-01'", ["dataset.anchor", "YYYY-MM-DD"]),
        ("[[budgets]]\nmetric = 'p95'", ["budgets[0]", "exactly one of max"]),
        ("[[budgets]]\nmetric = 'p42'\nmax = 1", ["budgets[0].metric", "'p42'", "p95"]),
        ("[[budgets]]\nphase = 'lukewarm'\nmax = 1", ["budgets[0].phase", "'lukewarm'", "*.warm"]),
        ("[dataset\nscale = 1", ["not valid TOML"]),
        ("[output]\nstrict = 'yes'", ["output.strict", "true or false"]),
    ],
)
def test_bad_scenarios_are_named_precisely(text: str, needles: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        scenario.load_text(text, "bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml:")
    for needle in needles:
        assert needle in message


def test_missing_scenario_lists_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"shipped scenarios: .*smoke"):
        scenario.find("no-such-scenario")
    with pytest.raises(UsageError, match="does not exist"):
        scenario.load(tmp_path / "nope.toml")


def test_budget_glob_patterns_are_accepted() -> None:
    sc = scenario.load_text("[[budgets]]\nphase = 'after_analyze.*'\nmetric = 'p99'\nmax = 800")
    # after the two defaults (p95 <= 500 ms per group, error_rate <= 1 % over the whole run)
    assert sc.resolved_budgets()[2] == {"query": "*", "phase": "after_analyze.*", "variant": "*",
                                        "metric": "p99", "max": 800.0}


def test_a_budget_can_be_switched_off_and_off_excludes_a_threshold() -> None:
    sc = scenario.load_text('[[budgets]]\nphase = "*.cold"\nmetric = "p95"\noff = true\n',
                             "<test>")
    assert {"query": "*", "phase": "*.cold", "variant": "*", "metric": "p95",
            "max": None} in sc.resolved_budgets()
    with pytest.raises(UsageError, match="off = true"):
        scenario.load_text('[[budgets]]\nmetric = "p95"\noff = true\nmax = 3\n', "<test>")
