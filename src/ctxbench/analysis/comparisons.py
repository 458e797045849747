"""Within one run: cold vs warm, and before vs after ANALYZE, per query.

Phase names carry the conditions. Cache state: a phase named ``cold``/``warm``, a sub-phase
``<base>.cold``/``<base>.warm`` (e.g. ``after_analyze.warm``), or else the label ``cache``
(or ``cache_state``). Statistics state: the base phase ``before_analyze``/``after_analyze``.
Two groups are paired when everything else — query, variant, the rest of the phase name and
the remaining labels (``stats`` excluded, it restates the phase) — is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ctxbench.results.summary_types import GroupRef, GroupStats, PlanEntry

CACHE_LABELS = ("cache", "cache_state")
STATE_LABELS = (*CACHE_LABELS, "stats", "stats_state")
COLD, WARM = "cold", "warm"
BEFORE, AFTER = "before_analyze", "after_analyze"


def split_phase(phase: str) -> tuple[str, str]:
    """'after_analyze.warm' → ('after_analyze', 'warm'); 'cold' → ('cold', '')."""
    base, _, sub = phase.partition(".")
    return base, sub


def cache_state(phase: str, labels: dict[str, str]) -> str | None:
    base, sub = split_phase(phase)
    for part in (sub, base):
        if part in (COLD, WARM):
            return part
    for key in CACHE_LABELS:
        if labels.get(key) in (COLD, WARM):
            return labels[key]
    return None


def cache_context(phase: str) -> str:
    """The phase without its cache part: '' for cold/warm, 'after_analyze' for its subs."""
    base, sub = split_phase(phase)
    if base in (COLD, WARM):
        return sub
    return base if sub in (COLD, WARM) else phase


def stats_side(phase: str) -> tuple[str, str] | None:
    """('before'|'after', rest of the phase name) for the ANALYZE phases, else None."""
    base, sub = split_phase(phase)
    if base == BEFORE:
        return "before", sub
    if base == AFTER:
        return "after", sub
    return None


def other_labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in STATE_LABELS))


def _side(group: GroupStats, plan: PlanEntry | None) -> dict[str, Any]:
    lat = group.get("latency_ms") or {}
    out: dict[str, Any] = {
        "phase": group["phase"], "labels": group["labels"], "n": group["n"],
        "p50": lat.get("p50"), "p95": lat.get("p95"),
    }
    if plan:
        out["plan"] = {k: plan.get(k) for k in ("shared_hit", "shared_read", "io_read_ms",
                                                 "execution_ms", "planning_ms",
                                                 "fingerprint")}
    return out


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    pa, pb = a.get("p50"), b.get("p50")
    if not pa or not pb or not pb.get("value"):
        return None
    return pa["value"] / pb["value"]


PlanFor = Callable[[GroupRef], PlanEntry | None]


def cold_warm(groups: Sequence[GroupStats], plan_for: PlanFor) -> list[dict[str, Any]]:
    """Pairs of (cold, warm) groups; ratio = cold p50 / warm p50."""
    sides: dict[tuple, dict[str, GroupStats]] = {}
    for g in groups:
        state = cache_state(g["phase"], g["labels"])
        if state is None or not g["n"]:
            continue
        key = (g["query"], g["variant"], cache_context(g["phase"]), other_labels(g["labels"]))
        sides.setdefault(key, {})[state] = g
    out = []
    for (query, variant, context, rest), pair in sides.items():
        if COLD not in pair or WARM not in pair:
            continue
        cold = _side(pair[COLD], plan_for(pair[COLD]))
        warm = _side(pair[WARM], plan_for(pair[WARM]))
        out.append({"query": query, "variant": variant, "context": context,
                    "labels": dict(rest), "cold": cold, "warm": warm,
                    "ratio": _ratio(cold, warm)})
    return out


def before_after(groups: Sequence[GroupStats], plan_for: PlanFor) -> list[dict[str, Any]]:
    """Pairs of (before_analyze[.x], after_analyze[.x]) groups; ratio = before p50 / after p50."""
    sides: dict[tuple, dict[str, GroupStats]] = {}
    for g in groups:
        side = stats_side(g["phase"])
        if side is None or not g["n"]:
            continue
        key = (g["query"], g["variant"], side[1], other_labels(g["labels"]))
        sides.setdefault(key, {})[side[0]] = g
    out = []
    for (query, variant, sub, rest), pair in sides.items():
        if "before" not in pair or "after" not in pair:
            continue
        before = _side(pair["before"], plan_for(pair["before"]))
        after = _side(pair["after"], plan_for(pair["after"]))
        fp_b = (before.get("plan") or {}).get("fingerprint")
        fp_a = (after.get("plan") or {}).get("fingerprint")
        out.append({"query": query, "variant": variant, "context": sub, "labels": dict(rest),
                    "before": before, "after": after, "ratio": _ratio(before, after),
                    "plan_changed": bool(fp_b and fp_a and fp_b != fp_a)})
    return out
