"""What the report says, in order, as document blocks (renderers decide how it looks).

Order: incomplete-run warning, overall verdict, the findings in words and the verdict matrix
first (that is what a CI job summary is read for; ``firstscreen``), every budget check
(collapsed), then run status and phases, latency per phase, cold vs warm and
before vs after ANALYZE with the plans' buffers (the "why"), plan changes, HNSW warm-up,
extra metrics, errors, plans, environment and method.
"""

from __future__ import annotations

from typing import Any

from ctxbench.analysis.verdicts import FAIL, ICONS, INCONCLUSIVE, PASS
from ctxbench.report.document import (
    Block,
    Bullets,
    Code,
    Details,
    Figure,
    Heading,
    Para,
    Table,
)
from ctxbench.report.firstscreen import first_screen
from ctxbench.results.summary_types import EstimateJson, RunInfo, Summary, VerdictRow

ROW_KIND = {FAIL: "fail", INCONCLUSIVE: "warn", PASS: "pass"}
MOSTLY_EMPTY = 0.5


def fmt_num(value: Any) -> str:
    """3 significant digits without exponents: 0.123, 7.21, 241, 1234."""
    if value is None:
        return "–"
    v = float(value)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a >= 0.001:
        return f"{v:.3f}"
    return f"{v:.1e}"


def fmt_est(e: EstimateJson | None, exact: bool = False) -> str:
    if not e:
        return "–"
    if exact or e["lo"] == e["hi"]:
        return fmt_num(e["value"])
    # a bound the samples cannot give (too few for the percentile's exact interval) is open
    lo = "0" if e["lo"] is None else fmt_num(e["lo"])  # (latencies and rates are ≥ 0)
    hi = "∞" if e["hi"] is None else fmt_num(e["hi"])
    return f"{fmt_num(e['value'])} [{lo}–{hi}]"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_labels(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items())


def shown_labels(phase: str, labels: dict[str, str] | None) -> dict[str, str]:
    """Labels minus those the phase name already says (cache=warm in 'after_analyze.warm',
    stats=no_stats in 'before_analyze.cold')."""
    base, _, sub = phase.partition(".")
    implied: dict[str, set[str]] = {"cache": {sub or base}, "cache_state": {sub or base}}
    if base in ("before_analyze", "after_analyze"):
        implied["stats"] = implied["stats_state"] = {"no_stats", "analyzed", "partial"}
    return {k: v for k, v in (labels or {}).items() if v not in implied.get(k, set())}


def phase_label(phase: str, labels: dict[str, str] | None) -> str:
    text = fmt_labels(shown_labels(phase, labels))
    return f"{phase} ({text})" if text else phase


OP_TEXT = {"<=": "≤", ">=": "≥"}


def budget_text(v: VerdictRow) -> str:
    """'≤ 500 ms' for a verdict row."""
    unit = f" {v['unit']}" if v["unit"] else ""
    return f"{OP_TEXT.get(v['op'], v['op'])} {fmt_num(v['threshold'])}{unit}"


def fmt_rate(e: EstimateJson | None) -> str:
    if not e:
        return "–"
    return f"{_pct2(e['value'])}% [{_pct2(e['lo'])}–{_pct2(e['hi'])}%]"


def _pct2(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.2g}"


def verdict_cell(verdict: str) -> str:
    return f"{ICONS.get(verdict, '')} {verdict}".strip()


def verdict_estimate(v: VerdictRow) -> str:
    if v["estimate"] is None:
        return "–"
    if v["unit"] == "" and v["metric"] in ("error_rate", "empty_rate"):
        return fmt_rate({"value": v["estimate"], "lo": v["ci_low"], "hi": v["ci_high"]})
    unit = f" {v['unit']}" if v["unit"] else ""
    if v["ci_low"] == v["ci_high"]:
        return f"{fmt_num(v['estimate'])}{unit}"
    return f"{fmt_num(v['estimate'])} [{fmt_num(v['ci_low'])}–{fmt_num(v['ci_high'])}]{unit}"


