"""summary.json ``remedies``: per query, as_shipped beside each remedy measured in the run.

One entry per query with at least one variant other than as_shipped measured (as_shipped's
sides are null when the run stopped before measuring it)::

    query, cold_phase, warm_phase
    as_shipped   {cold, warm, diagnosis}     cold/warm: {p95: {value, lo, hi}, max, n, verdict,
                                             budget_ms} (null when not measured)
    remedies     [{variant, doc, changes_answer, schema_variants, cold, warm, passes,
                   build: {seconds, bytes} | null, writes: [{schema_variant, copy_vs_shipped,
                   insert_vs_shipped}], start: {action, runs, seconds_mean, seconds_max,
                   blocks, mb} | null, answer_check, plan_changes: [text], plan_phase}]
    recommended  the variant to apply (both checks PASS; exact answers first, then the lowest
                 warm p95), or null
    best         when nothing passes: {variant, cold_p95, cold_metric, cold_value (the figure
                 the cold check judged: the max where it is "every request under the budget"),
                 warm_p95}; the remedy with the lowest cold_value
    floor        when nothing passes: what still costs, from the best remedy's diagnosis

Build costs come from the run's ``remedy_schema`` phase (the variants built on this data);
start costs (a variant's ``on_start`` action, e.g. pg_prewarm after every server start: its
seconds and the MB of shared buffers it fills) from the cold phase's ``on_start`` events;
write costs from ``remedy_cost.json`` in the folder (``ctxbench remedies cost --into DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxbench.analysis.plans import explain_changes
from ctxbench.errors import UsageError
from ctxbench.queries import AS_SHIPPED, catalog, schema_variant_names
from ctxbench.queries.remedies import remedy
from ctxbench.results.summary_types import GroupStats, PlanEntry, VerdictRow

COST_FILE = "remedy_cost.json"
VERDICT_RANK = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2}
ANSWER_TESTS = {"semantic_search": "tests/test_queries_oracle.py (against numpy brute force)"}
DEFAULT_TEST = "tests/test_remedies.py (same parameter sets as as_shipped, CI dataset)"


def _phase_of(phases: list[str], kind: str) -> str | None:
    found = [p for p in phases if p == kind or p.endswith("." + kind)]
    for preferred in (f"after_analyze.{kind}", kind):
        if preferred in found:
            return preferred
    return found[-1] if found else None


def _side(groups: list[GroupStats], verdicts: list[VerdictRow], query: str,
          variant: str, phase: str | None) -> dict[str, Any] | None:
    if phase is None:
        return None
    group = next((g for g in groups if (g["query"], g["variant"], g["phase"])
                  == (query, variant, phase)), None)
    if group is None:
        return None
    # the group's latency checks (a p95, or the cold "every request under the budget" max that
    # replaces it where few samples are taken), the worst of them deciding
    mine = [v for v in verdicts if v["group"] == group["key"] and v.get("unit") == "ms"]
    worst = min(mine, key=lambda v: VERDICT_RANK.get(v["verdict"], 1)) if mine else None
    p95 = group["latency_ms"].get("p95")
    return {"p95": p95, "max": group["latency_ms"].get("max"),
            "n": group["n"], "n_errors": group["n_errors"],
            "verdict": worst["verdict"] if worst else None,
            "metric": worst["metric"] if worst else None,
            "budget_ms": worst["threshold"] if worst else None,
            "diagnosis": worst.get("diagnosis") if worst else None}


def _builds(records: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.phase != "remedy_schema":
            continue
        for e in r.events:
            if isinstance(e, dict) and e.get("type") == "schema_variant":
                out[e["name"]] = e
    return out


def _starts(records: list[Any], phase: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    """The cold phase's server-start actions per (query, variant): what they cost."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if phase is None or r.phase != phase:
            continue
        for e in r.events:
            if isinstance(e, dict) and e.get("type") == "on_start":
                out[(e["query"], e["variant"])] = {
                    k: e[k] for k in ("action", "runs", "seconds_mean", "seconds_max", "blocks",
                                      "mb", "resident_blocks_min") if k in e}
    return out


def _costs(folder: Path) -> dict[str, Any] | None:
    path = folder / COST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _plan(plans: list[PlanEntry], query: str, variant: str, phase: str | None
          ) -> PlanEntry | None:
    return next((p for p in plans if (p["query"], p["variant"], p["phase"]) == (query, variant, phase)
                 and p.get("_summary")), None)


def deciding(side: dict[str, Any] | None) -> tuple[str, float | None]:
    """(metric, value) the side's latency check judged: the max where the check is "every
    request under the budget" (few cold samples), else the p95."""
    key = "max" if side and side.get("metric") == "max" else "p95"
    return key, ((side or {}).get(key) or {}).get("value")


