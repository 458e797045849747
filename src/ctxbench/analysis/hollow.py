"""Never green by accident: a results folder that measured nothing, or a budget that matched
no measured group, cannot PASS. Each problem is one sentence naming what is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctxbench.analysis.budgets import Budget


def problems(budgets: Sequence[Budget], groups: Mapping[Any, Any]) -> list[str]:
    """Why these measurements cannot support a verdict (empty when they can)."""
    timed = sum(g.n + g.n_errors for g in groups.values())
    if timed == 0:
        return ["nothing was measured: measurements.jsonl holds no timed execution"]
    out = []
    for b in budgets:
        if b.source == "default" or b.threshold is None:
            continue
        if not any(b.matches(k.query, k.phase, k.variant, k.label_dict) for k in groups):
            labels = "".join(f", label {k}={v!r}" for k, v in b.labels)
            out.append(f"budget {b.describe()} (query {b.query!r}, phase {b.phase!r}, variant "
                       f"{b.variant!r}{labels}) matched no measured group")
    return out