def verdict_table(summary: Summary) -> Table:
    rows, kinds = [], []
    for v in summary["verdicts"]:
        rows.append([v["query"], v["variant"], phase_label(v["phase"], v["labels"]), v["metric"],
                     budget_text(v),
                     verdict_estimate(v), str(v["n"]), verdict_cell(v["verdict"]),
                     "" if v["verdict"] == PASS else v["reason"]])
        kinds.append(ROW_KIND[v["verdict"]])
    return Table(["Query", "Variant", "Phase", "Metric", "Budget", "Estimate [95% CI]", "n",
                  "Verdict", "Why"], rows, numeric={6}, row_kinds=kinds)


def overall_line(summary: Summary) -> str:
    v = summary["verdict"]
    c = v["counts"]
    total = sum(c.values())
    parts = f"{c[FAIL]} failed, {c[INCONCLUSIVE]} inconclusive, {c[PASS]} passed of {total} " \
            "budget checks"
    return f"Verdict: {verdict_cell(v['overall'])} — {parts}"


def _incomplete(summary: Summary) -> list[Block]:
    run, v = summary["run"], summary["verdict"]
    if run["complete"]:
        return []
    text = f"{ICONS[INCONCLUSIVE]} INCOMPLETE RUN — {run.get('incomplete_reason') or 'unknown'}."
    if v["incomplete_phases"]:
        text += " Unfinished phases: " + ", ".join(v["incomplete_phases"]) + "."
    text += " The figures cover only what was measured before it stopped."
    return [Para(text, "warning")]


def _run_status(summary: Summary) -> list[Block]:
    run = summary["run"]
    rows = [["Run id", str(run.get("run_id"))], ["Scenario", str(run.get("scenario"))],
            ["Kind", str(run.get("kind"))],
            ["Status", _status_text(run)],
            ["Started", str(run.get("started_at") or "–")],
            ["Ended", str(run.get("ended_at") or "–")],
            ["Duration", f"{fmt_num(run['duration_s'])} s" if run.get("duration_s") is not None
             else "–"],
            ["Measurements", str(summary["verdict"]["measurements"])]]
    if run.get("error"):
        rows.append(["Error", str(run["error"])])
    rows += _window_rows((run.get("extra") or {}).get("windows"))
    blocks: list[Block] = [Heading(2, "Run", "run"), Table(["", ""], rows)]
    for warning in (run.get("extra") or {}).get("warnings") or []:
        blocks.append(Para(f"{ICONS[INCONCLUSIVE]} {warning}", "warning"))
    if summary["phases"]:
        prow = []
        for p in summary["phases"]:
            events = "; ".join(_event_text(e) for e in p["events"])
            prow.append([p["phase"], p["status"], fmt_num(p.get("duration_s")),
                         p.get("cache_reset") or "–", p.get("stats_state") or "–",
                         "; ".join(p.get("notes") or []) + (f" ERROR: {p['error']}"
                                                            if p.get("error") else ""),
                         events])
        blocks += [Heading(3, "Phases"),
                   Table(["Phase", "Status", "Seconds", "Cache reset", "Statistics", "Notes",
                          "Events"], prow, numeric={2},
                         row_kinds=["" if p["status"] in ("complete", "skipped") else "warn"
                                    for p in summary["phases"]])]
    return blocks


def _window_rows(windows: dict[str, Any] | None) -> list[list[str]]:
    """How the NOW()-relative windows were drawn (sampler's WindowShift, meta extra.windows)."""
    if not windows:
        return []
    if windows.get("mode") == "now" or not windows.get("now"):
        return [["NOW() windows", "as sent (not shifted to the data)"]]
    text = (f"relative to the data: + {fmt_num(windows['window_shift_s'] / 3600)} h on time windows, "
            f"+ {windows['trend_shift_days']} days on trend (data ends {windows['data_end'][:19]}, "
            f"NOW() {windows['now'][:19]})")
    clipped = windows.get("clipped") or {}
    if clipped:
        text += "; clipped to the allowed range: " + ", ".join(f"{q} {n}" for q, n in clipped.items())
    return [["NOW() windows", text]]


def _status_text(run: RunInfo) -> str:
    """'complete', or 'incomplete (interrupted)'; never 'incomplete (incomplete)'."""
    status = str(run.get("status") or "unknown")
    if run.get("complete"):
        return status
    raw = run.get("raw_status") or "no meta.json"
    return status if raw == status else f"{status} ({raw})"


