"""Load drivers without a database: arrival schedules, settings, the query mix, capacity
judging, the budgets a capacity run hands to the report, and the load section's analysis."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from ctxbench import scenario as scenarios
from ctxbench.analysis import load as load_analysis
from ctxbench.analysis.budgets import parse_budgets, resolve
from ctxbench.errors import UsageError
from ctxbench.load.capacity import CapacitySearch, thresholds_for
from ctxbench.load.meta import run_budgets
from ctxbench.load.schedule import NS, WARMUP_STEP, Lane, RatePlan
from ctxbench.load.settings import LoadSettings
from ctxbench.load.workload import build_mix, item_name

MS = 1_000_000


def lane(plan: RatePlan, *, lanes: int = 1, index: int = 0, arrival: str = "constant",
         t0: int = 0, seed: int = 1, items: int = 1) -> Lane:
    rng = random.Random(seed)
    return Lane(plan, t0_ns=t0, lanes=lanes, index=index, arrival=arrival, rng=rng,
                pick=lambda: rng.randrange(items), start_ns=t0)


def arrivals_until(ln: Lane, end_ns: int) -> list:
    ln.advance(end_ns)
    out = list(ln.due)
    ln.due.clear()
    return out


# -- rate plans -------------------------------------------------------------------------------

def test_stepped_plan_windows_and_rates() -> None:
    plan = RatePlan(10, 5, 2.0, 30)
    assert plan.n_steps == 5  # 10, 15, 20, 25, 30
    assert [plan.rate_of(k) for k in range(5)] == [10, 15, 20, 25, 30]
    assert plan.step_at(0.0) == 0 and plan.step_at(1.999) == 0 and plan.step_at(2.0) == 1
    assert plan.step_at(9.99) == 4 and plan.step_at(10.0) is None
    assert plan.step_window(3) == (6.0, 8.0)
    assert plan.duration_s == 10.0
    assert RatePlan(7).step_at(1e6) == 0 and math.isinf(RatePlan(7).duration_s)


def test_a_warm_up_period_precedes_step_zero_at_the_start_rate() -> None:
    plan = RatePlan(10, 5, 2.0, 30, warmup_s=3.0)
    assert plan.step_at(0.0) == WARMUP_STEP and plan.step_at(2.999) == WARMUP_STEP
    assert plan.step_at(3.0) == 0 and plan.step_at(4.999) == 0 and plan.step_at(5.0) == 1
    assert plan.step_at(12.999) == 4 and plan.step_at(13.0) is None
    assert plan.step_window(WARMUP_STEP) == (0.0, 3.0)
    assert plan.step_window(0) == (3.0, 5.0) and plan.step_window(3) == (9.0, 11.0)
    assert plan.rate_of(WARMUP_STEP) == plan.rate_of(0) == 10 and plan.n_steps == 5
    assert plan.duration_s == 13.0
    # every step ends warmup_s later than without the warm-up: the search judges it later too
    s = CapacitySearch(plan, metric="p95", thresholds_ms={"q[v]": 100.0}, max_error_rates={})
    assert s.due(3.0 + s.grace_s - 0.01) == [] and s.due(5.0 + s.grace_s) == [0]


def test_rate_plans_without_a_warm_up_read_and_write_as_before() -> None:
    old = {"start_rate": 20.0, "step_rate": 20.0, "step_seconds": 10.0, "max_rate": 400.0}
    plan = RatePlan.from_json(old)  # capacity.json / meta.json written before the warm-up period
    assert plan.warmup_s == 0 and plan.to_json() == old and plan.step_at(0.0) == 0
    warm = RatePlan(10, 10, 15.0, 200, warmup_s=30.0)
    assert RatePlan.from_json(warm.to_json()) == warm and warm.to_json()["warmup_s"] == 30.0
    with pytest.raises(UsageError, match="warm-up"):
        RatePlan(10, warmup_s=5.0)  # an open-loop plan has no warm-up period (first seconds)
    with pytest.raises(UsageError, match="warm-up"):
        RatePlan(10, 10, 1.0, 20, warmup_s=-1.0)


def test_warm_up_arrivals_belong_to_no_step_and_late_ones_are_still_served() -> None:
    plan = RatePlan(10, 10, 1.0, 20, warmup_s=2.0)  # warm-up 2 s at 10/s, then 10/s, 20/s
    got = arrivals_until(lane(plan), 10 * NS)
    assert [sum(a.step == k for a in got) for k in (WARMUP_STEP, 0, 1)] == [20, 10, 20]
    assert all(a.intended_ns < 2 * NS for a in got if a.step == WARMUP_STEP)
    assert all(a.intended_ns >= 2 * NS for a in got if a.step != WARMUP_STEP)
    ln = lane(plan)
    ln.advance(int(2.5 * NS))  # a lane behind: warm-up arrivals are still due at step 0's start
    counts = ln.drain_scheduled()
    assert sum(n for (k, _), n in counts.items() if k == WARMUP_STEP) == 20
    assert sum(n for (k, _), n in counts.items() if k == 0) == 6  # t = 2.0 .. 2.5 s inclusive
    served = [ln.pop(int(2.5 * NS)) for _ in range(27)]
    assert [a.step for a in served if a is not None] == [WARMUP_STEP] * 20 + [0] * 6


@pytest.mark.parametrize("kwargs", [dict(start_rate=0), dict(start_rate=10, step_rate=0, step_seconds=1,
                                                                  max_rate=20),
                                    dict(start_rate=10, step_rate=5, step_seconds=1, max_rate=5)])
def test_impossible_plans_are_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        RatePlan(**kwargs)


# -- lanes ------------------------------------------------------------------------------------

def test_constant_lanes_interleave_into_an_even_stream() -> None:
    rate, lanes = 40.0, 4
    plan = RatePlan(rate)
    merged = sorted(a.intended_ns for i in range(lanes)
                    for a in arrivals_until(lane(plan, lanes=lanes, index=i), 2 * NS))
    gaps = {round((b - a) / MS, 3) for a, b in itertools.pairwise(merged)}
    assert gaps == {1000 / rate}  # every 25 ms, across the 4 lanes
    assert len(merged) == int(2 * rate) + 1  # t = 0, 25 ms, ..., 2 s inclusive


def test_poisson_lanes_keep_the_target_rate() -> None:
    rate, lanes, seconds = 200.0, 5, 50
    counts = [len(arrivals_until(lane(RatePlan(rate), lanes=lanes, index=i, arrival="poisson", seed=i),
                                 seconds * NS)) for i in range(lanes)]
    total = sum(counts)
    expected = rate * seconds
    assert abs(total - expected) < 5 * math.sqrt(expected)  # 5 sd of a Poisson count
    one = arrivals_until(lane(RatePlan(rate), arrival="poisson", seed=9), seconds * NS)
    inter = [(b.intended_ns - a.intended_ns) / NS for a, b in itertools.pairwise(one)]
    mean = statistics.fmean(inter)
    # exponential gaps: mean 1/rate and standard deviation equal to the mean
    assert abs(mean - 1 / rate) < 5 * (1 / rate) / math.sqrt(len(inter))
    assert 0.8 < statistics.pstdev(inter) / mean < 1.2


def test_a_lane_behind_schedule_serves_every_due_arrival_late_and_in_order() -> None:
    ln = lane(RatePlan(100.0), items=3)  # one arrival every 10 ms from t=0
    first = ln.pop(0)
    assert first is not None and first.intended_ns == 0
    # the request took 55 ms: five more arrivals fell due meanwhile, none is lost
    late = [ln.pop(55 * MS) for _ in range(5)]
    assert [a.intended_ns // MS for a in late] == [10, 20, 30, 40, 50]
    assert ln.pop(55 * MS) is None and ln.wait_ns(55 * MS) == 5 * MS
    assert sum(ln.drain_scheduled().values()) == 6 and sum(ln.scheduled.values()) == 0


def test_arrivals_follow_the_step_of_their_intended_start_and_stop_after_the_plan() -> None:
    plan = RatePlan(10, 10, 1.0, 30)  # 10, 20, 30 req/s for one second each
    got = arrivals_until(lane(plan), 10 * NS)
    per_step = [sum(1 for a in got if a.step == k) for k in range(3)]
    assert per_step == [10, 20, 30]
    assert all(plan.step_window(a.step)[0] * NS <= a.intended_ns < plan.step_window(a.step)[1] * NS
               for a in got)
    ln = lane(plan)
    ln.advance(10 * NS)
    ln.due.clear()
    ln.advance(11 * NS)
    assert ln.finished and ln.wait_ns(11 * NS) is None


def test_a_late_lane_joins_the_schedule_without_backfilling() -> None:
    rng = random.Random(3)
    ln = Lane(RatePlan(10.0), t0_ns=0, lanes=1, index=0, arrival="constant", rng=rng,
              pick=lambda: 0, start_ns=1234 * MS)
    first = ln.pop(2 * NS)
    assert first is not None and first.intended_ns == 1300 * MS


# -- settings and mix ----------------------------------------------------------------------------

def _scenario(text: str = "") -> scenarios.Scenario:
    return scenarios.load_text('name = "t"\n' + text, "<test>")


def test_settings_come_from_the_scenario_and_overrides_win() -> None:
    sc = _scenario("[load]\nmode = 'open'\nrate = 12\nusers = 3\n[load.capacity]\nmetric = 'p99'\n")
    s = LoadSettings.from_scenario(sc, users=5)
    assert (s.mode, s.rate, s.users, s.metric) == ("open", 12.0, 5, "p99")
    opts = s.locust_options()
    assert opts[opts.index("--ctxbench-rate") + 1] == "12.0" and "--ctxbench-users" not in opts


@pytest.mark.parametrize(("override", "needle"), [
    ({"mode": "burst"}, "mode"), ({"arrival": "uniform"}, "arrival"), ({"users": 0}, "users"),
    ({"mode": "open", "think_time_ms": 5.0}, "think_time_ms"),
    ({"mode": "capacity", "max_rate": 1.0}, "max_rate"), ({"metric": "mean"}, "capacity.metric"),
])
def test_bad_load_settings_name_the_setting(override: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        LoadSettings.from_scenario(_scenario(), **override)


def test_mix_weights_by_query_and_by_query_variant() -> None:
    sc = _scenario("[queries]\ninclude = ['list_incidents', 'get_incident', 'trend']\n"
                   "[queries.weights]\nlist_incidents = 3\n'trend[as_shipped]' = 0\n")
    mix = build_mix(sc)
    shares = mix.shares()
    assert set(shares) == {item_name("list_incidents", "as_shipped"), item_name("get_incident", "as_shipped")}
    assert shares["list_incidents[as_shipped]"] == pytest.approx(0.75)
    rng = random.Random(5)
    pick = mix.picker(rng)
    draws = [mix.names[pick()] for _ in range(4000)]
    assert abs(draws.count("list_incidents[as_shipped]") / 4000 - 0.75) < 5 * math.sqrt(0.75 * 0.25 / 4000)


def test_mix_rejects_unknown_weight_keys_and_an_empty_mix() -> None:
    with pytest.raises(UsageError, match=r"queries\.weights\.no_such_query"):
        build_mix(_scenario("[queries.weights]\nno_such_query = 1\n"))
    with pytest.raises(UsageError, match="weight 0"):
        build_mix(_scenario("[queries]\ninclude = ['trend']\n[queries.weights]\ntrend = 0\n"))


# -- capacity judging -------------------------------------------------------------------------------

def _search(budget: float = 100.0) -> CapacitySearch:
    return CapacitySearch(RatePlan(10, 10, 2.0, 40), metric="p95", thresholds_ms={"q[v]": budget},
                          max_error_rates={"q[v]": 0.01})


def _feed(search: CapacitySearch, step: int, latencies: list[float], scheduled: int | None = None,
          errors: int = 0) -> None:
    search.add_scheduled(step, "q[v]", len(latencies) + errors if scheduled is None else scheduled)
    for x in latencies:
        search.add_result(step, "q[v]", x, True, 0.0, x)
    for _ in range(errors):
        search.add_result(step, "q[v]", 1.0, False, 0.0, 1.0)


def test_capacity_is_the_last_step_before_the_first_failure() -> None:
    s = _search()
    _feed(s, 0, [20.0] * 100)
    _feed(s, 1, [30.0] * 100)
    _feed(s, 2, [30.0] * 80 + [400.0] * 20)  # p95's lower bound (90th of 100) = 400 > 100
    assert s.due(2.0 * 3 + s.grace_s - 0.01) == [0, 1]
    for k in s.due(100.0):
        s.judge(k)
        if s.finished:
            break
    out = s.result()
    assert out["capacity_rps"] == 20.0 and not out["lower_bound_only"] and out["complete"]
    assert [st["passed"] for st in out["steps"]] == [True, True, False]
    assert "p95 400.0 ms > 100 ms" in out["steps"][2]["reason"]


def test_unfinished_requests_count_as_over_budget() -> None:
    s = _search()
    _feed(s, 0, [10.0] * 90, scheduled=100)  # 10 of 100 never finished: p95 is "unfinished"
    v = s.judge(0)
    assert not v.passed and v.missing == 10 and v.worst_value_ms is None
    assert s.result()["capacity_rps"] is None
    s2 = _search()
    _feed(s2, 0, [10.0] * 197, scheduled=200)  # 1.5 % unfinished: the bound (197th) is within
    assert s2.judge(0).passed
    s3 = _search()
    _feed(s3, 0, [10.0] * 196, scheduled=200)  # 4 unfinished: the 197th is one of them
    v3 = s3.judge(0)
    assert not v3.passed and v3.undecided and "more requests would decide" in v3.reason


def test_capacity_steps_use_the_verdict_engine_per_type_and_pooled() -> None:
    """A type with too few requests for a p95 is listed, not judged; the SLO on all traffic
    (query "all") is judged on every request of the step pooled."""
    s = CapacitySearch(RatePlan(10, 10, 2.0, 40), metric="p95",
                       thresholds_ms={"a[v]": 100.0, "b[v]": 100.0, "all": 50.0},
                       max_error_rates={})
    for name, xs in (("a[v]", [10.0] * 150), ("b[v]", [90.0] * 20)):
        s.add_scheduled(0, name, len(xs))
        for x in xs:
            s.add_result(0, name, x, True, 0.0, x)
    v = s.judge(0)
    assert v.too_few == ["b[v] (20)"]  # 20 requests can never show a p95 within budget
    # pooled: 150 at 10 ms + 20 at 90 ms: the p95 (90 ms) is shown over the 50 ms SLO
    assert not v.passed and "all requests p95" in v.reason and "> 50 ms" in v.reason


def test_an_undecided_stop_is_named_and_the_search_is_the_runs_check() -> None:
    """A search that stops on an undecided step says so (not "below the first rate"), and the
    search becomes the run's one check: PASS with a capacity, FAIL when the first step failed,
    INCONCLUSIVE when it was undecided — never "PASS, 0 of 0 budget checks"."""
    from ctxbench.analysis.load import capacity_verdict

    undecided = _search()
    _feed(undecided, 0, [10.0] * 196, scheduled=200)  # 4 unfinished: undecided (above)
    undecided.judge(0)
    out = undecided.result()
    assert out["capacity_rps"] is None and out["summary"].startswith("not established")
    assert "more requests would decide" in out["summary"]
    row = capacity_verdict(out)
    assert row is not None and row["verdict"] == "INCONCLUSIVE" and row["threshold"] == 10
    later = _search()
    _feed(later, 0, [10.0] * 200)
    later.judge(0)
    _feed(later, 1, [10.0] * 196, scheduled=200)
    later.judge(1)
    out = later.result()
    assert out["capacity_rps"] == 10.0 and "step at 20 req/s was undecided" in out["summary"]
    assert capacity_verdict(out)["verdict"] == "PASS"  # type: ignore[index]
    failed = _search()
    _feed(failed, 0, [30.0] * 80 + [400.0] * 20)
    failed.judge(0)
    out = failed.result()
    assert out["summary"].startswith("no step passed")
    row = capacity_verdict(out)
    assert row is not None and row["verdict"] == "FAIL" and row["estimate"] is None
    assert capacity_verdict(None) is None


def test_errors_fail_a_step_and_all_steps_passing_gives_a_lower_bound() -> None:
    s = _search()
    _feed(s, 0, [10.0] * 95, errors=5)
    assert "error ratio" in s.judge(0).reason
    s2 = _search()
    for k in range(4):
        _feed(s2, k, [10.0] * 50)
        s2.judge(k)
    out = s2.result()
    assert out["capacity_rps"] == 40.0 and out["lower_bound_only"] and s2.finished


def test_capacity_thresholds_resolve_like_the_report() -> None:
    sc = _scenario("[queries]\ninclude = ['list_incidents', 'trend']\n"
                   "[[budgets]]\nphase = 'load'\nmetric = 'p95'\nmax = 300.0\n"
                   "[[budgets]]\nquery = 'trend'\nmetric = 'p95'\nmax = 80.0\n"
                   "[[budgets]]\nphase = 'load'\nmetric = 'error_rate'\nmax = 0.05\n")
    mix = build_mix(sc)
    lat, err = thresholds_for(mix.items, sc.resolved_budgets(), "p95", None, {"mode": "capacity"})
    assert lat == {"list_incidents[as_shipped]": 300.0, "trend[as_shipped]": 80.0}
    assert err == {"list_incidents[as_shipped]": 0.05, "trend[as_shipped]": 0.05}
    lat, _ = thresholds_for(mix.items, sc.resolved_budgets(), "p95", 42.0, {"mode": "capacity"})
    assert set(lat.values()) == {42.0}


def test_capacity_runs_switch_the_report_budgets_off_only_for_capacity_groups() -> None:
    sc = _scenario("[[budgets]]\nquery = 'trend'\nphase = 'load'\nmetric = 'p99'\nmax = 80.0\n")
    capacity = LoadSettings.from_scenario(sc, mode="capacity")
    budgets = parse_budgets(run_budgets(sc, capacity), with_default=False)
    assert resolve(budgets, "trend", "load", "as_shipped", {"mode": "capacity", "step_rate": "20"}) == []
    closed = parse_budgets(run_budgets(sc, LoadSettings.from_scenario(sc)), with_default=False)
    assert {b.metric for b in resolve(closed, "trend", "load", "as_shipped", {"mode": "closed"})} == {
        "p95", "p99"}


# -- the load section's figures (analysis/load.py) ---------------------------------------------

def _group(query: str, p95: float | None, p99: float | None, **means: float) -> dict:
    return {"phase": "load", "query": query, "variant": "as_shipped", "n": 10,
            "latency_ms": {"p95": None if p95 is None else {"value": p95},
                           "p99": None if p99 is None else {"value": p99}},
            "metrics": {k: {"mean": {"value": v}} for k, v in means.items()}}


def test_locust_figures_sit_beside_the_exact_group_of_the_same_request() -> None:
    groups = [_group("get_incident", 4.25, 9.5), _group("list_incidents", 12.0, None)]
    locust = {"by_name": {"list_incidents[as_shipped]": {"requests": 7, "rps": 1.5, "p95_ms": 13,
                                                         "p99_ms": 20},
                          "trend[as_shipped]": {"requests": 2, "rps": 0.5, "p95_ms": 3, "p99_ms": 3}},
              "total": {"requests": 9, "rps": 2.0, "p95_ms": 13, "p99_ms": 20}}
    rows = {r.name: r for r in load_analysis.locust_vs_exact(locust, groups)}
    assert list(rows) == ["list_incidents[as_shipped]", "trend[as_shipped]", "all"]
    assert (rows["list_incidents[as_shipped]"].exact_p95_ms, rows["list_incidents[as_shipped]"].exact_p99_ms,
            rows["list_incidents[as_shipped]"].locust_p95_ms) == (12.0, None, 13)
    assert rows["trend[as_shipped]"].exact_p95_ms is None  # no exact group of that name
    assert rows["all"].requests == 9 and rows["all"].exact_p95_ms is None


def test_latency_parts_are_the_group_means_of_lag_wait_and_service() -> None:
    (part,) = load_analysis.latency_parts(
        [_group("list_incidents", 30.0, 40.0, lag_ms=5.0, pool_wait_ms=1.5, service_ms=20.0)])
    assert (part.name, part.p95_ms, part.lag_ms, part.pool_wait_ms, part.service_ms) == (
        "list_incidents[as_shipped]", 30.0, 5.0, 1.5, 20.0)
    (bare,) = load_analysis.latency_parts([_group("trend", None, None)])
    assert bare.lag_ms is None and bare.p95_ms is None


def test_capacity_curve_puts_unfinished_steps_above_everything_measured() -> None:
    cap = {"budgets_ms": {"a": 150.0, "b": 90.0},
           "steps": [{"rate": 10, "passed": True, "worst_value_ms": 42.0, "service_p95_ms": 40.0},
                     {"rate": 20, "passed": True, "worst_value_ms": 120.0, "service_p95_ms": None},
                     {"rate": 30, "passed": False, "worst_value_ms": None, "service_p95_ms": 41.0}]}
    curve = load_analysis.capacity_curve(cap)
    assert curve is not None
    assert curve.rates == [10, 20, 30] and curve.passed == [True, True, False]
    assert curve.worst_ms == [42.0, 120.0, 240.0]  # twice the worst measured
    assert curve.service == [(10, 40.0), (30, 41.0)] and curve.budget_ms == 90.0
    assert load_analysis.capacity_curve({"steps": []}) is None


def test_warm_up_requests_do_not_feed_the_capacity_search() -> None:
    """Warm-up arrivals and requests (step WARMUP_STEP) have their own account: step 0's
    arrivals, samples and unfinished requests never include them."""
    from ctxbench.load.owner import ResultsOwner
    from ctxbench.results import Measurement

    sc = _scenario("[queries]\ninclude = ['get_incident']\n[load]\nmode = 'capacity'\nwarmup_s = 12\n")
    owner = ResultsOwner(sc, LoadSettings.from_scenario(sc), build_mix(sc))
    assert owner.search is not None and owner.search.plan.warmup_s == 12
    name = "get_incident[as_shipped]"
    # 120 warm-up arrivals (slow: a cold cache), 115 served by the end; 80 step-0 arrivals
    owner.receive({"s": [[WARMUP_STEP, name, 120], [0, name, 80]], "m": []})
    for i in range(195):
        warm = i < 115
        m = Measurement("r", "load", "get_incident", "as_shipped", f"p{i}", 0,
                        latency_ns=int((900 if warm else 5) * 1e6), rows=1, warmup=warm,
                        labels={"mode": "capacity"},
                        metrics={"cached": 1.0, "hit_rate": float(not warm or i >= 100)})
        owner._feed_search(WARMUP_STEP if warm else 0, m)
    data = owner.search.steps[0]
    assert data.scheduled[name] == 80 and len(data.latencies_ms[name]) == 80
    assert max(data.latencies_ms[name]) == 5.0
    assert owner.search.judge(0).passed
    warm = owner.search.result()["warmup"]
    assert (warm["scheduled"], warm["served"], warm["unserved"]) == (120, 115, 5)
    assert warm["rate"] == 10.0 and warm["seconds"] == 12 and warm["achieved_rate"] == round(115 / 12, 3)
    # its last quarter (the last 28 of 115 requests): 15 hits
    assert warm["hit_rate_end_requests"] == 28 and warm["hit_rate_end"] == round(15 / 28, 4)
    assert owner.arrivals[name] == 80 and owner.warmup_arrivals[name] == 120
