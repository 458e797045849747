"""The report's first screen: what went wrong (and why) in a few sentences, and a verdict matrix.

Everything here reads summary.json as written by the analysis: verdicts are taken as they are
(never recomputed), and a check's ``diagnosis`` (cause + remedy, added by the diagnosis step)
is shown when present. Without one, the cause is what the data already shows: the captured
plan's disk-read share and scans, the rows returned, the errors. Every key is read
defensively, so a summary written by an older or newer ctxbench still renders.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ctxbench.analysis.lookup import group_of, plan_of
from ctxbench.analysis.verdicts import FAIL, ICONS, INCONCLUSIVE, PASS, SEVERITY
from ctxbench.config import POOLED
from ctxbench.report.document import Block, Bullets, Para, Table
from ctxbench.results.summary_types import GroupStats, Summary, VerdictRow

NEAR = 0.8  # an estimate past 80 % of a budget (or its interval crossing it) is a near miss
IO_SHARE = 0.3  # a plan spending more than this share of its time in disk reads is I/O bound
MAX_FINDINGS = 12
CELL_KIND = {FAIL: "fail", INCONCLUSIVE: "warn", PASS: "pass"}
OP_TEXT = {"<=": "≤", ">=": "≥"}


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _fmt(value: Any) -> str:
    from ctxbench.report.content import fmt_num

    return fmt_num(value) if _num(value) is not None else "–"


def check_name(v: Mapping[str, Any]) -> str:
    """'query[variant]' of a check, a comparison or a plan change."""
    variant = v.get("variant") or "default"
    name = str(v.get("query") or "?")
    return name if variant == "default" else f"{name}[{variant}]"


def _labels_text(v: VerdictRow) -> str:
    from ctxbench.report.content import fmt_labels, shown_labels

    return fmt_labels(shown_labels(str(v.get("phase") or ""), v.get("labels") or {}))


def is_run_wide(v: Mapping[str, Any]) -> bool:
    """A check on every execution of the run pooled (query and phase 'all': the default error
    budget), shown beside the matrix rather than as a row and column of its own."""
    return v.get("query") == POOLED and v.get("phase") == POOLED


def where(v: VerdictRow) -> str:
    """'list_incidents[as_shipped] · after_analyze.cold (prewarm=none)'."""
    if is_run_wide(v):
        return "the whole run (every query and phase)"
    extra = _labels_text(v)
    return f"{check_name(v)} · {v.get('phase') or '?'}" + (f" ({extra})" if extra else "")


def _unit(v: VerdictRow) -> str:
    return f" {v['unit']}" if v.get("unit") else ""


def estimate_vs_budget(v: VerdictRow) -> str:
    """'p95 742 ms vs ≤ 500 ms'."""
    op = OP_TEXT.get(str(v.get("op")), str(v.get("op") or ""))
    return (f"{v.get('metric', '?')} {_fmt(v.get('estimate'))}{_unit(v)} vs {op} "
            f"{_fmt(v.get('threshold'))}{_unit(v)}")


def _share(v: VerdictRow) -> float | None:
    """Estimate as a share of the budget, oriented so that > 1 means beyond it."""
    est, thr = _num(v.get("estimate")), _num(v.get("threshold"))
    if est is None or thr is None or thr == 0:
        return None
    return est / thr if v.get("op", "<=") == "<=" else thr / est if est else None


def is_near_miss(v: VerdictRow) -> bool:
    if v.get("verdict") == FAIL:
        return False
    share = _share(v)
    if share is None:
        return False
    hi = _num(v.get("ci_high") if v.get("op", "<=") == "<=" else v.get("ci_low"))
    thr = _num(v.get("threshold"))
    crosses = (hi is not None and thr is not None
               and (hi > thr if v.get("op", "<=") == "<=" else hi < thr))
    return share >= NEAR or (crosses and share >= NEAR / 2)


# ---- causes -------------------------------------------------------------------------------

def diagnosis_text(v: Mapping[str, Any]) -> str | None:
    """The diagnosis attached to a check (``verdicts[*].diagnosis``), as one sentence.

    Its ``text`` already says the cause and the remedy; other shapes are read as cause +
    remedy. A diagnosis that found nothing (no plan, no cause) gives way to the data."""
    d = v.get("diagnosis")
    if not d:
        return None
    if isinstance(d, str):
        return d.strip() or None
    if isinstance(d, list):
        parts = [diagnosis_text({"diagnosis": x}) for x in d]
        return "; ".join(p for p in parts if p) or None
    if not isinstance(d, dict):
        return None
    if "plan" in d and d.get("plan") is None and not d.get("causes"):
        return None
    if d.get("text"):
        return str(d["text"]).strip().rstrip(".")
    cause = next((str(d[k]) for k in ("cause", "summary", "finding", "why") if d.get(k)), None)
    remedy = next((str(d[k]) for k in ("remedy", "fix", "suggestion") if d.get(k)), None)
    if not remedy and isinstance(d.get("remedies"), list):
        remedy = "; ".join(str(r.get("what") or r.get("text") or r.get("variant"))
                           if isinstance(r, dict) else str(r) for r in d["remedies"][:2]) or None
    if not cause and isinstance(d.get("causes"), list):
        cause = "; ".join(str(c.get("text") or c.get("code")) if isinstance(c, dict) else str(c)
                          for c in d["causes"][:2]) or None
    if cause and remedy:
        return f"{cause.rstrip('.')}. Remedy: {remedy}"
    return cause or remedy


_SCAN = re.compile(r"(Seq Scan|Parallel Seq Scan|Bitmap Heap Scan|Index Scan(?: Backward)?|"
                   r"Index Only Scan(?: Backward)?) on (\w+)")


def plan_cause(p: dict[str, Any]) -> list[str]:
    out = []
    exe, io = _num(p.get("execution_ms")), _num(p.get("io_read_ms"))
    read = int(_num(p.get("shared_read")) or 0)
    hit = int(_num(p.get("shared_hit")) or 0)
    if exe and io is not None and io / exe >= IO_SHARE:
        out.append(f"{io / exe:.0%} of the captured plan's {_fmt(exe)} ms was disk reads "
                   f"({read} blocks read, {hit} hit)")
    elif read and read >= hit:
        out.append(f"the captured plan read {read} blocks from disk and found {hit} in memory")
    seq = sorted({m.group(2) for line in p.get("outline") or []
                  for m in _SCAN.finditer(str(line)) if "Seq" in m.group(1)})
    if seq:
        out.append("sequential scan on " + ", ".join(seq[:3]) + (" …" if len(seq) > 3 else ""))
    planning_read = int(_num(p.get("planning_shared_read")) or 0)
    if planning_read:
        out.append(f"planning read {planning_read} catalog blocks")
    return out


def fallback_cause(summary: Summary, v: VerdictRow) -> str:
    """What the data shows about a check without a diagnosis."""
    if is_run_wide(v):
        failing = [g for g in summary.get("groups") or [] if g.get("n_errors")]
        if not failing:
            return "no failed execution"
        most = max(failing, key=lambda x: x["n_errors"])
        top = next(iter((most.get("errors") or {}).keys()), "")
        return (f"{sum(int(x['n_errors']) for x in failing)} failed executions in "
                f"{len(failing)} groups, most in {most.get('key')}" + (f" ({top})" if top else ""))
    bits: list[str] = []
    g = group_of(summary, v)
    if g:
        if g.get("n_errors"):
            top = next(iter((g.get("errors") or {}).keys()), "")
            bits.append(f"{g['n_errors']} failed executions" + (f" ({top})" if top else ""))
        rows = g.get("rows") or {}
        if rows and (_num(rows.get("empty_fraction")) or 0) > 0.5:
            bits.append(f"{rows['empty_fraction']:.0%} of the answers were empty")
        elif rows and _num(rows.get("mean")) is not None:
            bits.append(f"{_fmt(rows.get('mean'))} rows per answer on average")
    p = plan_of(summary, v)
    if p:
        bits = plan_cause(p) + bits
    elif summary.get("plans"):
        bits.append("no plan captured for this group")
    if not bits and v.get("reason"):
        return str(v["reason"])  # e.g. the capacity search's own summary of its steps
    return "; ".join(bits) if bits else "no plan or row data to explain it"


MAX_CAUSE = 150  # characters of a cause on the first screen (the full text is further down)


def short_cause(text: str, limit: int = MAX_CAUSE) -> str:
    """First clause of the cause and the first remedy: '99% of the time was I/O (…) — remedy:
    iterative'. The whole diagnosis is in the Diagnosis section and summary.json."""
    cause, _, remedy = text.partition(" Remedy: ")
    cause = cause.rstrip(". ")
    clauses = [c.strip() for c in cause.split("; ") if c.strip()]
    out = clauses[0] if clauses else cause
    if len(clauses) > 1 and len(out) + len(clauses[1]) < limit * 0.6:
        out += "; " + clauses[1]
    if remedy:
        first = remedy.split("; ")[0].split(" (")[0].strip(" .")
        out += f" — remedy: {first}"
    if len(out) <= limit:
        return out
    cut = out[:limit - 2]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + " …"


