"""Budget resolution and verdict logic, including every way to be INCONCLUSIVE."""

from __future__ import annotations

import numpy as np
import pytest

from ctxbench.analysis import verdicts
from ctxbench.analysis.budgets import (
    DEFAULT_BUDGETS,
    Budget,
    parse_budget,
    parse_budgets,
    resolve,
)
from ctxbench.analysis.stats import Estimate, latency_estimates, samples_to_bound_above
from ctxbench.analysis.verdicts import FAIL, INCONCLUSIVE, PASS, decide
from ctxbench.errors import UsageError


def p95(threshold: float = 500.0) -> Budget:
    return parse_budget({"metric": "p95", "max": threshold})


# -- resolution ---------------------------------------------------------------------------

def test_default_budgets_apply_everywhere() -> None:
    budgets = parse_budgets([])
    (p95_default,) = resolve(budgets, "any_query", "warm")
    assert (p95_default.metric, p95_default.threshold, p95_default.op,
            p95_default.source) == ("p95", 500.0, "max", "default")


def test_most_specific_budget_wins_per_metric() -> None:
    budgets = parse_budgets([
        {"query": "*", "phase": "cold", "metric": "p95", "max": 800},
        {"query": "list_incidents", "phase": "*", "metric": "p95", "max": 300},
        {"query": "list_*", "phase": "*", "metric": "p95", "max": 400},
        {"query": "list_incidents", "phase": "warm", "metric": "p95", "max": 50},
        {"query": "*", "phase": "*", "metric": "p99", "max": 1000},
    ])

    def threshold(query: str, phase: str, metric: str = "p95") -> float | None:
        return next((b.threshold for b in resolve(budgets, query, phase) if b.metric == metric),
                    None)

    assert threshold("list_incidents", "warm") == 50  # exact query and phase
    assert threshold("list_incidents", "cold") == 300  # the query is more specific than phase
    assert threshold("list_other", "warm") == 400  # glob beats *
    assert threshold("count", "cold") == 800
    assert threshold("count", "warm") == 500  # the default
    assert threshold("count", "warm", "p99") == 1000


def test_later_budget_wins_a_tie_and_null_switches_off() -> None:
    budgets = parse_budgets([{"metric": "p95", "max": 200},
                             {"query": "trend", "metric": "p95", "max": None}])
    assert [(b.metric, b.threshold) for b in resolve(budgets, "list", "warm")] == [("p95", 200)]
    assert resolve(budgets, "trend", "warm") == []


def test_parent_phase_covers_sub_phases_but_exact_wins() -> None:
    budgets = parse_budgets([
        {"phase": "after_analyze", "metric": "p95", "max": 100},
        {"phase": "after_analyze.cold", "metric": "p95", "max": 900},
    ])
    assert resolve(budgets, "q", "after_analyze.warm")[0].threshold == 100
    assert resolve(budgets, "q", "after_analyze.cold")[0].threshold == 900
    assert resolve(budgets, "q", "after_analyzed")[0].threshold == 500  # not a sub-phase


def test_labels_and_variant_narrow_a_budget() -> None:
    budgets = parse_budgets([
        {"phase": "hnsw_warmup", "labels": {"prewarm": "none"}, "metric": "p95", "max": None},
        {"variant": "tuned", "metric": "p50", "max": 10},
    ])
    assert resolve(budgets, "s", "hnsw_warmup", labels={"prewarm": "none"}) == []
    assert [b.threshold for b in resolve(budgets, "s", "hnsw_warmup",
                                         labels={"prewarm": "index"})] == [500]
    assert {b.metric for b in resolve(budgets, "s", "warm", "tuned")} == {"p95", "p50"}
    assert {b.metric for b in resolve(budgets, "s", "warm", "default")} == {"p95"}


def test_a_restated_default_is_not_duplicated() -> None:
    given = [{"query": "*", "phase": "*", "variant": "*", "metric": "p95", "max": 500.0}]
    budgets = parse_budgets(given)
    assert len(budgets) == len(DEFAULT_BUDGETS)