def _event_text(event: Any) -> str:
    if not isinstance(event, dict):
        return str(event)
    name = event.get("event") or event.get("name") or event.get("kind") or "event"
    rest = ", ".join(f"{k}={_short(v)}" for k, v in event.items()
                     if k not in ("event", "name", "kind"))
    return f"{name}({rest})" if rest else str(name)


def _short(value: Any, limit: int = 100) -> str:
    if isinstance(value, float):
        return fmt_num(value)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"[{len(value)} entries]"
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _latency_tables(summary: Summary, figures: dict[str, Figure]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Latency by phase", "latency"),
                           Para("Client wall time around execute + fetch, in ms; warm-up "
                                "executions excluded; estimates with 95% bootstrap intervals.",
                                "note")]
    phases: list[str] = []
    for g in summary["groups"]:
        if g["phase"] not in phases:
            phases.append(g["phase"])
    for phase in phases:
        rows, kinds = [], []
        for g in (g for g in summary["groups"] if g["phase"] == phase):
            lat, r = g["latency_ms"], g["rows"]
            empty = r["empty_fraction"] if r else None
            rows.append([g["query"], g["variant"], fmt_labels(shown_labels(phase, g["labels"])),
                         str(g["n"]),
                         str(g["n_errors"]), fmt_est(lat.get("mean")), fmt_est(lat.get("p50")),
                         fmt_est(lat.get("p95")), fmt_est(lat.get("p99")),
                         fmt_est(lat.get("max"), exact=True),
                         (f"{r['min']}/{fmt_num(r['mean'])}/{r['max']}" if r else "–"),
                         fmt_pct(empty)])
            kinds.append("warn" if (g["n_errors"] or (empty or 0) > MOSTLY_EMPTY) else "")
        record = next((p for p in summary["phases"] if p["phase"] == phase), None)
        blocks.append(Heading(3, f"Phase {phase}", f"phase-{phase}"))
        if record and (record.get("cache_reset") or record.get("stats_state")):
            blocks.append(Para(f"cache reset: {record.get('cache_reset') or '–'}; statistics: "
                               f"{record.get('stats_state') or '–'}", "note"))
        headers = ["Query", "Variant", "Labels", "n", "Errors", "Mean", "p50", "p95", "p99",
                   "Max", "Rows min/mean/max", "Empty"]
        numeric = {3, 4, 5, 6, 7, 8, 9, 11}
        if not any(r[2] for r in rows):  # no labels in this phase: drop the column
            headers.pop(2)
            rows = [r[:2] + r[3:] for r in rows]
            numeric = {i - 1 for i in numeric}
        blocks.append(Table(headers, rows, numeric=numeric, row_kinds=kinds))
        kind_rows = [[g["query"], g["variant"], k["param_kind"], str(k["n"]), fmt_num(k["p50"]),
                      fmt_num(k["p95"]), fmt_num(k["max"]), fmt_num(k["rows_mean"]),
                      fmt_pct(k["empty_fraction"])]
                     for g in summary["groups"] if g["phase"] == phase
                     for k in g.get("by_param_kind", [])]
        if kind_rows:
            blocks.append(Details(f"Phase {phase} by parameter kind", [Table(
                ["Query", "Variant", "Parameter kind", "n", "p50", "p95", "Max", "Rows mean",
                 "Empty"], kind_rows, numeric={3, 4, 5, 6, 7, 8})]))
        if f"latency:{phase}" in figures:
            blocks.append(figures[f"latency:{phase}"])
    empties = [g for g in summary["groups"]
               if g["rows"] and g["rows"]["empty_fraction"] > MOSTLY_EMPTY]
    if empties:
        blocks.append(Para(
            f"{ICONS[INCONCLUSIVE]} {len(empties)} group(s) returned an empty answer more often "
            "than not (" + ", ".join(f"{g['query']} in {g['phase']}" for g in empties[:5])
            + (", …" if len(empties) > 5 else "") + "). An empty answer is not a fast query: "
            "check the parameters and the dataset's time anchor.", "warning"))
    return blocks


