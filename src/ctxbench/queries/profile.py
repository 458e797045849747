"""What a loaded dataset looks like, read once with plain SELECTs, so samplers draw realistic
parameters (and a run can record exactly what they drew from).

Two scans (one grouped over the traces, one over the join for namespaces) plus a block
sample for ids and embeddings; at 1M traces this takes seconds, once per run.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ctxbench.errors import InfraError, UsageError
from ctxbench.queries.execution import outside_transaction
from ctxbench.queries.semantic import embedding_array
from ctxbench.queries.validation import EMBEDDING_DIMS

PROFILE_VERSION = 1
EMBEDDING_SAMPLE = 128
ID_SAMPLE = 512

Counts = list[tuple[str, int]]

_TOTALS_SQL = """SELECT COUNT(*), COUNT(embedding), MIN(id), MAX(id),
       MIN(action_timestamp), MAX(action_timestamp), MIN(created_at), MAX(created_at),
       EXTRACT(EPOCH FROM MAX(created_at - action_timestamp))
FROM resource_action_traces"""

_GROUPS_SQL = """SELECT GROUPING(alert_severity), GROUPING(cluster_name), GROUPING(environment),
       GROUPING(action_type), GROUPING(execution_status),
       alert_severity, cluster_name, environment, action_type, execution_status, COUNT(*)
