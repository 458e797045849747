"""The records a run writes. Plain dataclasses with a stable JSON shape (``schema_version``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Measurement:
    """One timed execution of one query.

    ``latency_ns`` is client wall time around execute + fetch (perf_counter_ns). ``labels``
    carry extra dimensions (cache state, statistics state, prewarm, ef_search, users...) and
    ``metrics`` extra numbers (recall, completeness, intended-start lag...). ``warmup`` rows are
    recorded for honesty but excluded from statistics.
    """

    run_id: str
    phase: str
    query: str
    variant: str
    param_id: str
    seq: int
    latency_ns: int
    rows: int
    ok: bool = True
    error: str | None = None
    warmup: bool = False
    ts: str = field(default_factory=utc_now)
    labels: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        data = {k: v for k, v in data.items() if k != "schema_version"}
        return cls(**data)


@dataclass
class PhaseRecord:
    """What a phase did to the server before measuring, so every figure carries its state.

    ``cache_reset`` says how "cold" was made (e.g. "restart+drop_caches", or
    "evict_buffers (OS cache stayed warm)"); ``stats_state`` is "no_stats" or "analyzed";
    ``events`` hold timed side steps (ANALYZE seconds, prewarm blocks, pg_stat_statements deltas).
    """

    run_id: str
    phase: str
    started_at: str
    ended_at: str | None = None
    status: str = "running"  # running | complete | failed | skipped
    cache_reset: str | None = None
    stats_state: str | None = None
    notes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhaseRecord:
        data = {k: v for k, v in data.items() if k != "schema_version"}
        return cls(**data)


@dataclass
class RunMeta:
    """Everything needed to reproduce and compare a run."""

    run_id: str
    kind: str  # run | load | vector | bench
    scenario_name: str
    scenario_text: str
    started_at: str
    ended_at: str | None = None
    status: str = "running"  # running | complete | incomplete
    error: str | None = None
    ctxbench_version: str = ""
    git_sha: str | None = None
    backend: str = ""
    target: str = ""  # masked DSN
    server: dict[str, Any] = field(default_factory=dict)  # versions, extensions, settings
    dataset: dict[str, Any] = field(default_factory=dict)  # scale, seed, anchor, checksum...
    machine: dict[str, Any] = field(default_factory=dict)
    budgets: list[dict[str, Any]] = field(default_factory=list)  # as resolved from the scenario
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunMeta:
        data = {k: v for k, v in data.items() if k != "schema_version"}
        return cls(**data)
