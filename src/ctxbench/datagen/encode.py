"""Trace chunks → binary COPY rows for resource_action_traces, with few pieces per row.

The COPY column order is chosen for the encoder: first every always-present fixed-width
column (ids, four timestamps, the action id, the fingerprint, the vector) as one numpy
structured array, directly followed by the nullable fixed-width columns (correlation id,
execution and assessment times, duration) packed left-aligned per row with numpy; then runs of
columns that are functions of the same few small indexes, each run pre-encoded once as a
single piece (e.g. status + error + Kubernetes operations + follow-ups per (status, action,
variants)), and the per-resource fragments of labels and annotations. A row is 13 pieces;
a chunk is one ``bytes.join`` over all of them. Values are identical to encoding each
column separately; only the byte assembly is batched.
"""

from __future__ import annotations

import struct
import threading

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
PACKED_COLUMNS = ("correlation_id", "execution_start_time", "execution_end_time",
                  "execution_duration_ms", "effectiveness_assessed_at",
                  "effectiveness_assessment_due")
LOOKUP_COLUMNS = (
    "alert_labels", "alert_annotations", "alert_name", "alert_severity",
    "model_used", "routing_tier", "model_confidence",
    "model_reasoning", "alternative_actions",
    "action_type", "action_parameters",
    "resource_state_before", "resource_state_after",
    "execution_status", "execution_error", "kubernetes_operations", "follow_up_actions",
    "effectiveness_score", "effectiveness_criteria", "effectiveness_assessment_method",
    "effectiveness_notes",
    "cluster_name", "environment",
)
COPY_COLUMNS = FIXED_COLUMNS + PACKED_COLUMNS + LOOKUP_COLUMNS
ACTION_ID_LEN = 36
FINGERPRINT_LEN = 16
CORRELATION_PREFIX = b"corr-"
CORRELATION_LEN = len(CORRELATION_PREFIX) + 16
N_STATUS = len(vocab.STATUSES)

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
PACKED_WIDTH = 4 * len(PACKED_COLUMNS) + CORRELATION_LEN + 8 + 8 + 4 + 8 + 8
_FF = np.full(4, 0xFF, dtype=np.uint8)


def traces_copy_statement(table: str = "resource_action_traces") -> str:
    return pb.copy_statement(table, COPY_COLUMNS)


def _cat(*fields: bytes) -> bytes:
    return b"".join(fields)


def _field_len(data_len: int) -> bytes:
    return struct.pack(">i", data_len)


