"""The default error budget: error_rate <= 1 % over every execution of the run pooled, decided on
exact binomial (Clopper–Pearson) bounds by the real verdict code on synthetic results folders,
and calibrated on simulated runs whose true error rate sits exactly on the budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from ctxbench import scenario as scenarios
from ctxbench.analysis import stats as cstats
from ctxbench.analysis import verdicts
from ctxbench.analysis.budgets import parse_budget, parse_budgets
from ctxbench.analysis.data import Failures, GroupData, GroupKey, pooled_groups
from ctxbench.analysis.summary import build_summary
from ctxbench.analysis.synthetic import uniform_ms, write_run
from ctxbench.analysis.verdicts import FAIL, INCONCLUSIVE, PASS
from ctxbench.config import DEFAULT_ERROR_BUDGET
from ctxbench.errors import UsageError
from ctxbench.report.firstscreen import findings
from ctxbench.results.model import Measurement

CEILING = DEFAULT_ERROR_BUDGET["max"]  # 1 %
# the fewest error-free samples whose exact 97.5 % upper bound is within 1 %
MIN_ERROR_FREE = math.ceil(math.log(0.025) / math.log(1 - CEILING))
QUERIES = ("list_incidents", "get_incident", "semantic_search")
PHASES = ("before_analyze.cold", "after_analyze.warm", "hnsw_warmup")


def _run(path: Path, per_group: int, *, errors: int = 0,
         budgets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run of 3 phases x 3 queries with ``per_group`` successful executions each; ``errors``
    failed executions in one group. Returns the run-wide check's verdict row(s)."""
    groups = {(p, q, "as_shipped"): (uniform_ms(2, 20), per_group) for p in PHASES for q in QUERIES}
    write_run(path, groups=groups, budgets=budgets,
              errors={("after_analyze.warm", "list_incidents", "as_shipped"): errors})
    return build_summary(path)  # type: ignore[return-value]


def _run_wide(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in summary["verdicts"] if (v["query"], v["phase"]) == ("all", "all")]


def test_the_number_behind_the_rule() -> None:
    assert MIN_ERROR_FREE == 368
    assert cstats.rate_bounds(0, 0, 368)[1] <= CEILING < cstats.rate_bounds(0, 0, 367)[1]
    assert cstats.error_free_to_pass(0, 0, CEILING) == 368
    assert cstats.error_free_to_pass(120, 0, CEILING) == 368 - 120


def test_rate_bounds_are_scipys_exact_interval() -> None:
    for n, k in ((10, 0), (368, 0), (400, 3), (1000, 25), (50, 50)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert cstats.rate_bounds(k, k, n) == (pytest.approx(ci.low, abs=1e-12),
                                               pytest.approx(ci.high, abs=1e-12))


def test_an_error_free_run_large_enough_passes(tmp_path: Path) -> None:
    s = _run(tmp_path / "r", 80)  # 9 groups x 80 = 720 executions, each its own sample
    (v,) = _run_wide(s)
    assert v["verdict"] == PASS and v["budget_source"] == "default"
    assert (v["metric"], v["threshold"], v["n"], v["estimate"]) == ("error_rate", CEILING, 720, 0)
    assert v["ci_high"] == pytest.approx(cstats.rate_bounds(0, 0, 720)[1])
    # a check, not a group: the latency tables do not get a row mixing cold, warm and HNSW
    assert all(g["phase"] != "all" for g in s["groups"])
    assert s["verdict"]["counts"][PASS] == len(s["verdicts"]) and not s["verdict"]["problems"]


def test_errors_well_above_one_percent_fail(tmp_path: Path) -> None:
    s = _run(tmp_path / "r", 50, errors=25)  # 25 of 475 = 5.3 %
    (v,) = _run_wide(s)
    assert v["verdict"] == FAIL and v["n"] == 475 and v["estimate"] == pytest.approx(25 / 475)
    assert v["ci_low"] > CEILING and s["verdict"]["overall"] == FAIL
    first = findings(s)[0]  # the report's first finding names where, and what the data shows
    assert first.startswith("❌ the whole run (every query and phase): error_rate")
    assert "25 failed executions in 1 groups" in first


def test_a_small_run_is_inconclusive_and_says_how_many_more_would_decide_it(tmp_path: Path) -> None:
    s = _run(tmp_path / "r", 10)  # 90 error-free executions
    (v,) = _run_wide(s)
    assert v["verdict"] == INCONCLUSIVE and v["n"] == 90
    assert f"about {MIN_ERROR_FREE - 90} more error-free samples would decide it" in v["reason"]
    # a few errors: more error-free samples would still decide it, and the message says how many
    s = _run(tmp_path / "e", 100, errors=6)  # 6 of 906: 0.66 %, bounds straddle 1 %
    (v,) = _run_wide(s)
    more = cstats.error_free_to_pass(906, 6, CEILING)
    assert v["verdict"] == INCONCLUSIVE and more is not None and more > 0
    assert f"about {more} more error-free samples would decide it" in v["reason"]
    assert cstats.rate_bounds(6, 6, 906 + more)[1] <= CEILING < cstats.rate_bounds(6, 6, 905 + more)[1]


def test_a_scenario_budget_overrides_or_switches_off_the_default(tmp_path: Path) -> None:
    own = {"query": "all", "phase": "all", "metric": "error_rate", "max": 0.10}
    s = _run(tmp_path / "own", 10, errors=3, budgets=[own])  # 3 of 93: 3.2 % < 10 %
    (v,) = _run_wide(s)
    assert (v["threshold"], v["budget_source"], v["verdict"]) == (0.10, "scenario", PASS)
    off = {**own, "max": None}
    assert _run_wide(_run(tmp_path / "off", 10, budgets=[off])) == []
    # the same through a scenario file, as a user writes it
    sc = scenarios.load_text('[[budgets]]\nquery = "all"\nphase = "all"\nmetric = "error_rate"\n'
                             'off = true\n', "off.toml")
    assert sc.resolved_budgets()[1] == {**DEFAULT_ERROR_BUDGET, "variant": "*"}  # default first
    assert _run_wide(_run(tmp_path / "toml", 10, budgets=sc.resolved_budgets())) == []
    # budgets on other groups leave the run-wide default in place
    per_query = {"query": "*", "phase": "*", "metric": "error_rate", "max": 0.5}
    (v,) = _run_wide(_run(tmp_path / "pq", 50, budgets=[per_query]))
    assert v["budget_source"] == "default" and v["verdict"] == PASS


@pytest.mark.parametrize("entry", [
    {"query": "list_incidents", "phase": "all", "metric": "error_rate", "max": 0.01},
    {"query": "all", "phase": "all", "metric": "p95", "max": 500},
])
def test_phase_all_takes_only_the_pooled_error_rate(entry: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="'all' pools every execution of the run"):
        parse_budget(entry)
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in entry.items())
    with pytest.raises(UsageError, match="every execution of the run"):
        scenarios.load_text(f"[[budgets]]\n{body}", "bad.toml")