def _buffers(side: dict[str, Any]) -> str:
    plan = side.get("plan")
    if not plan:
        return "–"
    return (f"read {plan['shared_read']} / hit {plan['shared_hit']} "
            f"({fmt_num(plan['io_read_ms'])} ms I/O)")


def _cold_warm(summary: Summary, figures: dict[str, Figure]) -> list[Block]:
    pairs = summary["cold_warm"]
    if not pairs:
        return []
    rows = []
    for p in pairs:
        cold, warm = p["cold"], p["warm"]
        same = None
        if cold.get("plan") and warm.get("plan"):
            same = cold["plan"]["fingerprint"] == warm["plan"]["fingerprint"]
        rows.append([p["query"], p["variant"],
                     phase_label(p["context"], p["labels"]) if p["context"] else
                     fmt_labels(p["labels"]),
                     fmt_est(cold.get("p50")), fmt_est(warm.get("p50")),
                     f"{fmt_num(p['ratio'])}×" if p["ratio"] else "–",
                     _buffers(cold), _buffers(warm),
                     "–" if same is None else ("same" if same else "CHANGED")])
    blocks: list[Block] = [
        Heading(2, "Cold vs warm", "cold-warm"),
        Para("Median latency cold (first execution after a cache reset) and warm, with the "
             "shared buffers the captured plan read from disk vs found in memory: the blocks "
             "read are why cold is slow.", "note"),
        Table(["Query", "Variant", "Context", "Cold p50 ms", "Warm p50 ms", "Cold/warm",
               "Cold plan buffers", "Warm plan buffers", "Plan"], rows, numeric={3, 4, 5})]
    if "cold_warm" in figures:
        blocks.append(figures["cold_warm"])
    return blocks


def _before_after(summary: Summary, figures: dict[str, Figure]) -> list[Block]:
    pairs = summary["before_after"]
    if not pairs:
        return []
    rows, kinds = [], []
    for p in pairs:
        before, after = p["before"], p["after"]
        rows.append([p["query"], p["variant"],
                     ", ".join(x for x in (p.get("context"), fmt_labels(p["labels"])) if x),
                     fmt_est(before.get("p50")), fmt_est(after.get("p50")),
                     f"{fmt_num(p['ratio'])}×" if p["ratio"] else "–",
                     _buffers(before), _buffers(after),
                     p.get("plan_change") or ("same plan" if not p["plan_changed"] else "changed")
                     if before.get("plan") and after.get("plan") else "–"])
        kinds.append("warn" if p["plan_changed"] else "")
    blocks: list[Block] = [
        Heading(2, "Before vs after ANALYZE", "analyze"),
        Para("Same queries on freshly loaded tables without statistics, then after ANALYZE; "
             "a changed plan is the usual reason for a difference.", "note"),
        Table(["Query", "Variant", "Cache", "Before p50 ms", "After p50 ms", "Before/after",
               "Before plan buffers", "After plan buffers", "Plan change"], rows,
              numeric={3, 4, 5}, row_kinds=kinds)]
    if "before_after" in figures:
        blocks.append(figures["before_after"])
    return blocks


def _plan_changes(summary: Summary) -> list[Block]:
    changes = summary["plan_changes"]
    blocks: list[Block] = [Heading(2, "Plan changes", "plan-changes")]
    if not changes:
        blocks.append(Para("No plan changed shape between phases." if summary["plans"] else
                           "No plans were captured.", "note"))
        return blocks
    for c in changes:
        a, b = c["from"], c["to"]
        blocks.append(Heading(3, f"{c['query']}[{c['variant']}]: {c['kind']} — "
                                 f"{phase_label(a['phase'], a['labels'])} → "
                                 f"{phase_label(b['phase'], b['labels'])}"))
        blocks.append(Bullets(c["changes"]))
        blocks.append(Code(f"# {phase_label(a['phase'], a['labels'])} ({a['fingerprint']})\n"
                           + "\n".join(a["outline"] or [])
                           + f"\n\n# {phase_label(b['phase'], b['labels'])} "
                             f"({b['fingerprint']})\n" + "\n".join(b["outline"] or [])))
    return blocks