def cause_of(summary: Summary, v: VerdictRow) -> str:
    return short_cause(diagnosis_text(v) or fallback_cause(summary, v))


# ---- findings -----------------------------------------------------------------------------

def _reason_kind(reason: str) -> str:
    """'too few samples for p95: n=12, needs ≥ 72' → 'too few samples for p95'."""
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip() or reason


def findings(summary: Summary) -> list[str]:
    """Short sentences, most important first: failures with their cause, near misses, what was
    left undecided, the biggest cold/warm and ANALYZE effects, plan changes, errors."""
    out: list[str] = []
    checks = list(summary.get("verdicts") or [])
    run = summary["run"]
    if not run.get("complete", True):
        out.append(f"{ICONS[INCONCLUSIVE]} Run incomplete: {run.get('incomplete_reason') or '?'}"
                   " — the figures cover only what was measured.")
    fails = [v for v in checks if v.get("verdict") == FAIL]
    fails.sort(key=lambda v: -(_share(v) or 0))
    for v in fails[:3]:
        out.append(f"{ICONS[FAIL]} {where(v)}: {estimate_vs_budget(v)} — {cause_of(summary, v)}.")
    if len(fails) > 3:
        out.append(f"{ICONS[FAIL]} … and {len(fails) - 3} more failed checks (see the matrix).")
    near = sorted((v for v in checks if is_near_miss(v)), key=lambda v: -(_share(v) or 0))
    for v in near[:2]:
        share = _share(v) or 0
        out.append(f"{ICONS[INCONCLUSIVE]} Near miss, {where(v)}: {estimate_vs_budget(v)} "
                   f"({share:.0%} of the budget, {v.get('verdict')}) — {cause_of(summary, v)}.")
    undecided = [v for v in checks if v.get("verdict") == INCONCLUSIVE and not is_near_miss(v)]
    if undecided:
        kinds = Counter(_reason_kind(str(v.get("reason") or "")) for v in undecided)
        phases = sorted({"the whole run" if is_run_wide(v) else str(v.get("phase"))
                         for v in undecided})
        text = "; ".join(f"{n}× {k}" for k, n in kinds.most_common(3))
        out.append(f"{len(undecided)} checks undecided ({text}) in "
                   + ", ".join(phases[:4]) + (" …" if len(phases) > 4 else "")
                   + ": within budget so far, but not shown to be.")
    out += _effects(summary)
    errors = [g for g in summary.get("groups") or [] if g.get("n_errors")]
    if errors:
        total = sum(int(g["n_errors"]) for g in errors)
        g = max(errors, key=lambda g: g["n_errors"])
        top = next(iter((g.get("errors") or {}).keys()), "")
        out.append(f"{total} executions failed in {len(errors)} groups; most in "
                   f"{g.get('key')}" + (f": {top}" if top else "") + ".")
    empty = [g for g in summary.get("groups") or [] if (_empty_fraction(g) or 0) > 0.5]
    if empty:
        out.append(f"{len(empty)} groups returned mostly empty answers (e.g. {empty[0].get('key')})"
                   ": an empty answer is not a fast query.")
    if not out:
        out.append(f"{ICONS[PASS]} Every budget check passed; nothing close to a budget."
                   if checks else "No budget applied to any measured group.")
    return out[:MAX_FINDINGS]


