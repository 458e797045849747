"""Trace chunks → binary COPY rows for resource_action_traces.

The COPY column order puts every always-present fixed-width column first (ids, four
timestamps, the action id, the fingerprint, the vector), so each chunk's row prefixes are one
numpy structured array; the remaining columns follow as per-row pieces (lookups into
pre-encoded tables, or small numpy blocks).
"""

from __future__ import annotations

import numpy as np

from ctxbench.datagen import pgbinary as pb
from ctxbench.datagen import vocab
from ctxbench.datagen.content import (
    ERROR_VARIANTS,
    OPS_VARIANTS,
    PARAM_VARIANTS,
    REASONING_VARIANTS,
    SCORE_BUCKETS,
    STATE_VARIANTS,
)
from ctxbench.datagen.embeddings import DIM
from ctxbench.datagen.model import STATUS, TraceChunk, World

FIXED_COLUMNS = ("id", "action_history_id", "action_id", "action_timestamp", "alert_firing_time",
                 "created_at", "updated_at", "alert_fingerprint", "embedding")
VARIABLE_COLUMNS = (
    "correlation_id", "execution_start_time", "execution_end_time", "execution_duration_ms",
    "alert_name", "alert_severity", "alert_labels", "alert_annotations", "model_used",
    "routing_tier", "model_confidence", "model_reasoning", "alternative_actions", "action_type",
    "action_parameters", "resource_state_before", "resource_state_after", "execution_status",
    "execution_error", "kubernetes_operations", "effectiveness_score", "effectiveness_criteria",
    "effectiveness_assessed_at", "effectiveness_assessment_method", "effectiveness_notes",
    "follow_up_actions", "effectiveness_assessment_due", "cluster_name", "environment",
)
COPY_COLUMNS = FIXED_COLUMNS + VARIABLE_COLUMNS
ACTION_ID_LEN = 36
FINGERPRINT_LEN = 16
CORRELATION_PREFIX = b"corr-"

FIXED_DTYPE = np.dtype([
    ("nfields", ">i2"),
    ("id_len", ">i4"), ("id", ">i8"),
    ("history_len", ">i4"), ("history", ">i8"),
    ("action_id_len", ">i4"), ("action_id", "u1", (ACTION_ID_LEN,)),
    ("ts_len", ">i4"), ("ts", ">i8"),
    ("firing_len", ">i4"), ("firing", ">i8"),
    ("created_len", ">i4"), ("created", ">i8"),
    ("updated_len", ">i4"), ("updated", ">i8"),
    ("fp_len", ">i4"), ("fp", "u1", (FINGERPRINT_LEN,)),
    ("emb_len", ">i4"), ("emb_dim", ">i2"), ("emb_unused", ">i2"), ("emb", ">f4", (DIM,)),
])
_NULL_OBJ = np.array([pb.NULL], dtype=object)[0]


def copy_statement(table: str = "resource_action_traces") -> str:
    return f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def _fixed_block(c: TraceChunk) -> list[bytes]:
    n = len(c)
    rec = np.empty(n, dtype=FIXED_DTYPE)
    rec["nfields"] = len(COPY_COLUMNS)
    for name in ("id", "history", "ts", "firing", "created", "updated"):
        rec[f"{name}_len"] = 8
    rec["id"], rec["history"], rec["ts"] = c.id, c.history, c.ts
    rec["firing"], rec["created"], rec["updated"] = c.firing, c.created, c.updated
    rec["action_id_len"] = ACTION_ID_LEN
    rec["action_id"] = pb.uuid_ascii(c.action_id_hi, c.action_id_lo)
    rec["fp_len"] = FINGERPRINT_LEN
    rec["fp"] = pb.hex_ascii(c.fingerprint)
    rec["emb_len"] = 4 + 4 * DIM
    rec["emb_dim"] = DIM
    rec["emb_unused"] = 0
    rec["emb"] = c.embedding
    return pb.rows_of(rec.tobytes(), FIXED_DTYPE.itemsize)


