"""report.html and the history page in a real browser (headless Chromium over the DevTools
protocol): no console errors, every image decoded, the overall verdict, the findings and the
whole verdict matrix inside the first 1400×900 viewport. Screenshots are kept (path printed).

Skipped only when no Chromium is installed here; `.ci/run` installs Debian's `chromium`."""

from __future__ import annotations

from pathlib import Path

import pytest
from cdp import browser_page, find_browser

from ctxbench.analysis.synthetic import index_plan, lognormal_ms, seq_plan, write_run
from ctxbench.report.build import build_reports
from ctxbench.report.history import build_history_page

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no chromium installed here")

WIDTH, HEIGHT = 1400, 900
SMOKE_QUERIES = ("list_incidents", "count_incidents", "get_incident", "semantic_search",
                 "success_rate", "by_namespace", "severity_distribution", "trend",
                 "filtered_aggregation", "top_failing_actions", "action_comparison",
                 "namespace_health")

IMAGES = """Promise.all(Array.from(document.images).map(
  img => img.decode().then(() => img.naturalWidth > 0 && img.naturalHeight > 0, () => false)))"""

VISIBLE = """(() => {
  const box = el => { const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const m = document.getElementById('matrix');
  return {w: innerWidth, h: innerHeight, verdict: box(document.querySelector('p.verdict')),
          findings: box(document.querySelector('ul.findings')), matrix: m ? box(m) : null,
          cells: m ? m.querySelectorAll('tbody tr').length : 0,
          fail: getComputedStyle(m.querySelector('td.fail')).backgroundColor};
})()"""


def smoke_shaped_run(path: Path) -> Path:
    """The smoke scenario's shape: 12 queries × before/after ANALYZE × cold/warm + HNSW warm-up,
    cold groups with the smoke's 12 samples; one query failing cold."""
    groups, labels = {}, {}
    for q in SMOKE_QUERIES:
        for phase in ("before_analyze", "after_analyze"):
            slow = 900 if (q, phase) == ("count_incidents", "before_analyze") else 120
            groups[(f"{phase}.cold", q, "as_shipped")] = (lognormal_ms(slow), 12)
            groups[(f"{phase}.warm", q, "as_shipped")] = (lognormal_ms(6), 80)
            for cache in ("cold", "warm"):
                labels[(f"{phase}.{cache}", q, "as_shipped")] = {"cache": cache}
    groups[("hnsw_warmup", "semantic_search", "as_shipped")] = (lognormal_ms(40), 30)
    labels[("hnsw_warmup", "semantic_search", "as_shipped")] = {"prewarm": "none"}
    plans = {("before_analyze.warm", "list_incidents", "as_shipped"): seq_plan(),
             ("after_analyze.warm", "list_incidents", "as_shipped"): index_plan(),
             ("before_analyze.cold", "count_incidents", "as_shipped"): seq_plan(read=5000,
                                                                                 ms=800)}
    write_run(path, scenario="smoke", groups=groups, labels=labels, plans=plans)
    return path


def test_report_first_viewport_in_chromium(tmp_path: Path) -> None:
    paths = build_reports(smoke_shaped_run(tmp_path / "run"))
    with browser_page() as page:
        page.open(paths.report_html.resolve().as_uri(), WIDTH, HEIGHT)
        decoded = page.evaluate(IMAGES)
        geo = page.evaluate(VISIBLE)
        shot = page.screenshot(tmp_path / "report-first-screen.png")
        errors = list(page.errors)
    print(f"\nscreenshot: {shot}")
    assert errors == []
    assert len(decoded) == len(paths.plot_files) > 0 and all(decoded)
    assert (geo["w"], geo["h"]) == (WIDTH, HEIGHT)
    assert geo["matrix"] is not None and geo["cells"] == len(SMOKE_QUERIES)
    for part in ("verdict", "findings", "matrix"):
        box = geo[part]
        assert 0 <= box["top"] < box["bottom"] <= HEIGHT and box["right"] <= WIDTH, (part, geo)
    assert geo["fail"] not in ("rgba(0, 0, 0, 0)", "transparent")  # the FAIL cell is coloured
    assert shot.stat().st_size > 10_000


def test_history_page_in_chromium(tmp_path: Path) -> None:
    for i in range(5):
        write_run(tmp_path / "runs" / f"r{i}", run_id=f"r{i}", seed=i,
                  groups={("warm", "q", "default"): (lognormal_ms(5 if i < 3 else 15), 100)},
                  meta_overrides={"started_at": f"2025-11-0{i + 1}T02:17:00+00:00"})
    page_paths = build_history_page([tmp_path / "runs"], tmp_path / "history")
    with browser_page() as page:
        page.open(page_paths.html.resolve().as_uri(), WIDTH, HEIGHT)
        decoded = page.evaluate(IMAGES)
        shot = page.screenshot(tmp_path / "history.png")
        errors = list(page.errors)
    print(f"\nscreenshot: {shot}")
    assert errors == []
    assert decoded == [True]


def test_a_broken_image_is_caught(tmp_path: Path) -> None:
    """The checks above can fail: a page with a bad image and a script error is flagged."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                   "<script>console.error('boom')</script></body></html>")
    with browser_page() as page:
        page.open(bad.resolve().as_uri(), WIDTH, HEIGHT)
        decoded = page.evaluate(IMAGES)
        errors = list(page.errors)
    assert decoded == [False]
    assert any("boom" in e for e in errors)
