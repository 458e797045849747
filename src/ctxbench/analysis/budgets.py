"""Budgets: which threshold applies to which (query, variant, phase, labels) and metric.

A budget is one line of ``RunMeta.budgets``::

    {"query": "*", "phase": "*", "metric": "p95", "max": 500.0}          # latency in ms
    {"query": "semantic_search", "metric": "recall", "min": 0.9}          # floors use "min"
    {"query": "list_incidents", "phase": "cold", "metric": "p95", "max": null}   # switched off

Optional keys: ``variant`` (default "*") and ``labels`` (a dict that must match the group's
labels, e.g. ``{"prewarm": "none"}``). Patterns are an exact name, a shell glob
(``semantic_*``) or ``*``; a phase name also covers its sub-phases (``after_analyze``
matches ``after_analyze.cold`` and ``after_analyze.warm``).

``query = "all"`` judges every query of a phase pooled; ``query = "all", phase = "all"`` every
execution of the run pooled (``analysis.data.pooled_groups``). Phase ``all`` is matched by that
exact name only (not by ``*`` or a glob), and only an ``error_rate`` budget on query ``all`` may
name it: a latency pooled over cold, warm and load phases would mix different experiments.

Resolution: for each (group, metric) the most specific matching budget wins. Specificity is
compared field by field — query first, then phase, then variant, then the number of labels —
with exact > parent phase > glob > ``*``; on a tie the later budget in the list wins, so a
scenario's own ``*``/``*`` line overrides the built-in default (p95 ≤ 500 ms, which always
comes first), and its own ``all``/``all`` error_rate line the default error budget (≤ 1 % of
the run's executions failed, second). A winning budget with a ``null`` threshold means "no
budget here".
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctxbench.analysis.data import POOLED_PHASE, POOLED_QUERY
from ctxbench.config import DEFAULT_BUDGET, DEFAULT_ERROR_BUDGET
from ctxbench.errors import UsageError

LATENCY_METRICS = ("mean", "min", "max")  # plus any percentile pNN / pNN.N
RATE_METRICS = ("error_rate", "empty_rate")
_PCT = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
_KEYS = {"query", "phase", "variant", "labels", "metric", "max", "min", "unit", "source"}

DEFAULT_BUDGETS: tuple[dict[str, Any], ...] = ({**DEFAULT_BUDGET, "source": "default"},
                                              {**DEFAULT_ERROR_BUDGET, "source": "default"})


def percentile_of(metric: str) -> float | None:
    """0.95 for 'p95', 0.999 for 'p99.9', 0.5 for 'p50'; None if not a percentile."""
    m = _PCT.match(metric)
    if not m:
        return None
    q = float(m.group(1)) / 100.0
    return q if 0.0 < q < 1.0 else None


def metric_kind(metric: str) -> str:
    """'latency' (ms), 'rate' (fraction 0..1) or 'custom' (mean of Measurement.metrics[name])."""
    if metric in LATENCY_METRICS or percentile_of(metric) is not None:
        return "latency"
    if metric in RATE_METRICS:
        return "rate"
    return "custom"


@dataclass(frozen=True)
class Budget:
    """One threshold on one metric for the groups its patterns match."""

    metric: str
    threshold: float | None  # None: explicitly no budget
    op: str  # "max" (estimate must be <= threshold) or "min" (>=)
    query: str = "*"
    phase: str = "*"
    variant: str = "*"
    labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    source: str = "scenario"
    order: int = 0

    @property
    def unit(self) -> str:
        return "ms" if metric_kind(self.metric) == "latency" else ""

    @property
    def symbol(self) -> str:
        return "<=" if self.op == "max" else ">="

    def describe(self) -> str:
        """'p95 <= 500 ms', 'recall >= 0.9'."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.metric} {self.symbol} {_fmt(self.threshold)}{unit}"

    def matches(self, query: str, phase: str, variant: str, labels: Mapping[str, str]) -> bool:
        return (_match(self.query, query) and _match_phase(self.phase, phase)
                and _match(self.variant, variant)
                and all(labels.get(k) == v for k, v in self.labels))

    def specificity(self, phase: str = "") -> tuple[int, int, int, int, int]:
        phase_spec = _spec(self.phase)
        if phase_spec == 2:
            phase_spec = 3 if self.phase == phase else 2  # exact beats parent-of
        return (_spec(self.query), phase_spec, _spec(self.variant), len(self.labels),
                self.order)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"query": self.query, "phase": self.phase, "metric": self.metric,
                               self.op: self.threshold}
        if self.variant != "*":
            out["variant"] = self.variant
        if self.labels:
            out["labels"] = dict(self.labels)
        out["source"] = self.source
        return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "off"
    return f"{value:g}"


def _match(pattern: str, value: str) -> bool:
    return pattern == "*" or pattern == value or fnmatch.fnmatchcase(value, pattern)


def _match_phase(pattern: str, phase: str) -> bool:
    if phase == POOLED_PHASE or pattern == POOLED_PHASE:
        return pattern == phase  # the run pooled: named exactly, never by "*" or a glob
    return _match(pattern, phase) or phase.startswith(pattern + ".")


