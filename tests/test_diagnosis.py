"""Tail-plan selection and plan diagnosis on hand-built inputs (no database)."""

from __future__ import annotations

from ctxbench.analysis.diagnosis import analyse_plan, diagnose, pick_plan
from ctxbench.measure.tails import tail_picks
from ctxbench.queries import ParamSet
from ctxbench.results import Measurement
from ctxbench.results.explain import summarize_plan


def _m(ps: ParamSet, ms: float, ok: bool = True, warmup: bool = False) -> Measurement:
    return Measurement(run_id="r", phase="warm", query="list_incidents", variant="as_shipped",
                       param_id=ps.id, seq=1, latency_ns=int(ms * 1e6), rows=1, ok=ok,
                       error=None if ok else "QueryCanceled", warmup=warmup,
                       labels={"param_kind": ps.kind}, metrics={})


def _sets() -> list[ParamSet]:
    return [ParamSet.of("list_incidents", {"namespace": f"ns{i}"}, kind)
            for i, kind in enumerate(["ns", "ns", "none", "unknown_ns", "none", "sev"])]


def test_tail_picks_slowest_then_one_per_kind_above_p95():
    a, b, c, d, e, f = _sets()
    samples = [(a, _m(a, 5)), (b, _m(b, 900)), (c, _m(c, 800)), (d, _m(d, 0.1)),
               (e, _m(e, 700)), (f, _m(f, 3))] + [(a, _m(a, 4)) for _ in range(40)]
    picks = tail_picks(samples, limit=3)
    assert [p.ps.id for p in picks] == [b.id, c.id]  # e is kind 'none' again; d, f below p95
    assert picks[0].why == "slowest sample" and picks[0].latency_ms == 900
    assert "kind none" in picks[1].why


def test_a_failed_execution_is_the_slowest_and_warmups_do_not_count():
    a, b, c, *_ = _sets()
    picks = tail_picks([(a, _m(a, 50)), (b, _m(b, 10, ok=False)), (c, _m(c, 9999, warmup=True))])
    assert picks[0].ps.id == b.id and picks[0].extra()["measured_failed"] is True
    assert all(p.ps.id != c.id for p in picks)


def _scan(partition: str, rows: int, read: int, io_ms: float, ms: float) -> dict:
    return {"Node Type": "Seq Scan", "Relation Name": partition, "Alias": "rat",
            "Plan Rows": 10, "Actual Rows": rows, "Actual Loops": 1, "Actual Total Time": ms,
            "Shared Hit Blocks": 0, "Shared Read Blocks": read, "Shared I/O Read Time": io_ms}


def _list_plan() -> list:
    scans = [_scan("resource_action_traces_y2026m10", 200000, 30000, 700.0, 800.0),
             _scan("resource_action_traces_y2026m11", 0, 20000, 150.0, 190.0)]
    append = {"Node Type": "Append", "Plan Rows": 20, "Actual Rows": 200000, "Actual Loops": 1,
              "Actual Total Time": 1000.0, "Shared Read Blocks": 50000,
              "Shared I/O Read Time": 850.0, "Plans": scans}
    sort = {"Node Type": "Sort", "Sort Key": ["rat.action_timestamp DESC"],
            "Sort Method": "top-N heapsort", "Plan Rows": 20, "Actual Rows": 10,
            "Actual Loops": 1, "Actual Total Time": 1100.0, "Shared Read Blocks": 50000,
            "Shared I/O Read Time": 850.0, "Plans": [append]}
    limit = {"Node Type": "Limit", "Plan Rows": 10, "Actual Rows": 10, "Actual Loops": 1,
             "Actual Total Time": 1100.0, "Shared Read Blocks": 50000,
             "Shared I/O Read Time": 850.0, "Plans": [sort]}
    return [{"Plan": limit, "Execution Time": 1101.0, "Planning Time": 0.5}]