@pytest.mark.parametrize(("entry", "fragment"), [
    ({"metric": "p95"}, "exactly one of 'max'"),
    ({"metric": "p95", "max": 1, "min": 0}, "exactly one of 'max'"),
    ({"metric": "p95", "max": "fast"}, "not a number"),
    ({"metric": "p95", "max": -1}, "out of range"),
    ({"metric": "error_rate", "max": 5}, "0..1"),
    ({"metric": "p100", "max": 5}, "not a percentile"),
    ({"metric": "p95", "max": 5, "speed": 1}, "unknown key 'speed'"),
    ({"metric": "", "max": 5}, "not a metric"),
    ({"metric": "p95", "max": 5, "query": ""}, "query"),
])
def test_invalid_budgets_name_the_problem(entry: dict, fragment: str) -> None:
    with pytest.raises(UsageError, match="budgets\\[0\\]") as exc:
        parse_budgets([entry])
    assert fragment in str(exc.value)


# -- verdicts -----------------------------------------------------------------------------

def _est(x: np.ndarray, metric: str = "p95") -> Estimate:
    return latency_estimates(x, seed=1)[metric]


def test_pass_fail_and_straddle() -> None:
    rng = np.random.default_rng(0)
    fast = rng.uniform(1, 100, 500)
    slow = rng.uniform(600, 900, 500)
    edge = rng.uniform(0, 1000, 500)  # true p95 = 950
    assert decide(p95(), _est(fast), 500).verdict == PASS
    assert decide(p95(), _est(slow), 500).verdict == FAIL
    e = _est(edge)
    straddling = p95(float(e.value))  # a threshold at the estimate lies inside the interval
    d = decide(straddling, e, 500)
    assert d.verdict == INCONCLUSIVE and "straddle" in d.reason


def test_too_few_samples_cannot_pass_a_high_percentile() -> None:
    need = samples_to_bound_above(0.95)
    x = np.full(need - 1, 5.0)
    d = decide(p95(), _est(x), x.size)
    assert d.verdict == INCONCLUSIVE and "too few samples" in d.reason
    x = np.full(need, 5.0)
    assert decide(p95(), _est(x), x.size).verdict == PASS


def test_few_samples_can_still_prove_a_failure() -> None:
    x = np.random.default_rng(2).uniform(700, 900, 10)
    assert decide(p95(), _est(x), x.size).verdict == FAIL


def test_no_samples_is_inconclusive_but_only_failures_fail() -> None:
    d = decide(p95(), None, 0)
    assert d.verdict == INCONCLUSIVE and "no successful samples" in d.reason
    d = decide(p95(), None, 4, errors=4)
    assert d.verdict == FAIL and "4 failed" in d.reason


def test_max_budget_fails_on_one_sample_over() -> None:
    budget = parse_budget({"metric": "max", "max": 100})
    x = np.array([5.0, 6.0, 250.0])
    assert decide(budget, _est(x, "max"), 3).verdict == FAIL
    ok = np.full(3, 5.0)
    assert decide(budget, _est(ok, "max"), 3).verdict == INCONCLUSIVE  # fewer than the floor
    ok = np.full(verdicts.MIN_SAMPLES, 5.0)
    assert decide(budget, _est(ok, "max"), ok.size).verdict == PASS


def test_min_budgets_mirror_max_budgets() -> None:
    recall = parse_budget({"metric": "recall", "min": 0.9})
    assert decide(recall, Estimate(0.97, 0.95, 0.99), 50).verdict == PASS
    assert decide(recall, Estimate(0.5, 0.4, 0.6), 50).verdict == FAIL
    assert decide(recall, Estimate(0.91, 0.85, 0.95), 50).verdict == INCONCLUSIVE
    assert decide(recall, Estimate(0.97, 0.95, 0.99), 3).verdict == INCONCLUSIVE