def _masked(tbl: np.ndarray, idx: np.ndarray, present: np.ndarray) -> list[bytes]:
    out = tbl[idx]
    out[~present] = _NULL_OBJ
    return out.tolist()


def _correlation(c: TraceChunk) -> list[bytes]:
    width = len(CORRELATION_PREFIX) + 16
    block = np.empty((len(c), 4 + width), dtype=np.uint8)
    block[:, :4] = np.frombuffer(np.array([width], dtype=">i4").tobytes(), dtype=np.uint8)
    block[:, 4:4 + len(CORRELATION_PREFIX)] = np.frombuffer(CORRELATION_PREFIX, dtype=np.uint8)
    block[:, 4 + len(CORRELATION_PREFIX):] = pb.hex_ascii(c.correlation)
    return pb.nullable(pb.rows_of(block.tobytes(), 4 + width), c.has_correlation)


def encode_chunk(world: World, c: TraceChunk) -> bytes:
    """The binary COPY rows (no signature/trailer) of one chunk, in ``COPY_COLUMNS`` order."""
    ct, res = world.content, world.resources
    n_sev = len(world.severity_names)
    n_act = len(vocab.ACTIONS)
    v = c.variants
    kind = res.kind[c.resource]
    topic = c.alert * n_act + c.action
    bad = (c.status == STATUS["failed"]) | (c.status == STATUS["rolled-back"])
    bucket = np.minimum(c.score // 200, SCORE_BUCKETS - 1)

    label_key = c.alert * n_sev + c.severity
    frags = res.label_fragment[c.resource]
    frag_len = res.label_len[c.resource]
    refs = res.reference[c.resource]
    ref_len = res.reference_len[c.resource]

    pieces: list[list[bytes]] = [
        _fixed_block(c),
        _correlation(c),
        pb.nullable_fixed(c.start, ">i8", c.has_start),
        pb.nullable_fixed(c.end, ">i8", c.has_end),
        pb.nullable_fixed(c.duration_ms, ">i4", c.has_end),
        pb.lookup(ct.alert_name, c.alert),
        pb.lookup(ct.severity, c.severity),
        pb.length_prefixes(ct.label_prefix_len[label_key] + frag_len),
        pb.lookup(ct.label_prefix, label_key),
        frags.tolist(),
        pb.length_prefixes(ct.annotation_fix_len[c.alert] + ref_len),
        pb.lookup(ct.annotation_prefix, c.alert),
        refs.tolist(),
        pb.lookup(ct.annotation_suffix, c.alert),
        pb.lookup(ct.model, c.model),
        pb.lookup(ct.tier, c.tier),
        pb.lookup(world.numerics, c.confidence),
        pb.lookup(ct.reasoning, topic * REASONING_VARIANTS + v["reasoning"]),
        pb.lookup(ct.alternatives, topic),
        pb.lookup(ct.action_type, c.action),
        pb.lookup(ct.params, c.action * PARAM_VARIANTS + v["params"]),
        pb.lookup(ct.state_before, kind * STATE_VARIANTS + v["state"]),
        _masked(ct.state_after, kind * STATE_VARIANTS + v["state"], c.has_end),
        pb.lookup(ct.status, c.status),
        _masked(ct.errors, c.action * ERROR_VARIANTS + v["error"], bad),
        _masked(ct.ops, c.action * OPS_VARIANTS + v["ops"], c.has_start),
        _masked(world.numerics, c.score, c.assessed),
        _masked(ct.criteria, bucket, c.assessed),
        pb.nullable_fixed(c.assessed_at, ">i8", c.assessed),
        _masked(ct.method, c.method, c.assessed),
        _masked(ct.notes, np.minimum(c.status, 2) * SCORE_BUCKETS + bucket, c.assessed),
        _masked(ct.follow_ups, c.action, bad),
        pb.nullable_fixed(c.due, ">i8", c.has_due),
        pb.lookup(ct.cluster, c.cluster),
        pb.lookup(ct.environment, c.environment),
    ]
    return pb.assemble(pieces)
