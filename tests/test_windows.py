"""NOW()-relative windows drawn relative to the data: a dataset anchored in the past is measured
on the same share of its rows as a live one, the shift is recorded, and where the allowed range
cannot reach the data the sampler refuses, naming the query and the range."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from test_samplers import synthetic_profile

from ctxbench.errors import UsageError
from ctxbench.queries import DatasetProfile, ParamSampler, catalog
from ctxbench.queries.sampler import NOW_RELATIVE, WindowShift
from ctxbench.queries.validation import parse_duration

NOW = datetime(2026, 11, 30, 13, 20, 7, tzinfo=UTC)


def aged(days: float) -> DatasetProfile:
    """The synthetic profile, read at NOW, its data ending ``days`` before NOW."""
    base = synthetic_profile()
    end = NOW - timedelta(days=days)
    return dataclasses.replace(base, ts_min=end - timedelta(days=90), ts_max=end,
                               created_min=end - timedelta(days=90), created_max=end,
                               captured_at=NOW)


def intended_hours(kind: str) -> int:
    return int(kind.rsplit("window_", 1)[1].rstrip("h"))


def test_windows_shift_by_the_age_of_the_data():
    profile = aged(300.25)  # anchored ten months back
    sampler = ParamSampler(profile, 3)
    shift = sampler.shift.window_shift_s
    assert shift == pytest.approx(300.25 * 86400, abs=60) and shift % 60 == 0
    for query in ("top_failing_actions", "action_comparison", "namespace_health"):
        sets = sampler.sample(query, 200)
        for ps in sets:
            window = parse_duration(ps.params["time_window"])
            span = intended_hours(ps.kind) * 3600.0
            assert window == min(shift + span, NOW_RELATIVE[query][1])
        # the 90-day windows no longer fit below 365 days: clipped, and counted
        clipped = sum(parse_duration(p.params["time_window"]) < shift
                      + intended_hours(p.kind) * 3600.0 for p in sets)
        assert clipped > 0 and sampler.window_info()["clipped"][query] == clipped
    for ps in sampler.sample("trend", 100):
        assert ps.params["days"] == min(301 + int(ps.kind.split("_")[1]), 365) \
            if ps.kind != "days_any" else 302 <= ps.params["days"] <= 365


def test_live_data_is_barely_shifted_and_now_mode_not_at_all():
    live = aged(0.5)
    for ps in ParamSampler(live, 3).sample("namespace_health", 50):
        window = parse_duration(ps.params["time_window"])
        assert window - intended_hours(ps.kind) * 3600.0 == 12 * 3600
    old = aged(300)
    for ps in ParamSampler(old, 3, windows="now").sample("top_failing_actions", 50):
        assert parse_duration(ps.params["time_window"]) == intended_hours(ps.kind) * 3600.0
    assert ParamSampler(old, 3, windows="now").window_info()["window_shift_s"] == 0
    with pytest.raises(UsageError, match="window mode 'later' is not allowed; allowed: data, now"):
        ParamSampler(old, 3, windows="later")


def test_same_profile_same_windows():
    profile = aged(123.4)
    a = [p.id for p in ParamSampler(profile, 9).sample("action_comparison", 30)]
    b = [p.id for p in ParamSampler(DatasetProfile.from_json(profile.to_json()), 9)
         .sample("action_comparison", 30)]
    assert a == b


def test_refuses_where_no_window_can_reach_the_data():
    sampler = ParamSampler(aged(400), 1)
    for query in NOW_RELATIVE:
        allowed = "1–365" if query == "trend" else "1s–8760h0m0s"
        with pytest.raises(UsageError, match=f"^{query}: .*allows only {allowed}"):
            sampler.sample(query, 5)
    with pytest.raises(UsageError, match="top_failing_actions: the dataset ends 400 days"):
        sampler.check_windows(["list_incidents", "top_failing_actions"])
    assert sampler.check_windows(["list_incidents", "get_incident"]) == []
    assert len(sampler.sample("list_incidents", 5)) == 5  # other queries are unaffected


def test_warns_where_the_widest_windows_are_cut():
    warnings = ParamSampler(aged(300), 1).check_windows(list(NOW_RELATIVE))
    assert [w.split(":")[0] for w in warnings] == list(NOW_RELATIVE)
    assert ParamSampler(aged(10), 1).check_windows(list(NOW_RELATIVE)) == []


def test_profile_without_a_read_time_is_not_shifted():
    profile = dataclasses.replace(aged(300), captured_at=None)
    assert WindowShift.of(profile).window_shift_s == 0


def test_anchored_ten_months_back_answers_are_not_empty(fresh_target):
    """On real data anchored 300 days back: windows as sent find nothing, shifted ones do."""
    from ctxbench.datagen.generator import DatasetOptions, seed_dataset

    anchor = datetime.now(UTC).date() - timedelta(days=300)
    with fresh_target.connect() as conn:
        seed_dataset(conn, DatasetOptions(scale=2000, seed=5, months=2, anchor=anchor))
        profile = DatasetProfile.from_database(conn)
        rows: dict[str, dict[str, list[int]]] = {}
        for mode in ("now", "data"):
            sampler = ParamSampler(profile, 4, windows=mode)
            for query in ("trend", "action_comparison", "namespace_health"):
                counts = []
                for ps in sampler.sample(query, 15):
                    result = catalog[query].execute(conn, ps.params)
                    if query == "namespace_health":  # one row always; its total_actions counts
                        counts.append(int(result[0][0] or 0) if result else 0)
                    else:
                        counts.append(len(result))
                rows.setdefault(mode, {})[query] = counts
    for query, counts in rows["now"].items():
        assert sum(counts) == 0, query  # the service's spans miss data that ended 300 days ago
    assert all(n > 0 for n in rows["data"]["trend"])  # every shifted trend window holds data
    assert sum(n > 0 for n in rows["data"]["action_comparison"]) >= 10
    assert sum(n > 0 for n in rows["data"]["namespace_health"]) >= 5
