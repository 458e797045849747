"""Finding things in a summary.json dict: the group and the captured plan behind a check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def same_group(item: Mapping[str, Any], v: Mapping[str, Any]) -> bool:
    """Same phase, query and variant (labels aside)."""
    return (item.get("phase"), item.get("query"), item.get("variant") or "default") == (
        v.get("phase"), v.get("query"), v.get("variant") or "default")


def group_of(summary: Mapping[str, Any], v: Mapping[str, Any]) -> dict[str, Any] | None:
    """The group a verdict row (or anything with phase/query/variant/labels) belongs to."""
    for g in summary.get("groups") or []:
        if (v.get("group") and g.get("key") == v.get("group")) or (
                same_group(g, v) and (g.get("labels") or {}) == (v.get("labels") or {})):
            return g
    return None


def plan_of(summary: Mapping[str, Any], v: Mapping[str, Any]) -> dict[str, Any] | None:
    """The plan captured for it: same labels, else the one whose labels are the largest subset."""
    labels = v.get("labels") or {}
    best, best_score = None, -1
    for p in summary.get("plans") or []:
        if not p.get("fingerprint") or not same_group(p, v):
            continue
        plabels = p.get("labels") or {}
        if plabels == labels:
            return p
        if all(labels.get(k) == x for k, x in plabels.items()) and len(plabels) > best_score:
            best, best_score = p, len(plabels)
    return best