def _floor(best: dict[str, Any]) -> str:
    bits = []
    for side in ("cold", "warm"):
        s = best.get(side) or {}
        d = s.get("diagnosis")
        if s.get("verdict") == "PASS" or not d:
            continue
        metric, value = deciding(s)
        text = f"{side} {metric} {value:.4g} ms" if value is not None else f"{side}"
        detail = []
        if d.get("shared_read_blocks"):
            detail.append(f"reads {d['shared_read_blocks']:,} blocks ({d['read_mb']:g} MB) "
                          f"with {d['io_read_share'] * 100:.0f}% of the time in I/O")
        if d.get("rows_fetched"):
            detail.append(f"visits {d['rows_fetched']:,} rows to return {d['rows_returned']:,}")
        if d.get("top_nodes"):
            n = d["top_nodes"][0]
            detail.append(f"most time in {n['node']} ({n['self_ms']:.3g} ms)")
        bits.append(text + (": the slowest plan " + ", ".join(detail) if detail else ""))
    return "; ".join(bits)


def summarize_remedies(groups: list[GroupStats], verdicts: list[VerdictRow],
                       plans: list[PlanEntry], records: list[Any],
                       folder: Path) -> list[dict[str, Any]]:
    phases = list(dict.fromkeys(g["phase"] for g in groups))
    cold_phase, warm_phase = _phase_of(phases, "cold"), _phase_of(phases, "warm")
    builds, costs, starts = _builds(records), _costs(folder), _starts(records, cold_phase)
    cost_by_state = {s["state"]: s for s in (costs or {}).get("states", [])}
    out = []
    for query in catalog:
        variants = list(dict.fromkeys(g["variant"] for g in groups if g["query"] == query))
        others = [v for v in variants if v != AS_SHIPPED]
        if not others:  # (as_shipped may be missing: a run cut short in its second stage)
            continue
        shipped = {"cold": _side(groups, verdicts, query, AS_SHIPPED, cold_phase),
                   "warm": _side(groups, verdicts, query, AS_SHIPPED, warm_phase)}
        entries: list[dict[str, Any]] = []
        for variant in others:
            try:
                v = catalog[query].variant(variant)
            except UsageError:  # a folder recorded with a variant this catalog does not know
                continue
            names = schema_variant_names(v.schema_variant)
            cold = _side(groups, verdicts, query, variant, cold_phase)
            warm = _side(groups, verdicts, query, variant, warm_phase)
            build = None
            if names and all(n in builds for n in names):
                build = {"seconds": round(sum(builds[n]["seconds"] for n in names), 3),
                         "bytes": sum(builds[n]["bytes"] for n in names)}
            writes = [{"schema_variant": n,
                       "copy_vs_shipped": cost_by_state[n]["copy_vs_shipped"],
                       "insert_vs_shipped": cost_by_state[n]["insert_vs_shipped"]}
                      for n in names if n in cost_by_state]
            changes: list[str] = []
            plan_phase = None
            for phase in (cold_phase, warm_phase):
                a, b = _plan(plans, query, AS_SHIPPED, phase), _plan(plans, query, variant, phase)
                if a and b:
                    changes, plan_phase = explain_changes(a["_summary"], b["_summary"]), phase
                    break
            entries.append({
                "variant": variant, "doc": v.doc, "changes_answer": v.changes_answer,
                "is_catalog_remedy": remedy(query, variant) is not None,
                "schema_variants": names, "cold": cold, "warm": warm,
                "passes": bool(cold and warm and cold["verdict"] == "PASS"
                               and warm["verdict"] == "PASS"),
                "build": build, "writes": writes, "start": starts.get((query, variant)),
                "answer_check": ANSWER_TESTS.get(query, DEFAULT_TEST),
                "plan_changes": changes, "plan_phase": plan_phase,
            })
        passing = [e for e in entries if e["passes"]]
        recommended = None
        if passing:
            recommended = min(passing, key=lambda e: (e["changes_answer"],
                                                      (e["warm"]["p95"] or {}).get("value", 1e18)))
        entry: dict[str, Any] = {
            "query": query, "cold_phase": cold_phase, "warm_phase": warm_phase,
            "as_shipped": shipped, "remedies": entries,
            "recommended": recommended["variant"] if recommended else None,
            "best": None, "floor": None,
        }
        if recommended is None and entries:
            def cold_figure(e: dict[str, Any]) -> float:
                value = deciding(e["cold"])[1]
                return float("inf") if value is None else value
            best = min(entries, key=cold_figure)
            entry["best"] = {"variant": best["variant"],
                             "cold_p95": ((best["cold"] or {}).get("p95") or {}).get("value"),
                             "cold_metric": deciding(best["cold"])[0],
                             "cold_value": deciding(best["cold"])[1],
                             "warm_p95": ((best["warm"] or {}).get("p95") or {}).get("value")}
            entry["floor"] = _floor(best) or None
        out.append(entry)
    return out
