"""Rows of resource_references and action_histories, derived from the world and trace stats.

They are generated after the traces because a history's counters (total_actions,
last_action_at) and a resource's last_seen summarize its traces.

- resource: created 0–180 days before the range starts (uniform); last_seen = its last
  action (or creation); 3 % deleted 1–72 h after last_seen (if that is before the anchor).
- history: created 1 s before its first action (or 1 s after the resource without actions);
  settings at Kubernaut's defaults; total_actions = trace count; analysed 30 min after the
  last action, next analysis 1 h after that (or after creation).
"""

from __future__ import annotations

import numpy as np

from ctxbench.datagen import pgbinary as pb
from ctxbench.datagen import vocab
from ctxbench.datagen.model import US, HistoryStats, World
from ctxbench.datagen.rng import stream

RESOURCE_COLUMNS = ("id", "resource_uid", "api_version", "kind", "name", "namespace",
                    "created_at", "deleted_at", "last_seen")
HISTORY_COLUMNS = ("id", "resource_id", "max_actions", "max_age_days", "compaction_strategy",
                   "oscillation_window_minutes", "effectiveness_threshold",
                   "pattern_min_occurrences", "total_actions", "last_action_at",
                   "last_analysis_at", "next_analysis_at", "created_at", "updated_at")
DELETED_SHARE = 0.03


def _i8(values: np.ndarray) -> list[bytes]:
    return pb.nullable_fixed(values, ">i8", np.ones(len(values), dtype=bool))


def _const(value: bytes, n: int) -> list[bytes]:
    return [value] * n


def resource_rows(world: World, stats: HistoryStats) -> bytes:
    res, n = world.resources, world.n_resources
    history_of = np.empty(n, dtype=np.int64)
    history_of[world.history_resource] = np.arange(n)
    count = stats.count[history_of]
    last_seen = np.where(count > 0, stats.last_us[history_of], res.created_us)
    rng = stream(world.seed, "resource.deleted")
    deleted = last_seen + (rng.uniform(1, 72, n) * 3600 * US).astype(np.int64)
    is_deleted = (rng.random(n) < DELETED_SHARE) & (deleted < world.timeline.end_us)
    api = pb.table(pb.text_field(k.api_version) for k in vocab.KINDS)
    kind = pb.table(pb.text_field(k.name) for k in vocab.KINDS)
    ns = pb.table([*(pb.text_field(x) for x in vocab.NAMESPACES), pb.NULL])
    pieces = [
        _const(struct_i2(len(RESOURCE_COLUMNS)), n),
        _i8(np.arange(1, n + 1)),
        [pb.text_field(u) for u in res.uid],
        pb.lookup(api, res.kind),
        pb.lookup(kind, res.kind),
        [pb.text_field(x) for x in res.name],
        pb.lookup(ns, res.namespace),   # -1 → the NULL entry at the end
        _i8(res.created_us),
        pb.nullable_fixed(deleted, ">i8", is_deleted),
        _i8(last_seen),
    ]
    return pb.assemble(pieces)


def history_rows(world: World, stats: HistoryStats) -> bytes:
    n = world.n_resources
    res = world.history_resource
    has = stats.count > 0
    created = np.where(has, stats.first_us - US, world.resources.created_us[res] + US)
    analysed = stats.last_us + 1800 * US
    has_analysis = has & (analysed < world.timeline.end_us)
    next_analysis = np.where(has_analysis, analysed, created) + 3600 * US
    updated = np.maximum(created, np.where(has_analysis, analysed, np.where(has, stats.last_us,
                                                                            created)))
    threshold = pb.numeric_fields(2, 101)[70]  # 0.70 as DECIMAL(3,2)
    pieces = [
        _const(struct_i2(len(HISTORY_COLUMNS)), n),
        _i8(np.arange(1, n + 1)),
        _i8(res + 1),
        _const(pb.field((1000).to_bytes(4, "big")), n),
        _const(pb.field((30).to_bytes(4, "big")), n),
        _const(pb.text_field("pattern-aware"), n),
        _const(pb.field((120).to_bytes(4, "big")), n),
        _const(threshold, n),
        _const(pb.field((3).to_bytes(4, "big")), n),
        pb.nullable_fixed(stats.count.astype(np.int32), ">i4", np.ones(n, dtype=bool)),
        pb.nullable_fixed(stats.last_us, ">i8", has),
        pb.nullable_fixed(analysed, ">i8", has_analysis),
        _i8(next_analysis),
        _i8(created),
        _i8(updated),
    ]
    return pb.assemble(pieces)


def struct_i2(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)