FROM resource_action_traces
GROUP BY GROUPING SETS ((alert_severity), (cluster_name), (environment), (action_type),
                        (execution_status))"""

_NAMESPACES_SQL = """SELECT rr.namespace, COUNT(*)
FROM resource_action_traces rat
JOIN action_histories ah ON rat.action_history_id = ah.id
JOIN resource_references rr ON ah.resource_id = rr.id
WHERE rr.namespace IS NOT NULL
GROUP BY rr.namespace"""

# A block sample (reads only the sampled pages); REPEATABLE makes it the same rows for the
# same physical layout, i.e. for the same seeded load.
_SAMPLE_SQL = """SELECT id, embedding FROM resource_action_traces
TABLESAMPLE SYSTEM (%s) REPEATABLE (20251021)
ORDER BY id"""


def _sorted_counts(pairs: list[tuple[Any, int]]) -> Counts:
    """Most frequent first, then by name: a stable order so sampling is reproducible."""
    return sorted(((str(k), int(n)) for k, n in pairs if k is not None),
                  key=lambda kv: (-kv[1], kv[0]))


@dataclass
class DatasetProfile:
    traces: int
    embedded: int
    id_min: int
    id_max: int
    ts_min: datetime
    ts_max: datetime
    created_min: datetime
    created_max: datetime
    max_created_lag_s: float
    namespaces: Counts
    severities: Counts
    clusters: Counts
    environments: Counts
    action_types: Counts
    statuses: Counts
    sample_ids: list[int]
    embedding_sample: np.ndarray = field(repr=False)
    timezone: str = "UTC"
    captured_at: datetime | None = None

    @classmethod
    def from_database(cls, conn: psycopg.Connection) -> DatasetProfile:
        """Read the profile; leaves the connection as found (no transaction left open)."""
        with outside_transaction(conn):
            return cls._read(conn)

    @classmethod
    def _read(cls, conn: psycopg.Connection) -> DatasetProfile:
        try:
            totals = conn.execute(_TOTALS_SQL).fetchone()
        except psycopg.errors.UndefinedTable:
            raise UsageError("the database has no Context API schema; run `ctxbench seed` "
                             "first") from None
        if totals is None:  # an aggregate without GROUP BY always returns one row
            raise InfraError("the dataset totals query returned no row")
        traces = int(totals[0])
        if traces == 0:
            raise UsageError("the database has no traces (resource_action_traces is empty); "
                             "run `ctxbench seed` first")
        groups: dict[int, list[tuple[Any, int]]] = {i: [] for i in range(5)}
        for row in conn.execute(_GROUPS_SQL).fetchall():
            flags, values, count = row[:5], row[5:10], row[10]
            dim = flags.index(0)  # the column this row groups by
            groups[dim].append((values[dim], count))
        namespaces = _sorted_counts(conn.execute(_NAMESPACES_SQL).fetchall())
        want = max(ID_SAMPLE, EMBEDDING_SAMPLE) * 2
        pct = min(100.0, 100.0 * want / traces)
        sampled = conn.execute(_SAMPLE_SQL, (pct,)).fetchall()
        if len(sampled) < min(traces, ID_SAMPLE // 4):  # tiny tables: block sampling is coarse
            sampled = conn.execute("SELECT id, embedding FROM resource_action_traces "
                                   "ORDER BY id LIMIT %s", (want,)).fetchall()
        ids = [int(r[0]) for r in sampled]
        step = max(1, len(ids) // ID_SAMPLE)
        embedded = [r[1] for r in sampled if r[1] is not None]
        estep = max(1, len(embedded) // EMBEDDING_SAMPLE)
        emb = (np.stack([embedding_array(e) for e in embedded[::estep][:EMBEDDING_SAMPLE]])
               if embedded else np.zeros((0, EMBEDDING_DIMS), dtype=np.float32))
        clock = conn.execute("SELECT current_setting('TimeZone'), now()").fetchone()
        if clock is None:
            raise InfraError("SELECT now() returned no row")
        tz, now = clock
        return cls(
            traces=traces, embedded=int(totals[1]), id_min=int(totals[2]), id_max=int(totals[3]),
            ts_min=totals[4], ts_max=totals[5], created_min=totals[6], created_max=totals[7],
            max_created_lag_s=float(totals[8] or 0.0), namespaces=namespaces,
            severities=_sorted_counts(groups[0]), clusters=_sorted_counts(groups[1]),
            environments=_sorted_counts(groups[2]), action_types=_sorted_counts(groups[3]),
            statuses=_sorted_counts(groups[4]), sample_ids=ids[::step][:ID_SAMPLE],
            embedding_sample=emb.astype(np.float32), timezone=str(tz), captured_at=now)

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        emb = np.ascontiguousarray(self.embedding_sample, dtype="<f4")
        return {
            "profile_version": PROFILE_VERSION,
            "traces": self.traces, "embedded": self.embedded,
            "id_min": self.id_min, "id_max": self.id_max,
            "ts_min": self.ts_min.isoformat(), "ts_max": self.ts_max.isoformat(),
            "created_min": self.created_min.isoformat(),
            "created_max": self.created_max.isoformat(),
            "max_created_lag_s": self.max_created_lag_s,
            "namespaces": [list(x) for x in self.namespaces],
            "severities": [list(x) for x in self.severities],
            "clusters": [list(x) for x in self.clusters],
            "environments": [list(x) for x in self.environments],
            "action_types": [list(x) for x in self.action_types],
            "statuses": [list(x) for x in self.statuses],
            "sample_ids": list(self.sample_ids),
            "embedding_sample": {"dims": int(emb.shape[1]) if emb.ndim == 2 else EMBEDDING_DIMS,
                                 "count": int(emb.shape[0]),
                                 "float32_le_b64": base64.b64encode(emb.tobytes()).decode()},
            "timezone": self.timezone,
            "captured_at": self.captured_at.isoformat() if self.captured_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetProfile:
        try:
            if data.get("profile_version") != PROFILE_VERSION:
                raise UsageError(f"dataset profile version {data.get('profile_version')!r} is "
                                 f"not supported; expected {PROFILE_VERSION}")
            es = data["embedding_sample"]
            emb = np.frombuffer(base64.b64decode(es["float32_le_b64"]), dtype="<f4")
            emb = emb.reshape(int(es["count"]), int(es["dims"])).astype(np.float32)

            def counts(key: str) -> Counts:
                return [(str(k), int(n)) for k, n in data[key]]

            captured = data.get("captured_at")
            return cls(
                traces=int(data["traces"]), embedded=int(data["embedded"]),
                id_min=int(data["id_min"]), id_max=int(data["id_max"]),
                ts_min=datetime.fromisoformat(data["ts_min"]),
                ts_max=datetime.fromisoformat(data["ts_max"]),
                created_min=datetime.fromisoformat(data["created_min"]),
                created_max=datetime.fromisoformat(data["created_max"]),
                max_created_lag_s=float(data["max_created_lag_s"]),
                namespaces=counts("namespaces"), severities=counts("severities"),
                clusters=counts("clusters"), environments=counts("environments"),
                action_types=counts("action_types"), statuses=counts("statuses"),
                sample_ids=[int(i) for i in data["sample_ids"]], embedding_sample=emb,
                timezone=str(data.get("timezone", "UTC")),
                captured_at=datetime.fromisoformat(captured) if captured else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"dataset profile JSON is malformed: {exc!r}") from None