def _warmup(summary: Summary, figures: dict[str, Figure]) -> list[Block]:
    entries = summary["hnsw_warmup"]
    if not entries:
        return []
    rows = [[e["query"], e["variant"], e["prewarm"], str(e["repetitions"]), str(e["positions"]),
             fmt_num(e.get("prewarm_seconds", 0) * 1000) if "prewarm_seconds" in e else "–",
             fmt_num(e["prewarm_blocks"]) if "prewarm_blocks" in e else "–",
             fmt_num(e["first_ms"]), fmt_num(e["steady_ms"]),
             str(e["queries_to_steady"]) if e["steady"] else "–",
             fmt_num(e["ms_to_steady"]) if e["steady"] else "–", e["reason"]] for e in entries]
    blocks: list[Block] = [
        Heading(2, "HNSW warm-up", "hnsw-warmup"),
        Para("Latency of searches 1..N after a cold start, per prewarm mode (median per "
             "position over repetitions). Steady ms = median of the last half of the curve; "
             "steady from the first search after which the running median of 3 stays within "
             "1.5× of it, if at least 5 searches confirm it and the last two quarters of the "
             "curve agree within 50% — otherwise the curve is not steady (–) and 'How decided' "
             "says why (ctxbench.analysis.warmup).", "note"),
        Table(["Query", "Variant", "Prewarm", "Repetitions", "Searches", "Prewarm ms",
               "Prewarm blocks", "First ms", "Steady ms", "Searches to steady",
               "ms to steady", "How decided"], rows, numeric=set(range(3, 11)),
              row_kinds=["" if e["steady"] else "warn" for e in entries])]
    if "hnsw_warmup" in figures:
        blocks.append(figures["hnsw_warmup"])
    return blocks


def _metrics(summary: Summary) -> list[Block]:
    rows = []
    for g in summary["groups"]:
        for name, m in g["metrics"].items():
            rows.append([g["key"], name, str(m["n"]), fmt_est(m["mean"]), fmt_num(m["min"]),
                         fmt_num(m["max"])])
    if not rows:
        return []
    return [Heading(2, "Other metrics", "metrics"),
            Table(["Group", "Metric", "n", "Mean [95% CI]", "Min", "Max"], rows,
                  numeric={2, 3, 4, 5})]


def _errors(summary: Summary) -> list[Block]:
    rows = []
    for g in summary["groups"]:
        if g["n_errors"]:
            top = "; ".join(f"{msg} ×{n}" for msg, n in g["errors"].items())
            rows.append([g["key"], str(g["n_errors"]), fmt_rate(g["error_rate"]), top])
    if not rows:
        return []
    return [Heading(2, "Errors", "errors"),
            Table(["Group", "Errors", "Error rate [95% CI]", "Most frequent"], rows,
                  numeric={1}, row_kinds=["fail"] * len(rows))]


def _plans(summary: Summary) -> list[Block]:
    if not summary["plans"]:
        return []
    rows, outlines = [], []
    for p in summary["plans"]:
        fingerprint = p.get("fingerprint")
        if not fingerprint:
            rows.append([p["phase"] or "?", p["query"] or "?", p["variant"],
                         fmt_labels(p["labels"]), "–", "–", "–", "–", "–", "–",
                         f"error: {p.get('error')}"])
            continue
        rows.append([p["phase"] or "?", p["query"] or "?", p["variant"], fmt_labels(p["labels"]),
                     fmt_num(p["planning_ms"]), fmt_num(p["execution_ms"]), str(p["shared_hit"]),
                     str(p["shared_read"]), fmt_num(p["io_read_ms"]),
                     str(p.get("planning_shared_read", 0)), fingerprint])
        outlines.append(f"# {p['phase']} {p['query']}[{p['variant']}]"
                        f"{' ' + fmt_labels(p['labels']) if p['labels'] else ''} "
                        f"({fingerprint})\n" + "\n".join(p.get("outline") or []))
    return [Heading(2, "Plans", "plans"),
            Para("One EXPLAIN (ANALYZE, BUFFERS) per query and phase, run untimed beside the "
                 "measurements. Buffers are shared blocks (8 KiB): read = from disk / OS cache, "
                 "hit = already in shared buffers.", "note"),
            Table(["Phase", "Query", "Variant", "Labels", "Planning ms", "Execution ms", "Hit",
                   "Read", "I/O read ms", "Planning reads", "Fingerprint"], rows,
                  numeric={4, 5, 6, 7, 8, 9}),
            Details("Plan outlines", [Code("\n\n".join(outlines))])]