def _empty_fraction(g: GroupStats) -> float | None:
    rows = g.get("rows")
    return _num(rows.get("empty_fraction")) if rows else None


def _ratio_text(r: float) -> str:
    return f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


def _effects(summary: Summary) -> list[str]:
    out = []
    cw = [p for p in summary.get("cold_warm") or [] if _num(p.get("ratio"))]
    if cw:
        p = max(cw, key=lambda p: _num(p["ratio"]) or 0)
        cold, warm = p.get("cold") or {}, p.get("warm") or {}
        text = (f"Biggest cold/warm effect: {check_name(p)}"
                + (f" ({p['context']})" if p.get("context") else "")
                + f" is {_ratio_text(p['ratio'])} slower cold (p50 "
                f"{_fmt((cold.get('p50') or {}).get('value'))} vs "
                f"{_fmt((warm.get('p50') or {}).get('value'))} ms)")
        plan = cold.get("plan") or {}
        if plan.get("shared_read"):
            text += (f"; the cold plan read {plan['shared_read']} blocks from disk "
                     f"({_fmt(plan.get('io_read_ms'))} ms I/O)")
        out.append(text + ".")
    ba = [p for p in summary.get("before_after") or [] if _num(p.get("ratio"))]
    if ba:
        p = max(ba, key=lambda p: abs(math.log(_num(p["ratio"]) or 1)))
        r = _num(p["ratio"]) or 1
        before, after = p.get("before") or {}, p.get("after") or {}
        direction = (f"{_ratio_text(r)} faster" if r >= 1 else f"{_ratio_text(1 / r)} slower")
        text = (f"Biggest ANALYZE effect: {check_name(p)}"
                + (f" ({p['context']})" if p.get("context") else "")
                + f" got {direction} after ANALYZE (p50 "
                f"{_fmt((before.get('p50') or {}).get('value'))} → "
                f"{_fmt((after.get('p50') or {}).get('value'))} ms)")
        if p.get("plan_changed"):
            text += f"; plan changed: {p.get('plan_change') or 'different shape'}"
        out.append(text + ".")
    changes = summary.get("plan_changes") or []
    if changes:
        texts = list(dict.fromkeys(f"{check_name(c)} {c.get('kind', '')}: "
                                   f"{c.get('change') or 'changed'}" for c in changes))
        shown = "; ".join(texts[:2])
        more = f" (+{len(changes) - 2} more)" if len(texts) > 2 else ""
        out.append(f"{len(changes)} plan change(s) between phases: {shown}{more}.")
    return out


