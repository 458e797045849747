"""The plot toolkit every report section draws with (``ctxbench.report.plots``)."""

from __future__ import annotations

import pytest

from ctxbench.report import plots


def _fig() -> plots.Figure:
    fig = plots.figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [2.0, 40.0, 700.0], color=plots.color(0))
    plots.log_axis(ax, "y")
    plots.budget_line(ax, 250.0, label="budget")
    return fig


def test_png_has_no_timestamp_so_a_rebuild_gives_the_same_bytes() -> None:
    a, b = plots.to_png(_fig()), plots.to_png(_fig())
    assert a.startswith(b"\x89PNG") and a == b
    assert b"Software" not in a and b"Creation" not in a
    assert plots.to_png(_fig(), dpi=50) != a


def test_log_axis_has_plain_labels_and_budget_line_is_drawn() -> None:
    fig = _fig()
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.yaxis.get_major_formatter()(200.0, 0) == "200"
    (budget,) = [line for line in ax.get_lines() if line.get_label() == "budget"]
    assert budget.get_color() == plots.BUDGET_COLOR and budget.get_linestyle() == "--"
    assert list(budget.get_ydata()) == [250.0, 250.0]
    with pytest.raises(ValueError, match="allowed: x, y"):
        plots.log_axis(ax, "z")
    assert plots.color(len(plots.COLORS)) == plots.color(0)