def test_error_rate_budgets() -> None:
    strict = parse_budget({"metric": "error_rate", "max": 0})
    assert decide(strict, Estimate(0.0, 0.0, 0.03), 100).verdict == PASS
    assert decide(strict, Estimate(0.01, 0.001, 0.05), 100).verdict == FAIL
    loose = parse_budget({"metric": "error_rate", "max": 0.05})
    assert decide(loose, Estimate(0.0, 0.0, 0.0037), 1000).verdict == PASS
    assert decide(loose, Estimate(0.2, 0.15, 0.26), 200).verdict == FAIL
    assert decide(loose, Estimate(0.03, 0.01, 0.08), 100).verdict == INCONCLUSIVE


def test_overall_verdict_and_exit_codes() -> None:
    assert verdicts.overall([PASS, PASS]) == PASS
    assert verdicts.overall([PASS, INCONCLUSIVE]) == INCONCLUSIVE
    assert verdicts.overall([INCONCLUSIVE, FAIL, PASS]) == FAIL
    assert verdicts.overall([PASS], complete=False) == INCONCLUSIVE
    assert verdicts.overall([]) == PASS
    assert verdicts.exit_code(PASS) == 0
    assert verdicts.exit_code(FAIL) == 1
    assert verdicts.exit_code(INCONCLUSIVE) == 0
    assert verdicts.exit_code(INCONCLUSIVE, strict=True) == 1


def test_a_budget_on_query_all_is_judged_on_every_querys_executions_pooled(tmp_path) -> None:
    """The service's SLOs are about all its traffic: 'all' pools the phase's queries, so a p99 or
    a 1 % error rate gets the samples no single query has, and failed requests count."""
    import json

    from ctxbench.analysis.summary import build_summary
    from ctxbench.analysis.synthetic import uniform_ms, write_run

    groups = {("load", q, "as_shipped"): (uniform_ms(5, 15), 200)
              for q in ("list_incidents", "get_incident")}
    groups[("warm", "list_incidents", "as_shipped")] = (uniform_ms(5, 15), 100)
    budgets = [{"query": "all", "phase": "load", "metric": "p99", "max": 100.0},
               {"query": "all", "phase": "load", "metric": "error_rate", "max": 0.05}]

    def judged(name: str, errors: int) -> tuple[dict, dict]:
        write_run(tmp_path / name, groups=groups, budgets=budgets,
                  errors={("load", "get_incident", "as_shipped"): errors})
        s = build_summary(tmp_path / name)
        json.dumps(s)
        pooled = [g for g in s["groups"] if g["query"] == "all"]
        assert [g["phase"] for g in pooled] == ["load"]  # only where an 'all' budget applies
        assert pooled[0]["n"] == 400 and pooled[0]["n_errors"] == errors
        assert not s["verdict"]["problems"]
        return s, {(v["query"], v["metric"]): v["verdict"] for v in s["verdicts"]}

    _, clean = judged("clean", 0)
    assert clean[("all", "p99")] == "PASS" and clean[("all", "error_rate")] == "PASS"
    assert ("list_incidents", "p99") not in clean  # per query: no p99 budget applies
    # three failures are censored at +inf: the p99's upper bound (one of the top few of 403)
    # is no longer finite, so the pooled p99 cannot PASS; 3/403 errors still pass 5 %
    _, failing = judged("failing", 3)
    assert failing[("all", "p99")] != "PASS" and failing[("all", "error_rate")] == "PASS"


def test_pooled_parameter_sets_stay_apart_per_query() -> None:
    from ctxbench.analysis.data import GroupData, GroupKey, pooled_groups
    from ctxbench.results.model import Measurement

    groups = {}
    for q in ("a", "b"):
        g = GroupData(GroupKey(q, "v", "warm"))
        for i, ms in enumerate((1.0, 2.0, 3.0)):
            g.add(Measurement("r", "warm", q, "v", f"p{i}", 1, latency_ns=int(ms * 1e6), rows=1))
        groups[g.key] = g
    pooled = pooled_groups(groups, lambda phase, labels: phase == "warm")
    (key, data), = pooled.items()
    assert key.query == "all" and data.n == 6 and data.n_distinct == 6  # p0 of a is not p0 of b
    assert len(data.evidence()[0]) == 6
    assert pooled_groups(groups, lambda phase, labels: False) == {}
