"""Report sections: **Diagnosis** (why each check failed, from the plan captured in the same
state) and **Remedies** (per query: as shipped beside each remedy, cold and warm p95 with
intervals and verdicts, answer check, cost, the recommendation, and the plan diff inline).

Both are pure functions of summary.json's ``verdicts[*].diagnosis`` and ``remedies`` plus
the plan files of the results folder (for the inline ``plans diff`` listing).
"""

from __future__ import annotations

from typing import Any

from ctxbench.analysis.plans import diff_plans
from ctxbench.analysis.summary import read_plans
from ctxbench.report.content import fmt_est, fmt_num, phase_label, verdict_cell
from ctxbench.report.document import Block, Bullets, Code, Details, Heading, Para, Table
from ctxbench.report.plan_view import diff_text
from ctxbench.results.store import ResultsDir

MAX_DIAGNOSES = 60


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    return diagnosis_blocks(summary) + remedies_blocks(summary, results)


def diagnosis_blocks(summary: dict[str, Any]) -> list[Block]:
    rows = [v for v in summary.get("verdicts", []) if v.get("diagnosis")]
    if not rows:
        return []
    items = []
    for v in rows[:MAX_DIAGNOSES]:
        d = v["diagnosis"]
        plan = d.get("plan") or {}
        which = plan.get("role") or "–"
        if plan.get("param_kind"):
            which += f", kind {plan['param_kind']}"
        if plan.get("measured_ms") is not None:
            which += f", measured {fmt_num(plan['measured_ms'])} ms"
        codes = ", ".join(c["code"] for c in d.get("causes", [])) or "none found"
        items.append(f"{v['verdict']} {v['query']}[{v['variant']}] · "
                     f"{phase_label(v['phase'], v['labels'])} · {v['metric']} — {d['text']} "
                     f"(plan: {which}; causes: {codes})")
    blocks: list[Block] = [
        Heading(2, "Diagnosis", "diagnosis"),
        Para("For every failed or inconclusive check: where the time went in the plan captured "
             "in the same state (the slowest tail sample's parameters when captured, else the "
             "fixed plan set), and the catalog remedy that addresses that cause. Cause codes and "
             "numbers are in summary.json (verdicts[*].diagnosis).", "note"),
        Bullets(items)]
    if len(rows) > MAX_DIAGNOSES:
        blocks.append(Para(f"{len(rows) - MAX_DIAGNOSES} more in summary.json.", "note"))
    return blocks


def _p95(side: dict[str, Any] | None) -> str:
    if side and side.get("metric") == "max" and side.get("max"):
        # the check judged every request: the figure it judged, beside the p95
        p95 = f" (p95 {fmt_est(side['p95'])})" if side.get("p95") else ""
        return f"max {fmt_num(side['max']['value'])}{p95}"
    if not side or not side.get("p95"):
        return "–"
    return fmt_est(side["p95"])


def _verdict(side: dict[str, Any] | None) -> str:
    if not side or not side.get("verdict"):
        return "–"
    metric = side.get("metric")
    return verdict_cell(side["verdict"]) + (f" ({metric})" if metric and metric != "p95" else "")


def _cost(e: dict[str, Any]) -> str:
    bits = []
    if e.get("build"):
        bits.append(f"build {fmt_num(e['build']['seconds'])} s, "
                    f"{e['build']['bytes'] / 1e6:.1f} MB")
    for w in e.get("writes", []):
        bits.append(f"{w['schema_variant']}: COPY ×{w['copy_vs_shipped']:.2f}, "
                    f"INSERT ×{w['insert_vs_shipped']:.2f}")
    start = e.get("start")
    if start:
        bits.append(f"at every start: pg_prewarm {start['mb']:,.0f} MB of shared buffers "
                    f"({start['blocks']:,} blocks) in {fmt_num(start['seconds_mean'])} s "
                    f"(max {fmt_num(start['seconds_max'])} s, {start['runs']} starts)")
    if not e.get("schema_variants"):
        bits.append("no schema change")
    return "; ".join(bits) or "–"