def _spec(pattern: str) -> int:
    if pattern == "*":
        return 0
    return 1 if any(ch in pattern for ch in "*?[") else 2


def parse_budget(data: Mapping[str, Any], where: str = "budgets", order: int = 0) -> Budget:
    """One budget dict → Budget; errors name the entry, key, value and what is allowed."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: expected a table like {{metric = \"p95\", max = 500}}, "
                         f"got {data!r}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_KEYS))}")
    metric = data.get("metric")
    if not isinstance(metric, str) or not metric:
        raise UsageError(f"{where}.metric: {metric!r} is not a metric; use p50/p90/p95/p99/"
                         "max/min/mean (ms), error_rate/empty_rate (0..1) or a measured metric "
                         "such as recall")
    if metric.startswith("p") and metric[1:2].isdigit() and percentile_of(metric) is None:
        raise UsageError(f"{where}.metric: {metric!r} is not a percentile between p0 and p100 "
                         "(exclusive), e.g. p95 or p99.9")
    has_max, has_min = "max" in data, "min" in data
    if has_max == has_min:
        raise UsageError(f"{where}: give exactly one of 'max' (estimate must stay at or below) "
                         f"or 'min' (at or above) for metric {metric!r}")
    op = "max" if has_max else "min"
    raw = data[op]
    threshold: float | None
    if raw is None:
        threshold = None
    elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise UsageError(f"{where}.{op}: {raw!r} is not a number (latencies in ms, rates as "
                         "fractions 0..1)")
    else:
        threshold = float(raw)
        if not math.isfinite(threshold):
            raise UsageError(f"{where}.{op}: {raw!r} is not a finite number; a budget of nan or inf "
                             "can never fail")
        if threshold < 0 or (metric_kind(metric) == "rate" and threshold > 1):
            allowed = "0..1" if metric_kind(metric) == "rate" else ">= 0"
            raise UsageError(f"{where}.{op}: {raw!r} is out of range for {metric} "
                             f"(allowed: {allowed})")
    unit = data.get("unit")
    if unit not in (None, "ms") or (unit == "ms" and metric_kind(metric) != "latency"):
        raise UsageError(f"{where}.unit: {unit!r} is not allowed; latency budgets are in 'ms' "
                         "and other metrics have no unit")
    pats = {}
    for key in ("query", "phase", "variant"):
        value = data.get(key, "*")
        if not isinstance(value, str) or not value:
            raise UsageError(f"{where}.{key}: {value!r} is not a name or pattern (use \"*\" "
                             "for all)")
        pats[key] = value
    if pats["phase"] == POOLED_PHASE and (pats["query"] != POOLED_QUERY
                                          or metric != "error_rate"):
        raise UsageError(f"{where}.phase: {POOLED_PHASE!r} pools every execution of the run; it "
                         f"takes only query = \"{POOLED_QUERY}\" and metric = \"error_rate\" "
                         f"(got query {pats['query']!r}, metric {metric!r})")
    labels = data.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, (str, int, float, bool))
                                                 for v in labels.values()):
        raise UsageError(f"{where}.labels: {labels!r} must be a table of label = value")
    return Budget(metric=metric, threshold=threshold, op=op, query=pats["query"],
                  phase=pats["phase"], variant=pats["variant"],
                  labels=tuple(sorted((str(k), _label(v)) for k, v in labels.items())),
                  source=str(data.get("source", "scenario")), order=order)


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_budgets(items: Iterable[Mapping[str, Any]] | None, *, with_default: bool = True,
                  where: str = "budgets") -> list[Budget]:
    """The effective budget list: the built-in default first, then the given ones in order."""
    entries: list[Mapping[str, Any]] = list(DEFAULT_BUDGETS) if with_default else []
    offset = len(entries)
    out = [parse_budget(d, f"default budget {i}", order=i) for i, d in enumerate(entries)]
    for i, d in enumerate(items or []):
        if with_default and _is_default(d):
            continue
        out.append(parse_budget(d, f"{where}[{i}]", order=offset + i))
    return out


def _is_default(data: Mapping[str, Any]) -> bool:
    """A given entry that restates the built-in default (the scenario loader writes it too)."""
    if not isinstance(data, Mapping):
        return False
    plain = {k: v for k, v in data.items() if k != "source" and not (k == "variant" and v == "*")}
    return any(plain == {k: v for k, v in d.items() if k != "source"} for d in DEFAULT_BUDGETS)


def resolve(budgets: Sequence[Budget], query: str, phase: str, variant: str = "default",
            labels: Mapping[str, str] | None = None) -> list[Budget]:
    """The budgets that apply to one group: per metric, the most specific match (switched-off
    budgets removed), in first-seen metric order."""
    labels = labels or {}
    best: dict[str, Budget] = {}
    for budget in budgets:
        if not budget.matches(query, phase, variant, labels):
            continue
        held = best.get(budget.metric)
        if held is None or budget.specificity(phase) >= held.specificity(phase):
            best[budget.metric] = budget
    return [b for b in best.values() if b.threshold is not None]