def test_diagnosis_names_the_causes_the_plan_shows_and_the_remedy():
    found = analyse_plan(summarize_plan(_list_plan()), query="list_incidents",
                         params={"limit": 10})
    codes = [c["code"] for c in found["causes"]]
    assert codes == ["io_bound", "rows_fetched", "sort_all_rows", "no_partition_pruning",
                     "row_misestimate"]
    assert found["io_read_share"] == round(850 / 1101, 3)
    assert found["rows_fetched"] == 200000 and found["rows_returned"] == 10
    assert found["sorts"][0]["input_rows"] == 200000
    assert found["sorts"][0]["method"] == "top-N heapsort"
    assert found["partitions"] == {"scanned": 2, "with_rows": 1, "pruned": 0}
    assert found["top_nodes"][0]["node"].startswith("Seq Scan")

    verdict = {"query": "list_incidents", "variant": "as_shipped", "phase": "warm",
               "labels": {}, "verdict": "FAIL", "unit": "ms"}
    plan = {"file": "plans/x.json", "_summary": summarize_plan(_list_plan()),
            "params": {"limit": 10}, "phase": "warm", "query": "list_incidents",
            "variant": "as_shipped", "execution_ms": 1101.0}
    d = diagnose(verdict, plan)
    assert [r["variant"] for r in d["remedies"]] == ["skip", "skip_prewarmed", "deferred",
                                                      "indexed"]
    assert "sort over 200,000 rows" in d["text"] and "Remedy: skip" in d["text"]


def test_the_slowest_tail_plan_represents_the_failure():
    verdict = {"query": "q", "variant": "v", "phase": "p"}
    fixed = {"_summary": {"nodes": []}, "file": "fixed"}
    tails = [{"query": "q", "variant": "v", "phase": "p", "_summary": {"nodes": []}, "measured_ms": 5,
              "file": "t2"},
             {"query": "q", "variant": "v", "phase": "p", "_summary": {"nodes": []}, "measured_ms": 50,
              "file": "t1"},
             {"query": "q", "variant": "other", "phase": "p", "_summary": {"nodes": []}, "measured_ms": 99,
              "file": "x"}]
    assert pick_plan(verdict, fixed, tails)["file"] == "t1"
    assert pick_plan(verdict, fixed, [])["file"] == "fixed"


def test_cold_planning_is_named_when_planning_dominates():
    plan = [{"Plan": {"Node Type": "Result", "Plan Rows": 1, "Actual Rows": 1,
                      "Actual Loops": 1, "Actual Total Time": 4.0},
             "Planning Time": 300.0, "Execution Time": 5.0,
             "Planning": {"Shared Hit Blocks": 10, "Shared Read Blocks": 420}}]
    found = analyse_plan(summarize_plan(plan))
    assert [c["code"] for c in found["causes"]] == ["cold_planning"]
    assert found["planning_read_blocks"] == 420
    d = diagnose({"query": "success_rate", "variant": "rollup", "phase": "cold", "labels": {},
                  "verdict": "FAIL", "unit": "ms"},
                 {"_summary": summarize_plan(plan), "params": {}, "file": "f"})
    assert "planning took 300 ms" in d["text"] and d["remedies"] == []


