"""History across runs: step detection (synthetic series) and the page from results folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli

from ctxbench.analysis.changepoint import detect_steps
from ctxbench.analysis.history import build_history
from ctxbench.analysis.synthetic import index_plan, lognormal_ms, seq_plan, write_run
from ctxbench.errors import UsageError
from ctxbench.report.history import build_history_page


def test_noise_yields_no_step_at_the_stated_rate() -> None:
    rng = np.random.default_rng(20251130)
    false = sum(bool(detect_steps(np.exp(rng.normal(0, 0.3, n)) * 10))
                for n in (6, 10, 30) for _ in range(150))
    assert false / 450 <= 0.06  # alpha = 0.05 per series (Bonferroni over the split points)
    assert detect_steps([5.0] * 12) == []  # a flat line has no step


def test_a_synthetic_step_is_found_at_its_run() -> None:
    rng = np.random.default_rng(7)
    found = []
    for _ in range(50):
        values = np.exp(rng.normal(0, 0.1, 12)) * 10
        values[7:] *= 2.0
        found.append([s.index for s in detect_steps(values)])
    assert sum(f == [7] for f in found) >= 45
    (step,) = detect_steps([10, 10.5, 9.8, 10.2, 10.1, 30.0])  # tonight's jump, one run
    assert step.index == 5 and 2.8 < step.ratio < 3.1
    assert detect_steps([10, 10.5, 9.8, None, 10.2, 10.1]) == []  # a missing run is skipped


def test_a_wobble_inside_the_runs_intervals_is_not_a_step() -> None:
    values = [56.0, 57.0, 75.0, 71.0]  # seen on a loaded machine: tight first nights
    assert [s.index for s in detect_steps(values)] == [2]
    lo, hi = [42.0, 46.0, 57.0, 55.0], [80.0, 65.0, 81.0, 72.0]
    assert detect_steps(values, lo=lo, hi=hi) == []  # each run's own interval covers it
    lo2, hi2 = [50.0, 51.0, 70.0, 66.0], [60.0, 62.0, 80.0, 76.0]
    assert [s.index for s in detect_steps(values, lo=lo2, hi=hi2)] == [2]


def test_a_small_but_significant_shift_is_not_a_step() -> None:
    values = [10.0, 10.01, 10.0, 10.01, 11.0, 11.01, 11.0, 11.01]  # +10 %: below min_effect
    assert detect_steps(values) == []
    assert [s.index for s in detect_steps(values, min_effect=1.05)] == [4]


def _synthetic_runs(base: Path) -> None:
    for i in range(6):
        slow = 3.0 if i >= 4 else 1.0
        write_run(base / f"run{i}", run_id=f"run{i}", seed=i,
                  groups={("warm", "q", "default"): (lognormal_ms(5 * slow), 100),
                          ("warm", "z", "default"): (lognormal_ms(8), 100)},
                  plans={("warm", "q", "default"): seq_plan() if i >= 4 else index_plan()},
                  meta_overrides={"started_at": f"2025-11-0{i + 1}T02:17:00+00:00",
                                  "git_sha": f"{i}" * 40})


def test_history_of_synthetic_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    _synthetic_runs(tmp_path / "runs")
    h = build_history([tmp_path / "runs"])  # a folder of results folders
    assert [r.run_id for r in h.runs] == [f"run{i}" for i in range(6)]
    series = {s.query: s for s in h.series}
    assert [st.index for st in series["q"].steps] == [4] and series["z"].steps == []
    assert series["q"].plan_changes == [4] and series["z"].plan_changes == []
    assert series["q"].budget == [500.0] * 6
    code, out = cli(monkeypatch, capsys, "history", str(tmp_path / "runs"), "--out",
                    str(tmp_path / "h"))
    assert code == 0 and "1 step change" in out and "from run run4" in out
    md = (tmp_path / "h" / "history.md").read_text()
    assert "q · warm: p95" in md and "(plan changed in that run)" in md
    data = json.loads((tmp_path / "h" / "history.json").read_text())
    assert [s["steps"][0]["index"] for s in data["series"] if s["steps"]] == [4]
    html = (tmp_path / "h" / "history.html").read_text()
    assert html.count("data:image/png;base64,") == 2


def test_history_rejects_what_is_not_a_results_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such results folder"):
        build_history([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="neither a results folder"):
        build_history([tmp_path / "empty"])


def test_a_bundle_of_summaries_is_enough(tmp_path: Path) -> None:
    """The nightly job keeps only summary.json + meta.json per night: same history."""
    import shutil

    from ctxbench.report.build import build_reports

    _synthetic_runs(tmp_path / "runs")
    for i in range(6):
        build_reports(tmp_path / "runs" / f"run{i}")
        night = tmp_path / "bundle" / f"run{i}"
        night.mkdir(parents=True)
        for name in ("summary.json", "meta.json"):
            shutil.copy(tmp_path / "runs" / f"run{i}" / name, night / name)
    full, bundle = build_history([tmp_path / "runs"]), build_history([tmp_path / "bundle"])
    assert [s.to_json() for s in full.series] == [s.to_json() for s in bundle.series]
    page = build_history_page([tmp_path / "bundle"], tmp_path / "page")
    assert "from run run4" in page.changes_md.read_text()


def test_a_state_change_continues_the_series_and_setup_changes_are_named(tmp_path: Path) -> None:
    """Autovacuum analyzing partitions between nights flips the `stats` label: still one series
    (with the state change listed), and the step names what changed in its run."""
    key = ("warm", "q", "default")
    for i in range(5):
        slow = 4.0 if i >= 3 else 1.0
        settings = {"shared_buffers": "1GB", "jit": "off",
                    **({"enable_indexscan": "off"} if i >= 3 else {})}
        write_run(tmp_path / "runs" / f"run{i}", run_id=f"run{i}", seed=i,
                  groups={key: (lognormal_ms(5 * slow), 100)},
                  labels={key: {"stats": "no_stats" if i < 2 else "partial"}},
                  meta_overrides={"started_at": f"2025-11-0{i + 1}T02:17:00+00:00",
                                  "scenario_text": 'name = "n"\n[database.settings]\n'
                                  + ('enable_indexscan = "off"\n' if i >= 3 else ""),
                                  "server": {"server_version": "18.6",
                                             "settings": settings}})
    h = build_history([tmp_path / "runs"])
    (s,) = h.series  # one series across the state change
    assert s.labels == {} and s.states == ["stats=no_stats"] * 2 + ["stats=partial"] * 3
    assert s.state_changes == [2] and [st.index for st in s.steps] == [3]
    assert h.changes_at(2) == [] and h.changes_at(0) == []
    assert h.changes_at(3) == ["setting enable_indexscan (default) → off",
                               '+enable_indexscan = "off"']
    page = build_history_page([tmp_path / "runs"], tmp_path / "page")
    changes = page.changes_md.read_text().replace("\\_", "_")
    assert "changed in that run: setting enable_indexscan (default) → off" in changes
    md = page.md.read_text().replace("\\_", "_")
    assert "## State changes" in md and "stats=no_stats → stats=partial" in md