class Tables:
    """Pre-encoded pieces of a world, each covering a run of adjacent COPY columns."""

    def __init__(self, world: World) -> None:
        ct, res = world.content, world.resources
        self.n_sev = len(world.severity_names)
        self.n_act = len(vocab.ACTIONS)
        n_alert, n_sev, n_act = len(vocab.ALERTS), self.n_sev, self.n_act
        # labels: int32 length + \x01{... prefix per (alert, severity, fragment length)
        self.frag_lens, self.frag_len_idx = np.unique(res.label_len, return_inverse=True)
        self.label_head = pb.table(
            _field_len(len(ct.label_prefix[a * n_sev + s]) + int(fl)) + ct.label_prefix[a * n_sev + s]
            for a in range(n_alert) for s in range(n_sev) for fl in self.frag_lens)
        # annotations: int32 length + prefix per (alert, reference length); the tail carries
        # the rest of the annotation and the alert_name and alert_severity fields
        self.ref_lens, self.ref_len_idx = np.unique(res.reference_len, return_inverse=True)
        self.annotation_head = pb.table(
            _field_len(int(ct.annotation_fix_len[a]) + int(rl)) + ct.annotation_prefix[a]
            for a in range(n_alert) for rl in self.ref_lens)
        self.annotation_tail = pb.table(
            _cat(ct.annotation_suffix[a], ct.alert_name[a], ct.severity[s])
            for a in range(n_alert) for s in range(n_sev))
        n_tier = len(ct.tier)
        self.n_tier = n_tier
        self.model_tier_conf = pb.table(
            _cat(ct.model[m], ct.tier[t], world.numerics[c])
            for m in range(len(ct.model)) for t in range(n_tier) for c in range(1001))
        self.reasoning_alts = pb.table(
            _cat(ct.reasoning[topic * REASONING_VARIANTS + v], ct.alternatives[topic])
            for topic in range(n_alert * n_act) for v in range(REASONING_VARIANTS))
        self.action_params = pb.table(
            _cat(ct.action_type[a], ct.params[a * PARAM_VARIANTS + v])
            for a in range(n_act) for v in range(PARAM_VARIANTS))
        self.states = pb.table(
            _cat(ct.state_before[k * STATE_VARIANTS + v],
                 ct.state_after[k * STATE_VARIANTS + v] if finished else pb.NULL)
            for k in range(len(vocab.KINDS)) for v in range(STATE_VARIANTS)
            for finished in (False, True))
        bad = {STATUS["failed"], STATUS["rolled-back"]}
        self.outcome = pb.table(
            _cat(ct.status[s],
                 ct.errors[a * ERROR_VARIANTS + ev] if s in bad else pb.NULL,
                 ct.ops[a * OPS_VARIANTS + ov] if s != STATUS["pending"] else pb.NULL,
                 ct.follow_ups[a] if s in bad else pb.NULL)
            for s in range(N_STATUS) for a in range(n_act)
            for ev in range(ERROR_VARIANTS) for ov in range(OPS_VARIANTS))
        n_method = len(ct.method)
        self.n_method = n_method
        self.effect = pb.table([
            *(_cat(world.numerics[score], ct.criteria[min(score // 200, SCORE_BUCKETS - 1)],
                   ct.method[m], ct.notes[st * SCORE_BUCKETS + min(score // 200, SCORE_BUCKETS - 1)])
              for score in range(1001) for m in range(n_method) for st in range(3)),
            pb.NULL * 4,  # not assessed
        ])
        self.effect_none = len(self.effect) - 1
        self.n_env = len(ct.environment)
        self.cluster_env = pb.table(_cat(ct.cluster[c], ct.environment[e])
                                    for c in range(len(ct.cluster)) for e in range(self.n_env))


def _fixed(c: TraceChunk, out: np.ndarray) -> None:
    rec = out[:, :FIXED_DTYPE.itemsize].view(FIXED_DTYPE)[:, 0]
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


def _be(values: np.ndarray, dtype: str) -> np.ndarray:
    """Values as big-endian bytes, shape (n, itemsize)."""
    return values.astype(dtype).view(np.uint8).reshape(len(values), -1)


def _packed(c: TraceChunk, out: np.ndarray) -> np.ndarray:
    """Write the nullable fixed-width columns left-aligned into ``out``; return row lengths."""
    n = len(c)
    corr = np.empty((n, CORRELATION_LEN), dtype=np.uint8)
    corr[:, :len(CORRELATION_PREFIX)] = np.frombuffer(CORRELATION_PREFIX, dtype=np.uint8)
    corr[:, len(CORRELATION_PREFIX):] = pb.hex_ascii(c.correlation)
    fields = (
        (corr, c.has_correlation),
        (_be(c.start, ">i8"), c.has_start),
        (_be(c.end, ">i8"), c.has_end),
        (_be(c.duration_ms, ">i4"), c.has_end),
        (_be(c.assessed_at, ">i8"), c.assessed),
        (_be(c.due, ">i8"), c.has_due),
    )
    rows = np.arange(n)[:, None]
    offset = np.zeros(n, dtype=np.int64)
    for data, present in fields:
        k = data.shape[1]
        block = np.empty((n, 4 + k), dtype=np.uint8)
        block[:, :4] = np.frombuffer(_field_len(k), dtype=np.uint8)
        block[:, 4:] = data
        block[~present, :4] = _FF
        out[rows, offset[:, None] + np.arange(4 + k)] = block
        offset += np.where(present, 4 + k, 4)
    return offset


def encode_chunk(world: World, c: TraceChunk) -> bytes:
    """The binary COPY rows (no signature/trailer) of one chunk, in ``COPY_COLUMNS`` order."""
    t = tables_for(world)
    n = len(c)
    fixed_w = FIXED_DTYPE.itemsize
    width = fixed_w + PACKED_WIDTH
    block = np.empty((n, width), dtype=np.uint8)
    _fixed(c, block)
    lengths = fixed_w + _packed(c, block[:, fixed_w:])
    buf = block.tobytes()
    starts = np.arange(n, dtype=np.int64) * width
    heads = [buf[s:e] for s, e in zip(starts.tolist(), (starts + lengths).tolist(), strict=True)]

    res = c.resource
    kind = world.resources.kind[res]
    v = c.variants
    topic = c.alert * t.n_act + c.action
    status3 = np.minimum(c.status, 2)
    effect = np.where(c.assessed, (c.score * t.n_method + c.method) * 3 + status3, t.effect_none)
    pieces = [
        heads,
        pb.lookup(t.label_head, (c.alert * t.n_sev + c.severity) * len(t.frag_lens)
                  + t.frag_len_idx[res]),
        world.resources.label_fragment[res].tolist(),
        pb.lookup(t.annotation_head, c.alert * len(t.ref_lens) + t.ref_len_idx[res]),
        world.resources.reference[res].tolist(),
        pb.lookup(t.annotation_tail, c.alert * t.n_sev + c.severity),
        pb.lookup(t.model_tier_conf, (c.model * t.n_tier + c.tier) * 1001 + c.confidence),
        pb.lookup(t.reasoning_alts, topic * REASONING_VARIANTS + v["reasoning"]),
        pb.lookup(t.action_params, c.action * PARAM_VARIANTS + v["params"]),
        pb.lookup(t.states, (kind * STATE_VARIANTS + v["state"]) * 2 + c.has_end),
        pb.lookup(t.outcome, ((c.status * t.n_act + c.action) * ERROR_VARIANTS + v["error"])
                  * OPS_VARIANTS + v["ops"]),
        pb.lookup(t.effect, effect),
        pb.lookup(t.cluster_env, c.cluster * t.n_env + c.environment),
    ]
    return pb.assemble(pieces)



_tables_lock = threading.Lock()


def tables_for(world: World) -> Tables:
    """The world's pre-encoded pieces, built once (under a lock: producers share a world)."""
    with _tables_lock:
        tables = world.__dict__.get("_encode_tables")
        if tables is None:
            tables = world.__dict__["_encode_tables"] = Tables(world)
        return tables