# ---- matrix -------------------------------------------------------------------------------

def _worst(checks: list[VerdictRow]) -> VerdictRow:
    return min(checks, key=lambda v: (SEVERITY.get(str(v.get("verdict")), 1), -(_share(v) or 0)))


def matrix(summary: Summary) -> Table | None:
    """Query × phase (variants side by side); a cell is the worst check's verdict with its
    estimate vs budget, and '+k' when the cell holds more checks."""
    checks = [v for v in summary.get("verdicts") or [] if not is_run_wide(v)]
    if not checks:
        return None
    phase_rank = {p.get("phase"): i for i, p in enumerate(summary.get("phases") or [])}
    group_rank: dict[Any, int] = {}
    for i, g in enumerate(summary.get("groups") or []):
        group_rank.setdefault(g.get("phase"), i)
    phases = sorted({str(v.get("phase")) for v in checks},
                    key=lambda p: (phase_rank.get(p, 10**6), group_rank.get(p, 10**6), p))
    variants = list(dict.fromkeys(str(v.get("variant") or "default") for v in checks))
    queries = list(dict.fromkeys([str(g.get("query")) for g in summary.get("groups") or []]
                                 + [str(v.get("query")) for v in checks]))
    queries = [q for q in queries if any(str(v.get("query")) == q for v in checks)]
    columns = [(p, var) for p in phases for var in variants
               if any(v.get("phase") == p and (v.get("variant") or "default") == var
                      for v in checks)]
    cells: dict[tuple[str, str, str], list[VerdictRow]] = {}
    for v in checks:
        cells.setdefault((str(v.get("query")), str(v.get("phase")),
                          str(v.get("variant") or "default")), []).append(v)
    rows, kinds = [], []
    for q in queries:
        row, kind_row = [q], [""]
        for p, var in columns:
            items = cells.get((q, p, var))
            if not items:
                row.append("·")
                kind_row.append("none")
                continue
            w = _worst(items)
            verdict = str(w.get("verdict"))
            text = f"{ICONS.get(verdict, '')} {_fmt(w.get('estimate'))} / " \
                   f"{OP_TEXT.get(str(w.get('op')), '')}{_fmt(w.get('threshold'))}"
            if w.get("metric") != "p95" or w.get("unit") != "ms":
                text += f" {w.get('metric')}"
            if len(items) > 1:
                text += f" +{len(items) - 1}"
            row.append(text)
            kind_row.append(CELL_KIND.get(verdict, "warn"))
        rows.append(row)
        kinds.append(kind_row)
    headers = ["Query"] + [p if len(variants) == 1 else f"{p} · {var}" for p, var in columns]
    return Table(headers, rows, cell_kinds=kinds, kind="matrix")