def remedies_blocks(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    entries = summary.get("remedies") or []
    if not entries:
        return []
    first = entries[0]
    blocks: list[Block] = [
        Heading(2, "Remedies", "remedies"),
        Para(f"Each query as shipped beside its remedies, measured in the same run on the same "
             f"parameter sets (cold = {first['cold_phase']}, warm = {first['warm_phase']}; p95 in "
             "ms with 95% intervals). A remedy is recommended when both checks PASS (exact "
             "answers first, then the lowest warm p95). Build cost: the remedy's schema built "
             "on this run's data; write cost (× the shipped schema's rows/s) from "
             "`ctxbench remedies cost` when remedy_cost.json is in the folder; start cost: a "
             "remedy's server-start action (pg_prewarm), run after every cache reset of its "
             "cold samples before the sample, timed there (its cold p95 is the first request "
             "after a start with that action).", "note")]
    rows, kinds = [], []
    for e in entries:
        s = e["as_shipped"]
        rows.append([e["query"], "as_shipped", _p95(s["cold"]), _verdict(s["cold"]),
                     _p95(s["warm"]), _verdict(s["warm"]), "shipped", "–", ""])
        kinds.append("")
        for r in e["remedies"]:
            answer = "changes (declared)" if r["changes_answer"] else "same"
            mark = "✔ recommended" if r["variant"] == e["recommended"] else (
                "best reached" if (e.get("best") or {}).get("variant") == r["variant"] else "")
            rows.append([e["query"], r["variant"], _p95(r["cold"]), _verdict(r["cold"]),
                         _p95(r["warm"]), _verdict(r["warm"]), answer, _cost(r), mark])
            kinds.append("pass" if r["passes"] else "warn")
    blocks.append(Table(["Query", "Variant", "Cold p95 (or max)", "Cold", "Warm p95", "Warm", "Answer",
                         "Cost", ""], rows, row_kinds=kinds))
    plans = {(p["phase"], p["query"], p["variant"]): p for p in read_plans(results)
             if p.get("_summary")}
    for e in entries:
        inner: list[Block] = []
        diag = ((e["as_shipped"].get("cold") or {}).get("diagnosis")
                or (e["as_shipped"].get("warm") or {}).get("diagnosis"))
        if diag:
            inner.append(Para(f"Why as_shipped fails: {diag['text']}"))
        if e["recommended"]:
            inner.append(Para(f"Recommended: {e['recommended']}.", "verdict"))
        elif e.get("best"):
            b = e["best"]
            cold = (f"cold {b['cold_metric']} {fmt_num(b['cold_value'])} ms" if "cold_metric" in b
                    else f"cold p95 {fmt_num(b['cold_p95'])} ms")  # (folders written before)
            inner.append(Para(f"No remedy passes both checks. Best reached: {b['variant']} "
                              f"({cold}, warm p95 "
                              f"{fmt_num(b['warm_p95'])} ms). "
                              + (f"Floor: {e['floor']}." if e.get("floor") else ""), "warning"))
        for r in e["remedies"]:
            inner.append(Para(f"{r['variant']}: {r['doc']} Answer check: {r['answer_check']}."))
            a = plans.get((r["plan_phase"], e["query"], "as_shipped"))
            b = plans.get((r["plan_phase"], e["query"], r["variant"]))
            if a and b:
                d = diff_plans(a["_summary"], b["_summary"])
                inner += [Para(f"ctxbench plans diff RUN/{a['file']} RUN/{b['file']} "
                               f"(as_shipped → {r['variant']}, {r['plan_phase']}, same "
                               "parameters)", "note"),
                          Bullets(r["plan_changes"]), Code(diff_text(d))]
        blocks.append(Details(f"{e['query']}: why it fails, the remedies and their plan diffs",
                              inner))
    return blocks