def test_remedy_sides_are_judged_by_their_latency_check_max_where_the_cold_p95_is_off(tmp_path):
    """remedies-1m judges cold samples by "every request under 500 ms" (max) since 10 samples
    cannot bound a p95: the Remedies table must use that check, not show "–" and never
    recommend anything."""
    from ctxbench.analysis.remedy_summary import summarize_remedies

    def group(variant: str, phase: str, p95: float) -> dict:
        return {"query": "count_incidents", "variant": variant, "phase": phase,
                "key": f"{variant}@{phase}", "latency_ms": {"p95": {"value": p95}}, "n": 80,
                "n_errors": 0}

    def row(variant: str, phase: str, metric: str, verdict: str) -> dict:
        return {"group": f"{variant}@{phase}", "metric": metric, "unit": "ms", "verdict": verdict,
                "threshold": 500.0 if metric == "max" else 50.0}

    groups = [group(v, p, x) for v, x in (("as_shipped", 900.0), ("rollup", 9.0))
              for p in ("after_analyze.cold", "after_analyze.warm")]
    verdicts = [row("as_shipped", "after_analyze.cold", "max", "FAIL"),
                row("as_shipped", "after_analyze.warm", "p95", "FAIL"),
                row("rollup", "after_analyze.cold", "max", "PASS"),
                row("rollup", "after_analyze.warm", "p95", "PASS"),
                {**row("rollup", "after_analyze.warm", "error_rate", "INCONCLUSIVE"), "unit": ""}]
    [entry] = summarize_remedies(groups, verdicts, [], [], tmp_path)  # type: ignore[arg-type]
    rollup = next(e for e in entry["remedies"] if e["variant"] == "rollup")
    assert rollup["cold"]["verdict"] == "PASS" and rollup["cold"]["metric"] == "max"
    assert rollup["warm"]["metric"] == "p95" and rollup["passes"]
    assert entry["recommended"] == "rollup"
    assert entry["as_shipped"]["cold"]["verdict"] == "FAIL"


def test_best_and_floor_use_the_figure_the_cold_check_judged(tmp_path):
    """Where the cold check is "every request under 500 ms" (max), the best remedy reached is
    the one with the lowest cold max (not p95), and the floor and the Remedies table name the
    max."""
    from ctxbench.analysis.remedy_summary import summarize_remedies
    from ctxbench.report.remedies import _p95

    def group(variant: str, phase: str, p95: float, mx: float) -> dict:
        return {"query": "list_incidents", "variant": variant, "phase": phase,
                "key": f"{variant}@{phase}", "n": 10, "n_errors": 0,
                "latency_ms": {"p95": {"value": p95, "lo": p95 * 0.9, "hi": p95 * 1.2},
                               "max": {"value": mx, "lo": mx, "hi": mx}}}

    def row(variant: str, phase: str, metric: str, verdict: str, diagnosis=None) -> dict:
        return {"group": f"{variant}@{phase}", "metric": metric, "unit": "ms", "verdict": verdict,
                "threshold": 500.0 if metric == "max" else 50.0, "diagnosis": diagnosis}

    cold, warm = "after_analyze.cold", "after_analyze.warm"
    # "a": lower p95 but a higher max; "b": the lower max
    groups = [group("as_shipped", cold, 2000.0, 2500.0), group("as_shipped", warm, 900.0, 950.0),
              group("deferred", cold, 300.0, 1800.0), group("deferred", warm, 40.0, 60.0),
              group("skip", cold, 450.0, 700.0), group("skip", warm, 16.0, 30.0)]
    diag = {"shared_read_blocks": 120, "read_mb": 0.98, "io_read_share": 0.9}
    verdicts = [row("as_shipped", cold, "max", "FAIL"), row("as_shipped", warm, "p95", "FAIL"),
                row("deferred", cold, "max", "FAIL", diag), row("deferred", warm, "p95", "PASS"),
                row("skip", cold, "max", "FAIL", diag), row("skip", warm, "p95", "PASS")]
    [entry] = summarize_remedies(groups, verdicts, [], [], tmp_path)  # type: ignore[arg-type]
    assert entry["recommended"] is None
    assert entry["best"]["variant"] == "skip"
    assert entry["best"]["cold_metric"] == "max" and entry["best"]["cold_value"] == 700.0
    assert entry["floor"].startswith("cold max 700 ms: the slowest plan reads 120 blocks")
    skip = next(e for e in entry["remedies"] if e["variant"] == "skip")
    assert _p95(skip["cold"]).startswith("max 700") and _p95(skip["warm"]) != "–"
