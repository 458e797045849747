"""Measurements grouped for analysis: one group per (query, variant, phase, labels).

Labels are part of the key because they are the extra dimensions a phase varies (cache
state, prewarm mode, users, ef_search...): mixing them would average different experiments.
Two kinds of labels are pooled instead: those that only number repetitions of the same
experiment (``rep``, ``repeat``, ``repetition``), and ``param_kind``, which says what kind of
parameters the sampler drew (e.g. existing vs missing id, near vs far vector). The parameter
mix *is* the workload a budget is about, so verdicts use the pooled group; the kinds are kept
per sample for a breakdown. Warm-up executions are counted but excluded.

**The unit of evidence is a distinct parameter set.** Executions of one parameter set in one
group (the warm phase's repeated passes, a sampler that drew a set twice) are not independent
samples of the workload: ``GroupData.evidence`` summarises them into one value, their median,
with failed executions counted as +∞ (a failure is slower than any budget). Percentile
bounds, minimum counts and ``compare`` all use the evidence. Two exceptions, where executions
*are* the unit: a group with a single distinct statement (a query without parameters: its
only variation is the executions) or one whose parameter space the sampler exhausted (label
``param_space=exhausted``: its further draws repeat sets at random, as the workload does),
and the ``load`` phase (independent arrivals in time, where
queueing, not the parameters, drives the latency).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ctxbench.config import POOLED
from ctxbench.results.model import Measurement

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, order=True)
class GroupKey:
    query: str
    variant: str
    phase: str
    labels: LabelKey = ()

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def label_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels)

    def text(self) -> str:
        """'warm/list_incidents[default]{cache=cold}' — unique and readable."""
        labels = f"{{{self.label_text()}}}" if self.labels else ""
        return f"{self.phase}/{self.query}[{self.variant}]{labels}"


REPETITION_LABELS = frozenset({"rep", "repeat", "repetition"})
KIND_LABEL = "param_kind"
# "param_space": "exhausted" — the sampler ran out of distinct statements for this query (so
# its further draws repeat sets at random, as the workload would): executions are the unit
SPACE_LABEL = "param_space"
POOLED_LABELS = REPETITION_LABELS | {KIND_LABEL, SPACE_LABEL}


def label_key(labels: Mapping[str, object] | None) -> LabelKey:
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()
                        if k not in POOLED_LABELS))


@dataclass(frozen=True)
class Failures:
    """Failed executions of a group, counted per independent sample (``GroupData.failures``)."""

    samples: int  # independent samples (distinct parameter sets, or executions)
    any_failed: int  # samples with at least one failed execution
    all_failed: int  # samples whose every execution failed
    executions: int  # measured executions (warm-ups excluded)
    errors: int  # failed executions

    def __add__(self, other: Failures) -> Failures:
        return Failures(self.samples + other.samples, self.any_failed + other.any_failed,
                        self.all_failed + other.all_failed, self.executions + other.executions,
                        self.errors + other.errors)


@dataclass
class GroupData:
    """The numbers of one group, as arrays in execution order."""

    key: GroupKey
    latency_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # param_kind per ok sample ("" if none)
    param_ids: list[str] = field(default_factory=list)  # per ok sample
    error_param_ids: list[str] = field(default_factory=list)  # per failed execution
    metrics: dict[str, list[float]] = field(default_factory=dict)
    n_errors: int = 0
    n_warmup: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    label_names: set[str] = field(default_factory=set)  # every label/metric name seen, for
    metric_names: set[str] = field(default_factory=set)  # flat exports (warm-ups included)
    first_ts: str | None = None
    last_ts: str | None = None
    space_exhausted: bool = False
    parts: list[GroupData] = field(default_factory=list)  # a pooled group: the groups absorbed

    def add(self, m: Measurement) -> None:
        self.label_names.update(m.labels or {})
        self.metric_names.update(m.metrics or {})
        if m.warmup:
            self.n_warmup += 1
            return
        if (m.labels or {}).get(SPACE_LABEL) == "exhausted":
            self.space_exhausted = True
        self.first_ts = m.ts if self.first_ts is None else min(self.first_ts, m.ts)
        self.last_ts = m.ts if self.last_ts is None else max(self.last_ts, m.ts)
        if not m.ok:
            self.n_errors += 1
            self.error_param_ids.append(m.param_id)
            self.errors[(m.error or "error").strip().splitlines()[0][:200]] += 1
            return
        self.latency_ms.append(m.latency_ns / 1e6)
        self.rows.append(int(m.rows))
        self.seq.append(int(m.seq))
        self.param_ids.append(m.param_id)
        self.kinds.append(str((m.labels or {}).get(KIND_LABEL, "")))
        for name, value in (m.metrics or {}).items():
            if value is None:
                continue
            try:
                self.metrics.setdefault(name, []).append(float(value))
            except (TypeError, ValueError):
                continue

    def absorb(self, other: GroupData, *, across_phases: bool = False) -> None:
        """Add another group's executions (its parameter sets kept apart by query, and by the
        whole group key when pooling ``across_phases``)."""
        self.parts.append(other)
        q = other.key.text() if across_phases else other.key.query
        self.latency_ms += other.latency_ms
        self.rows += other.rows
        self.seq += other.seq
        self.kinds += other.kinds
        self.param_ids += [f"{q}:{p}" for p in other.param_ids]
        self.error_param_ids += [f"{q}:{p}" for p in other.error_param_ids]
        for name, values in other.metrics.items():
            self.metrics.setdefault(name, []).extend(values)
        self.n_errors += other.n_errors
        self.n_warmup += other.n_warmup
        self.errors.update(other.errors)
        self.label_names |= other.label_names
        self.metric_names |= other.metric_names
        for ts in (other.first_ts, other.last_ts):
            if ts is not None:
                self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
                self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        self.space_exhausted |= other.space_exhausted

    @property
    def n(self) -> int:
        return len(self.latency_ms)

    def latencies(self) -> np.ndarray:
        return np.asarray(self.latency_ms, dtype=np.float64)

    @property
    def n_distinct(self) -> int:
        """Distinct parameter sets among the measured (non-warm-up) executions."""
        return len(set(self.param_ids) | set(self.error_param_ids))

    @property
    def per_execution(self) -> bool:
        """Whether executions, not parameter sets, are the unit (see the module docstring)."""
        return self.key.phase == "load" or self.n_distinct <= 1 or self.space_exhausted

    def failures(self) -> Failures:
        """Failed executions counted per independent sample (the unit ``evidence`` uses; a
        pooled group sums the groups it absorbed, each with its own unit). A sample with
        several executions (repeats of one parameter set) counts as failed for an upper bound
        if *any* of them failed and for a lower bound only if *all* did: a set failing with
        probability p fails at least once in r tries with probability ≥ p, and r times with
        probability ≤ p, so both bounds stay valid for the per-request error rate."""
        if self.parts:
            out = Failures(0, 0, 0, 0, 0)
            for part in self.parts:
                out = out + part.failures()
            return out
        attempts = self.n + self.n_errors
        if self.per_execution:
            return Failures(attempts, self.n_errors, self.n_errors, attempts, self.n_errors)
        failed = set(self.error_param_ids)
        ok = set(self.param_ids)
        return Failures(len(ok | failed), len(failed), len(failed - ok), attempts, self.n_errors)

    def evidence(self) -> tuple[np.ndarray, int]:
        """(latency per independent sample, number of samples censored as failures): one
        value per distinct parameter set — the median of its executions, failures as +∞ —
        or, where executions are the unit, the executions themselves."""
        if self.per_execution:
            return self.latencies(), self.n_errors
        values: dict[str, list[float]] = {}
        for pid, x in zip(self.param_ids, self.latency_ms, strict=True):
            values.setdefault(pid, []).append(x)
        for pid in self.error_param_ids:
            values.setdefault(pid, []).append(float("inf"))
        medians = np.array([v[0] if len(v) == 1 else statistics.median(v)
                            for v in values.values()], dtype=np.float64)
        finite = medians[np.isfinite(medians)]
        return finite, int(medians.size - finite.size)


def group_measurements(measurements: Iterable[Measurement]) -> dict[GroupKey, GroupData]:
    """Groups in a stable order (sorted by key), whatever order the lines were written in."""
    groups: dict[GroupKey, GroupData] = {}
    for m in measurements:
        key = GroupKey(m.query, m.variant or "default", m.phase, label_key(m.labels))
        data = groups.get(key)
        if data is None:
            data = groups[key] = GroupData(key)
        data.add(m)
    return {k: groups[k] for k in sorted(groups)}


# A budget on query "all" is judged on every query's executions of a phase pooled together: the
# service's SLOs (p95 < 200 ms, p99 < 500 ms, errors < 1 %) are about all of its traffic, and a
# pooled group has the samples a p99 or a 1 % error rate needs where one query alone has not.
# A budget on query "all" *and* phase "all" is judged on every execution of the run pooled (one
# group, labelled with the labels all of the run's groups share): the default error budget.
POOLED_QUERY = POOLED_PHASE = POOLED


def pooled_groups(groups: Mapping[GroupKey, GroupData],
                  wanted: Callable[[str, Mapping[str, str]], bool], *,
                  run_wide: bool = False) -> dict[GroupKey, GroupData]:
    """One group per (phase, labels) that ``wanted(phase, labels)`` asks for, holding the
    executions of every query and variant of that phase and labels. Parameter sets stay
    distinct per query (a set id is only unique within its query). With ``run_wide``, also
    one group of phase ``POOLED_PHASE`` holding every execution of the run, its parameter sets
    kept apart per group, labelled with the labels every group shares."""
    out: dict[GroupKey, GroupData] = {}
    measured = {k: d for k, d in groups.items()
                if k.query != POOLED_QUERY and k.phase != POOLED_PHASE}
    for key, data in measured.items():
        if not wanted(key.phase, key.label_dict):
            continue
        pkey = GroupKey(POOLED_QUERY, POOLED_QUERY, key.phase, key.labels)
        pooled = out.get(pkey)
        if pooled is None:
            pooled = out[pkey] = GroupData(pkey)
        pooled.absorb(data)
    if run_wide and measured:
        shared = set.intersection(*(set(k.labels) for k in measured))
        everything = GroupData(GroupKey(POOLED_QUERY, POOLED_QUERY, POOLED_PHASE,
                                        tuple(sorted(shared))))
        for data in measured.values():
            everything.absorb(data, across_phases=True)
        out[everything.key] = everything
    return {k: out[k] for k in sorted(out)}