def test_phase_all_is_matched_by_name_only() -> None:
    budgets = parse_budgets([{"query": "*", "phase": "*", "metric": "error_rate", "max": 0.5},
                             {"query": "a*", "phase": "a*", "metric": "p95", "max": 1.0}])
    from ctxbench.analysis.budgets import resolve

    got = resolve(budgets, "all", "all", "all")
    assert [(b.metric, b.threshold, b.source) for b in got] == [("error_rate", CEILING, "default")]
    assert all(b.phase != "all" for b in resolve(budgets, "list_incidents", "after_analyze.warm"))


def _group(query: str, phase: str, ok: list[str], failed: list[str]) -> GroupData:
    g = GroupData(GroupKey(query, "v", phase))
    for i, pid in enumerate(ok):
        g.add(Measurement("r", phase, query, "v", pid, i, latency_ns=10**6, rows=1))
    for i, pid in enumerate(failed):
        g.add(Measurement("r", phase, query, "v", pid, 100 + i, latency_ns=0, rows=0, ok=False,
                          error="canceling statement due to statement timeout"))
    return g


def test_repeats_of_a_parameter_set_count_once_with_bounds_on_both_sides() -> None:
    """A set measured twice is one sample: failed (for the upper bound) if either execution
    failed, failed (for the lower bound) only if both did. Load groups count executions."""
    warm = _group("q", "warm", ["a", "a", "b", "c"], ["b", "d", "d"])
    assert warm.failures() == Failures(samples=4, any_failed=2, all_failed=1, executions=7,
                                       errors=3)
    load = _group("q", "load", ["a", "a", "b"], ["a"])
    assert load.failures() == Failures(4, 1, 1, 4, 1)
    groups = {g.key: g for g in (warm, load)}
    (key, everything), = pooled_groups(groups, lambda *_: False, run_wide=True).items()
    assert (key.query, key.phase) == ("all", "all")
    assert everything.failures() == Failures(8, 3, 2, 11, 4)  # each part with its own unit
    assert everything.n_distinct == 4 + 2  # sets kept apart per group, not merged across phases


def test_a_group_with_no_successful_samples_still_fails(tmp_path: Path) -> None:
    """Every execution of a group failed: its latency budget FAILs ("no successful samples"),
    and the run-wide error rate FAILs with it."""
    write_run(tmp_path / "r", groups={("warm", "q", "as_shipped"): (uniform_ms(1, 2), 0)},
              errors={("warm", "q", "as_shipped"): 12})
    s = build_summary(tmp_path / "r")
    by_metric = {v["metric"]: v for v in s["verdicts"]}
    assert by_metric["p95"]["verdict"] == FAIL
    assert "no successful samples" in by_metric["p95"]["reason"]
    assert by_metric["error_rate"]["verdict"] == FAIL and by_metric["error_rate"]["n"] == 12


