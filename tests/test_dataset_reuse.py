"""When `ctxbench run` reuses a loaded dataset and when it reloads."""

from __future__ import annotations

import datetime as dt

from ctxbench.datagen.generator import DatasetOptions
from ctxbench.runs.session import ANCHOR_REUSE_DAYS, _reusable


def _recorded(options: DatasetOptions, state: str = "loaded") -> dict:
    return {"params": options.resolved().params(), "checksum": "abc", "state": state}


def test_exact_match_is_reused_and_other_params_are_not() -> None:
    opts = DatasetOptions(scale=2000, seed=3, anchor=dt.date(2025, 10, 31))
    assert _reusable(_recorded(opts), opts, anchor_given=True)
    assert not _reusable(_recorded(DatasetOptions(scale=2000, seed=4, anchor=opts.anchor)), opts, True)
    assert not _reusable(_recorded(DatasetOptions(scale=3000, seed=3, anchor=opts.anchor)), opts, True)
    assert not _reusable(None, opts, True)


def test_interrupted_loads_are_never_reused() -> None:
    opts = DatasetOptions(scale=2000, seed=3, anchor=dt.date(2025, 10, 31))
    assert not _reusable(_recorded(opts, state="loading"), opts, True)


def test_open_anchor_reuses_recent_data_only() -> None:
    today = dt.datetime.now(dt.UTC).date()
    wanted = DatasetOptions(scale=2000, seed=3)  # anchor: today
    recent = DatasetOptions(scale=2000, seed=3, anchor=today - dt.timedelta(days=ANCHOR_REUSE_DAYS))
    stale = DatasetOptions(scale=2000, seed=3, anchor=today - dt.timedelta(days=ANCHOR_REUSE_DAYS + 1))
    assert _reusable(_recorded(recent), wanted, anchor_given=False)
    assert not _reusable(_recorded(stale), wanted, anchor_given=False)