def _environment(summary: Summary) -> list[Block]:
    run = summary["run"]
    server = run.get("server") or {}
    rows = [["ctxbench", f"{run.get('ctxbench_version') or '?'} (git {run.get('git_sha') or '?'})"],
            ["Backend", str(run.get("backend") or "–")], ["Target", str(run.get("target") or "–")]]
    for key, value in server.items():
        if key == "settings":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        rows.append([f"server.{key}", str(value)])
    for section, facts in (("dataset", run.get("dataset")), ("machine", run.get("machine"))):
        for key, value in (facts or {}).items():
            rows.append([f"{section}.{key}", _short(value)])
    blocks: list[Block] = [Heading(2, "Environment", "environment"), Table(["", ""], rows)]
    settings = server.get("settings") or {}
    if settings:
        blocks.append(Details(f"Non-default server settings ({len(settings)})",
                              [Table(["Setting", "Value"],
                                     [[k, str(v)] for k, v in settings.items()])]))
    a = summary["analysis"]
    blocks += [Heading(3, "Method"),
               Bullets([f"Percentiles: numpy '{a['percentile_method']}' (the ⌈q·n⌉-th smallest "
                        "sample: always an observed latency).",
                        f"Intervals: {a['ci']['method']}, {a['ci']['level']:.0%}, "
                        f"{a['ci']['resamples']} resamples (fewer, ≥ {a['ci']['min_resamples']}, "
                        f"for very large n), seed {a['ci']['seed']}; rates: {a['ci']['rates']}.",
                        a["verdict_rule"] + ". A PASS on p95 needs ≥ 72 samples, on p99 ≥ 368, "
                        "on an error rate ≤ 1 % ≥ 368 error-free ones; a FAIL can be shown "
                        "with fewer.",
                        "Budgets: " + "; ".join(_budget_text(b) for b in summary["budgets"])])]
    return blocks


def _budget_text(b: dict[str, Any]) -> str:
    op = "max" if "max" in b else "min"
    scope = f"{b['query']}/{b['phase']}"
    if b.get("variant"):
        scope += f"[{b['variant']}]"
    if b.get("labels"):
        scope += "{" + fmt_labels(b["labels"]) + "}"
    sign = "≤" if op == "max" else "≥"
    value = "off" if b[op] is None else fmt_num(b[op])
    return f"{scope} {b['metric']} {sign} {value} ({b.get('source', 'scenario')})"


def build_document(summary: Summary, figures: dict[str, Figure] | None = None,
                   extra: list[Block] | None = None) -> list[Block]:
    figures = figures or {}
    run = summary["run"]
    title = f"ctxbench report — {run.get('scenario') or 'run'} ({run.get('run_id')})"
    blocks: list[Block] = [Heading(1, title)]
    blocks += _incomplete(summary)
    blocks.append(Para(overall_line(summary), "verdict"))
    blocks += first_screen(summary)
    if summary["verdicts"]:
        c = summary["verdict"]["counts"]
        blocks.append(Details(f"All {len(summary['verdicts'])} budget checks ({c[FAIL]} failed, "
                              f"{c[INCONCLUSIVE]} inconclusive, {c[PASS]} passed)",
                              [verdict_table(summary)]))
    blocks += _run_status(summary)
    blocks += _latency_tables(summary, figures)
    blocks += _cold_warm(summary, figures)
    blocks += _before_after(summary, figures)
    blocks += _plan_changes(summary)
    blocks += _warmup(summary, figures)
    blocks += list(extra or [])
    blocks += _metrics(summary)
    blocks += _errors(summary)
    blocks += _plans(summary)
    blocks += _environment(summary)
    return blocks


def title_of(summary: Summary) -> str:
    run = summary["run"]
    return f"ctxbench — {run.get('scenario') or 'run'} — {run.get('run_id')}"