def test_a_capacity_run_switches_the_run_wide_check_off(tmp_path: Path) -> None:
    """A capacity search runs the rate past capacity on purpose: its report switches every
    budget off (labels mode=capacity), the run-wide error budget included."""
    from ctxbench.load.meta import run_budgets
    from ctxbench.load.settings import LoadSettings

    sc = scenarios.load_text('name = "cap"\n', "<test>")
    budgets = run_budgets(sc, LoadSettings.from_scenario(sc, mode="capacity"))
    key = ("load", "list_incidents", "as_shipped")
    write_run(tmp_path / "cap", groups={key: (uniform_ms(1, 2), 50)}, errors={key: 20},
              labels={key: {"mode": "capacity"}}, budgets=budgets)
    assert _run_wide(build_summary(tmp_path / "cap")) == []
    write_run(tmp_path / "closed", groups={key: (uniform_ms(1, 2), 50)}, errors={key: 20},
              labels={key: {"mode": "closed"}}, budgets=sc.resolved_budgets())
    (v,) = _run_wide(build_summary(tmp_path / "closed"))
    assert v["verdict"] == FAIL and v["labels"] == {"mode": "closed"}


# -- calibration -------------------------------------------------------------------------------

RUNS = 4000
ALPHA = 0.025
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)


def _verdict_rates(n: int, p: float, *, repeats: int = 1, spread: bool = False,
                   seed: int = 0) -> dict[str, float]:
    """Simulated runs of n independent samples with true per-execution error rate p, judged by
    the real code (``error_rate_estimate`` + ``decide``) against the default budget. With
    ``repeats`` > 1 each sample is a parameter set executed that many times; ``spread`` gives
    the sets different failure probabilities (mean p: a few bad sets, most clean)."""
    budget = parse_budget(DEFAULT_ERROR_BUDGET)
    rng = np.random.default_rng([seed, n, repeats, int(spread)])
    # spread: 1 set in 5 fails with probability 5p, the others never
    probs = (np.where(rng.random((RUNS, n)) < 0.2, 5 * p, 0.0) if spread
             else np.full((RUNS, n), p))
    fails = rng.random((RUNS, n, repeats)) < probs[..., None]
    out = {PASS: 0, FAIL: 0, INCONCLUSIVE: 0}
    for run in fails:
        per_set = run.sum(axis=1)
        f = Failures(n, int((per_set > 0).sum()), int((per_set == repeats).sum()), n * repeats,
                     int(per_set.sum()))
        est = verdicts.error_rate_estimate(f)
        out[verdicts.decide(budget, est, f.samples, errors=f.errors, failures=f).verdict] += 1
    return {k: v / RUNS for k, v in out.items()}


@pytest.mark.parametrize("n", [368, 1000, 3000])
def test_a_true_error_rate_of_one_percent_rarely_passes_or_fails(n: int) -> None:
    """True rate exactly on the budget (1 %): a PASS and a FAIL are each wrong, and each must
    happen at most 2.5 % of the time plus three Monte-Carlo standard errors."""
    edge = _verdict_rates(n, CEILING)
    print(f"\nerror_rate 1 % on the edge, n={n}: PASS {edge[PASS]:.4f} FAIL {edge[FAIL]:.4f}")
    assert edge[PASS] <= TOLERANCE, edge
    assert edge[FAIL] <= TOLERANCE, edge


def test_repeated_parameter_sets_keep_the_calibration() -> None:
    """Sets executed twice, failures concentrated on a fifth of them (mean rate 1 %): counted
    per set, the rule still errs at most 2.5 %. Counted per execution as if independent, the
    same runs FAIL far more often than that (the reason sets are the unit)."""
    edge = _verdict_rates(1000, CEILING, repeats=2, spread=True)
    assert edge[PASS] <= TOLERANCE and edge[FAIL] <= TOLERANCE, edge
    rng = np.random.default_rng(9)
    budget = parse_budget(DEFAULT_ERROR_BUDGET)
    naive_fail = 0
    for _ in range(RUNS):
        probs = np.where(rng.random(1000) < 0.2, 5 * CEILING, 0.0)
        # a set's two executions fail together (a deterministic timeout on a slow set)
        k = 2 * int((rng.random(1000) < probs).sum())
        f = Failures(2000, k, k, 2000, k)
        est = verdicts.error_rate_estimate(f)
        naive_fail += verdicts.decide(budget, est, 2000, failures=f).verdict == FAIL
    assert naive_fail / RUNS > TOLERANCE + 0.02, naive_fail / RUNS


def test_the_rule_has_power() -> None:
    """Not merely cautious: a clean service (0.1 % errors) PASSes most runs of 1,000 samples,
    and a 3 % one FAILs most of them."""
    assert _verdict_rates(1000, 0.001, seed=1)[PASS] > 0.8
    assert _verdict_rates(1000, 0.03, seed=2)[FAIL] > 0.8