def run_wide_lines(summary: Summary) -> list[str]:
    """'Whole run (every query and phase pooled): ✅ PASS — error_rate 0% [0–0.16%] vs ≤ 1 %
    over 2376 samples: exact 97.5 % upper bound within the budget (…)'."""
    from ctxbench.report.content import verdict_estimate

    out = []
    for v in summary.get("verdicts") or []:
        if not is_run_wide(v):
            continue
        verdict = str(v.get("verdict"))
        limit = _num(v.get("threshold"))
        threshold = (f"{limit * 100:g} %" if limit is not None and not v.get("unit")
                     else f"{_fmt(limit)}{_unit(v)}")
        out.append(f"Whole run (every query and phase pooled): {ICONS.get(verdict, '')} "
                   f"{verdict} — {v.get('metric')} {verdict_estimate(v)} vs "
                   f"{OP_TEXT.get(str(v.get('op')), '')} {threshold} over {v.get('n')} samples:"
                   f" {v.get('reason')}.")
    return out


def first_screen(summary: Summary) -> list[Block]:
    """Findings, then the matrix with its legend, then the checks on the whole run (the overall
    verdict line comes before)."""
    blocks: list[Block] = [Bullets(findings(summary), "findings")]
    table = matrix(summary)
    if table is not None:
        blocks.append(table)
        blocks.append(Para("Cell: the worst check of that query and phase — estimate / budget "
                           "(ms, p95 unless named; +k = k more checks there). "
                           f"{ICONS[PASS]} pass, {ICONS[INCONCLUSIVE]} undecided, "
                           f"{ICONS[FAIL]} fail. Every check is listed below.", "note"))
    blocks += [Para(line, "note") for line in run_wide_lines(summary)]
    return blocks
