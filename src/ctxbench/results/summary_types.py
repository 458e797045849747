"""The shape of summary.json, as typed structures.

``analysis.summary.build_summary`` produces a :class:`Summary`; the reports (``report/``) read
it through these types, so a key that is renamed, dropped or misspelt on either side is a type
error (mypy runs in CI), not a silently empty cell. These are types only: the JSON is the plain
dicts and lists they describe, in the order the producer writes them.

Every float in the summary goes through ``analysis.summary.rounded``, which writes a
non-finite value (an interval bound at +inf, a ratio of nothing) as ``null``: fields that can
be non-finite are typed ``float | None``.

Entries that the drivers own (the load study's open-loop accounting, the HNSW warm-up, the
remedies table, the vector study) are typed at their top level here and in detail by their
own modules.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class EstimateJson(TypedDict):
    """A point estimate with its interval (``analysis.stats.Estimate.to_json``)."""

    value: float | None
    lo: float | None
    hi: float | None


class RunInfo(TypedDict):
    """``run``: who ran what, when, on which server and dataset (from meta.json). Without a
    meta.json only the first seven keys are there."""

    run_id: str
    kind: str
    scenario: str | None
    status: str  # "complete" | "incomplete" | "unknown"
    complete: bool
    incomplete_reason: str | None
    error: str | None
    raw_status: NotRequired[str]
    started_at: NotRequired[str | None]
    ended_at: NotRequired[str | None]
    duration_s: NotRequired[float | None]
    ctxbench_version: NotRequired[str | None]
    git_sha: NotRequired[str | None]
    backend: NotRequired[str | None]
    target: NotRequired[str | None]
    server: NotRequired[dict[str, Any]]
    dataset: NotRequired[dict[str, Any]]
    machine: NotRequired[dict[str, Any]]
    extra: NotRequired[dict[str, Any]]


class PhaseEntry(TypedDict):
    """``phases[]``: one phase record of phases.jsonl."""

    phase: str
    status: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    cache_reset: Any
    stats_state: str | None
    notes: list[str]
    events: list[dict[str, Any]]
    error: str | None


class CiInfo(TypedDict):
    method: str
    level: float
    resamples: int
    min_resamples: int
    seed: int
    rates: str


class AnalysisInfo(TypedDict):
    """``analysis``: how the numbers were computed."""

    percentile_method: str
    ci: CiInfo
    latency_unit: str
    verdict_rule: str


class RowsStats(TypedDict):
    """Rows per answer (only for a group with answers: the mean and the share are finite)."""

    min: int
    mean: float
    max: int
    empty: int
    empty_fraction: float


class MetricStats(TypedDict):
    """An extra metric of a group (e.g. recall), averaged over its samples."""

    n: int
    mean: EstimateJson | None
    min: float | None
    max: float | None


class ParamKindStats(TypedDict):
    """Point estimates for one kind of parameter set (no intervals: a breakdown)."""

    param_kind: str
    n: int
    p50: float | None
    p95: float | None
    max: float | None
    rows_mean: float | None
    empty_fraction: float | None


class GroupRef(TypedDict):
    """What names a group (the keys a captured plan is matched on); every GroupStats is one."""

    phase: str
    query: str
    variant: str
    labels: dict[str, str]


class GroupStats(TypedDict):
    """``groups[]``: one query × variant × phase × labels group."""

    key: str
    query: str
    variant: str
    phase: str
    labels: dict[str, str]
    n: int  # independent successful samples
    n_censored: int  # independent samples that failed (or were never served)
    n_executions: int
    n_distinct: int
    unit: str  # "execution" | "parameter set"
    n_errors: int
    n_unserved: int
    n_warmup: int
    error_rate: EstimateJson | None
    errors: dict[str, int]
    latency_ms: dict[str, EstimateJson]  # "p50", "p95", ..., "mean", "max"
    rows: RowsStats | None
    empty_rate: EstimateJson | None
    metrics: dict[str, MetricStats]
    by_param_kind: list[ParamKindStats]
    first_ts: str | None
    last_ts: str | None


class VerdictRow(TypedDict):
    """``verdicts[]``: one budget checked on one group."""

    query: str
    variant: str
    phase: str
    labels: dict[str, str]
    group: str  # GroupStats.key
    metric: str
    op: str  # "<=" | ">="
    threshold: float | None
    unit: str
    budget: str
    budget_source: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    verdict: str  # PASS | FAIL | INCONCLUSIVE
    reason: str
    diagnosis: NotRequired[dict[str, Any]]  # analysis.diagnosis: why a check failed


class PlanEntry(TypedDict):
    """``plans[]`` / ``tail_plans[]``: one captured plan (plans/*.json) and its numbers.
    ``role`` and the keys after it are there for tail plans; the numbers only when a plan was
    captured. In memory, ``_summary`` holds the plan summary (not written). Phase and query
    are None when the plan file does not say (a file from elsewhere)."""

    phase: str | None
    query: str | None
    variant: str
    labels: dict[str, str]
    param_id: str | None
    params: Any
    file: str
    error: str | None
    role: NotRequired[str]
    param_kind: NotRequired[str | None]
    measured_ms: NotRequired[float | None]
    measured_failed: NotRequired[bool | None]
    why: NotRequired[str | None]
    planning_ms: NotRequired[float | None]
    execution_ms: NotRequired[float | None]
    shared_hit: NotRequired[int | None]
    shared_read: NotRequired[int | None]
    io_read_ms: NotRequired[float | None]
    planning_shared_hit: NotRequired[int | None]
    planning_shared_read: NotRequired[int | None]
    fingerprint: NotRequired[str | None]
    outline: NotRequired[list[str] | None]
    _summary: NotRequired[dict[str, Any]]


class PlanSide(TypedDict):
    phase: str
    labels: dict[str, str]
    fingerprint: str | None
    outline: list[str] | None
    shared_hit: int | None
    shared_read: int | None
    execution_ms: float | None


# ``plan_changes[]``: a plan shape that differs between two phases of one query ("from" is a
# keyword, hence the functional form); kind: "cold → warm" | "before → after ANALYZE" | "phase"
PlanChange = TypedDict("PlanChange", {
    "query": str | None, "variant": str, "kind": str, "from": PlanSide, "to": PlanSide, "change": str,
    "changes": list[str], "same_params": bool,
})


class OverallVerdict(TypedDict):
    """``verdict``: the run's verdict and why it may not be trusted."""

    overall: str
    counts: dict[str, int]
    complete: bool
    incomplete_phases: list[str]
    measurements: int
    problems: list[str]


class Summary(TypedDict):
    """summary.json (``schema_version`` 1), keys in the order they are written."""

    schema_version: int
    run: RunInfo
    phases: list[PhaseEntry]
    analysis: AnalysisInfo
    budgets: list[dict[str, Any]]
    open_loop: dict[str, Any] | None  # the load study's offered vs achieved rate
    groups: list[GroupStats]
    verdicts: list[VerdictRow]
    plans: list[PlanEntry]
    tail_plans: list[PlanEntry]
    remedies: list[dict[str, Any]]
    plan_changes: list[PlanChange]
    cold_warm: list[dict[str, Any]]
    before_after: list[dict[str, Any]]
    hnsw_warmup: list[dict[str, Any]]
    vector: NotRequired[dict[str, Any] | None]  # the vector study's results (analysis/vector.py)
    verdict: OverallVerdict
