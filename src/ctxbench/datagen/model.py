"""The generated world: resources, their histories, and traces generated chunk by chunk.

Sizes: R = N // 20 resources (so 20 traces per resource on average) and exactly one action
history per resource (the UNIQUE constraint). Histories are numbered in a seeded random
order relative to resources, so a query joining on the wrong key finds wrong rows.

Per resource: kind by fixed shares (Pod 43 %, Deployment 22 %, ...; see ``vocab.KINDS``),
namespace Zipf(s=1.1) over 40 names (NULL for Nodes), cluster Zipf(s=1.0) over 10 clusters
whose names fix the environment, an activity weight ~ LogNormal(0, 1.0) (a few noisy
resources get many traces, some none).

Per trace i (chunks of CHUNK_ROWS consecutive ids; each chunk's random streams derive from
(seed, stream name, chunk index), so chunking never changes a value):
- history ∝ activity; alert: Zipf(s=1.0) among the alerts of the resource kind's class;
  action: the alert's 3 preferred actions with p = .55/.25/.12, else uniform over all 20;
- severity independent of everything, by the chosen mix;
- status: within 48 h of the anchor 12 % pending and 8 % executing, else 1 % and 0.5 %;
  otherwise failed with the action's failure rate, rolled-back with 0.4 × that, else completed;
- times: action_timestamp by ``timeline``; alert fired LogNormal(median 90 s, σ 1) before;
  created_at LogNormal(median 0.3 s, σ 0.6) after; execution starts LogNormal(median 1.5 s,
  σ 0.7) after (not for pending); duration LogNormal(median per action, σ 0.8) (finished only);
- effectiveness: 85 % of finished traces whose assessment (LogNormal median 15 min after the
  end) falls before the anchor get a score ~ Beta(8,2) completed, Beta(1.5,6) failed,
  Beta(2,5) rolled-back (3 decimals), criteria, method (automated 70 %, metric-based 25 %,
  manual 5 %) and notes; every finished trace is due for assessment 10 min after its end;
- model: gpt-4 35 %, gpt-4o 25 %, claude-3-5-sonnet 20 %, llama-3.1-70b 12 %, granite 8 %,
  routing tier by model (5 % NULL); confidence ~ Beta(8,2), at least 0.300;
- cluster/environment from the resource; cluster NULL for 2 %, environment NULL for 4 %;
- alert_fingerprint: 16 hex digits, a function of (alert, resource); correlation_id (75 %):
  a function of the fingerprint and the hour, so one alert storm shares one id;
- action_id: a UUID-formatted id whose first half is a bijection of the trace id (unique);
- embedding: its topic (alert × action) centroid plus noise (see ``embeddings``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np

from ctxbench.datagen import embeddings, vocab
from ctxbench.datagen.content import (
    ERROR_VARIANTS,
    OPS_VARIANTS,
    PARAM_VARIANTS,
    REASONING_VARIANTS,
    STATE_VARIANTS,
    Content,
)
from ctxbench.datagen.pgbinary import ascii_strings, base36_ascii, numeric_fields, uuid_ascii
from ctxbench.datagen.rng import mix64, seed_key, stream
from ctxbench.datagen.timeline import Timeline, to_pg_us
from ctxbench.db import partitions

CHUNK_ROWS = 5_000  # keeps a chunk's arrays small enough for malloc to reuse
TRACES_PER_RESOURCE = 20
ACTIVITY_SIGMA = 1.0
RESOURCE_MAX_AGE_DAYS = 180
US = 1_000_000

# Per-row variants of the content tables, drawn in this order from one stream (append only).
VARIANTS = {"params": PARAM_VARIANTS, "state": STATE_VARIANTS, "reasoning": REASONING_VARIANTS,
            "error": ERROR_VARIANTS, "ops": OPS_VARIANTS}
STATUS = {name: i for i, name in enumerate(vocab.STATUSES)}
FINISHED = (STATUS["completed"], STATUS["failed"], STATUS["rolled-back"])


def zipf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return w / w.sum()


def _lognormal_us(rng: np.random.Generator, median_s: np.ndarray | float, sigma: float,
                  n: int) -> np.ndarray:
    return (np.exp(rng.normal(0.0, sigma, n)) * np.asarray(median_s) * US).astype(np.int64)


def _draw(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """Categorical draws by inverse CDF (stable across numpy versions, unlike ``choice``)."""
    cum = np.cumsum(probs)
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(probs) - 1)


def resource_count(n_traces: int) -> int:
    return n_traces // TRACES_PER_RESOURCE


@dataclass
class Resources:
    """Per-resource attributes (index r = resource id - 1)."""

    kind: np.ndarray
    namespace: np.ndarray      # index into NAMESPACES, -1 = NULL
    cluster: np.ndarray
    app: np.ndarray
    name: list[str]
    uid: list[str]
    created_us: np.ndarray
    label_fragment: np.ndarray  # object array of bytes
    reference: np.ndarray       # object array of bytes ("Pod ns/name")
    label_len: np.ndarray = field(init=False)
    reference_len: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.label_len = np.array([len(f) for f in self.label_fragment], dtype=np.int64)
        self.reference_len = np.array([len(r) for r in self.reference], dtype=np.int64)


@dataclass
class TraceChunk:
    """Column arrays of one chunk of traces (NULL-able columns carry a ``has_*`` mask)."""

    index: int
    id: np.ndarray
    history: np.ndarray
    resource: np.ndarray
    ts: np.ndarray
    firing: np.ndarray
    created: np.ndarray
    updated: np.ndarray
    start: np.ndarray
    has_start: np.ndarray
    end: np.ndarray
    has_end: np.ndarray
    duration_ms: np.ndarray
    alert: np.ndarray
    severity: np.ndarray
    action: np.ndarray
    status: np.ndarray
    model: np.ndarray
    tier: np.ndarray
    confidence: np.ndarray      # thousandths
    score: np.ndarray           # thousandths
    assessed: np.ndarray
    assessed_at: np.ndarray
    method: np.ndarray
    due: np.ndarray
    has_due: np.ndarray
    cluster: np.ndarray         # index, len(CLUSTERS) = NULL
    environment: np.ndarray     # index, len(ENVIRONMENTS) = NULL
    fingerprint: np.ndarray     # uint64
    correlation: np.ndarray     # uint64
    has_correlation: np.ndarray
    action_id_hi: np.ndarray
    action_id_lo: np.ndarray
    variants: dict[str, np.ndarray]  # small indexes into the content tables
    embedding: np.ndarray       # (n, 384) float32

    def __len__(self) -> int:
        return len(self.id)

    def subset(self, mask: np.ndarray) -> TraceChunk:
        """The rows where ``mask`` is true (same chunk index)."""
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "index":
                values[f.name] = v
            elif isinstance(v, dict):
                values[f.name] = {k: a[mask] for k, a in v.items()}
            else:
                values[f.name] = v[mask]
        return TraceChunk(**values)


@dataclass
class HistoryStats:
    """Per-history trace count and first/last action time, accumulated over chunks in any order."""

    n: int
    count: np.ndarray = field(init=False)
    first_us: np.ndarray = field(init=False)
    last_us: np.ndarray = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n, dtype=np.int64)
        self.first_us = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
        self.last_us = np.full(self.n, np.iinfo(np.int64).min, dtype=np.int64)

    def add(self, history: np.ndarray, ts: np.ndarray) -> None:
        h = history - 1
        counts = np.bincount(h, minlength=self.n)
        order = np.lexsort((ts, h))
        hs, tss = h[order], ts[order]
        first = np.r_[True, hs[1:] != hs[:-1]]
        last = np.r_[hs[1:] != hs[:-1], True]
        with self._lock:
            self.count += counts
            u = hs[first]
            self.first_us[u] = np.minimum(self.first_us[u], tss[first])
            self.last_us[u] = np.maximum(self.last_us[u], tss[last])


class World:
    """Everything derived from (scale, seed, anchor, months, severities) except the trace rows."""

    def __init__(self, scale: int, seed: int, anchor, months: int, severities: str,
                 embedding_profile: str = embeddings.DEFAULT_PROFILE) -> None:
        self.n_traces = scale
        self.seed = seed
        self.embedding_profile = embeddings.check_profile(embedding_profile)
        self.n_resources = resource_count(scale)
        self.timeline = Timeline.build(anchor, months, seed)
        self.severity_names = tuple(vocab.SEVERITY_MIXES[severities])
        self.severity_probs = np.array(list(vocab.SEVERITY_MIXES[severities].values()))
        self.content = Content(self.severity_names)
        self.numerics = numeric_fields(3, 1001)  # DECIMAL(4,3) values 0.000 .. 1.000
        self.centroids = embeddings.topic_centroids(seed, "hard")
        self.severity_global = np.array([embeddings.SEVERITY_NAMES.index(s)
                                         for s in self.severity_names])
        self.n_chunks = -(-scale // CHUNK_ROWS)
        self.resources = self._resources()
        rng = stream(seed, "history.order")
        self.history_resource = rng.permutation(self.n_resources)  # history h -> resource index
        activity = stream(seed, "history.activity").lognormal(0.0, ACTIVITY_SIGMA, self.n_resources)
        self.activity_cum = np.cumsum(activity) / activity.sum()
        self.kind_class = np.array([vocab.ALERT_CLASSES.index(k.alert_class) for k in vocab.KINDS])
        self.cluster_env = np.array([vocab.ENVIRONMENTS.index(e) for _, e in vocab.CLUSTERS])
        self._alert_cum = self._alerts_by_class()
        self.action_failure = np.array([a.failure_rate for a in vocab.ACTIONS])
        self.action_median = np.array([a.median_seconds for a in vocab.ACTIONS])
        self.model_probs = np.array([m[1] for m in vocab.MODELS])
        self.method_probs = np.array([p for _, p in vocab.ASSESSMENT_METHODS])
        self.keys = {name: seed_key(seed, name) for name in
                     ("fingerprint", "correlation", "action_id", "resource_uid", "name")}

    # -- resources ---------------------------------------------------------------------------
    def _resources(self) -> Resources:
        n, seed = self.n_resources, self.seed
        kind = _draw(stream(seed, "resource.kind"), np.array([k.share for k in vocab.KINDS]), n)
        namespace = _draw(stream(seed, "resource.namespace"),
                          zipf(len(vocab.NAMESPACES), vocab.NAMESPACE_ZIPF_S), n)
        namespaced = np.array([k.namespaced for k in vocab.KINDS])
        namespace = np.where(namespaced[kind], namespace, -1)
        cluster = _draw(stream(seed, "resource.cluster"),
                        zipf(len(vocab.CLUSTERS), vocab.CLUSTER_ZIPF_S), n)
        app = _draw(stream(seed, "resource.app"), zipf(len(vocab.APPS), 0.6), n)
        idx = np.arange(n, dtype=np.uint64)
        # unique tokens: a bijection of the index on 32 bits, in base 36 (7 digits)
        tok = ((idx ^ np.uint64(seed_key(seed, "name") & 0xFFFFFFFF)) * np.uint64(0x9E3779B1)) \
            & np.uint64(0xFFFFFFFF)
        tok ^= tok >> np.uint64(16)
        tok = (tok * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
        tokens = ascii_strings(base36_ascii(tok, 7))
        rng = stream(seed, "resource.names")
        pod_suffix = ascii_strings(base36_ascii(rng.integers(0, 36**5, n, dtype=np.int64), 5))
        hi = mix64(idx, seed_key(seed, "resource_uid"))
        lo = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        uid = ascii_strings(uuid_ascii(hi, lo))
        created_us = self.timeline.start_us - (
            stream(seed, "resource.created").random(n) * RESOURCE_MAX_AGE_DAYS * 86_400 * US
        ).astype(np.int64)
        names, fragments, references = [], [], []
        for r in range(n):
            k = vocab.KINDS[kind[r]]
            a = vocab.APPS[app[r]]
            cname, _ = vocab.CLUSTERS[cluster[r]]
            if k.name == "Node":
                t = int(tok[r])
                region = vocab.NODE_REGIONS[cluster[r] % len(vocab.NODE_REGIONS)]
                name = f"ip-10-{(t >> 16) & 255}-{(t >> 8) & 255}-{t & 255}-{tokens[r][:3]}" \
                       f".{region}.compute.internal"
                frag = (f'"node": "{name}", "cluster": "{cname}", "instance": "{name}:9100", '
                        f'"job": "node-exporter"}}')
                ref = f"Node {name}"
            else:
                ns = vocab.NAMESPACES[namespace[r]]
                name = f"{a}-{tokens[r]}-{pod_suffix[r]}" if k.name == "Pod" else f"{a}-{tokens[r]}"
                frag = (f'"namespace": "{ns}", "{k.label}": "{name}", "cluster": "{cname}", '
                        f'"container": "{a}", "team": "{ns}-team", '
                        f'"prometheus": "monitoring/k8s"}}')
                ref = f"{k.name} {ns}/{name}"
            names.append(name)
            fragments.append(frag.encode())
            references.append(ref.encode())
        frag_arr = np.empty(n, dtype=object)
        frag_arr[:] = fragments
        ref_arr = np.empty(n, dtype=object)
        ref_arr[:] = references
        return Resources(kind, namespace, cluster, app, names, uid, created_us, frag_arr, ref_arr)

    def _alerts_by_class(self) -> list[np.ndarray]:
        w = zipf(len(vocab.ALERTS), vocab.ALERT_ZIPF_S)
        out = []
        for cls in vocab.ALERT_CLASSES:
            mask = np.array([c == cls for _, c, _ in vocab.ALERTS])
            wc = np.where(mask, w, 0.0)
            out.append(np.cumsum(wc) / wc.sum())
        return out

    # -- traces ------------------------------------------------------------------------------
    def chunk_bounds(self, k: int) -> tuple[int, int]:
        lo = k * CHUNK_ROWS
        return lo, min(lo + CHUNK_ROWS, self.n_traces)

    def chunk_time_bounds(self, k: int) -> tuple[int, int]:
        """Inclusive bounds of the action_timestamps in chunk k (times are monotone in id)."""
        lo, hi = self.chunk_bounds(k)
        q = self.timeline.quantile_us(np.array([lo, hi], dtype=np.float64) / self.n_traces)
        return int(q[0]), int(q[1])

    def month_split(self, parts: int) -> list[tuple[int, int]]:
        """Up to ``parts`` time ranges [lo, hi) of whole months with about equal row counts.

        Lets parallel loaders each own whole partitions, so every partition is still written
        by one connection in id order and the physical layout stays deterministic.
        """
        tl = self.timeline
        edges = []
        for month in partitions.month_starts(tl.start.date(), tl.end.date())[1:]:
            moment = datetime(month.year, month.month, 1, tzinfo=UTC)
            if tl.start < moment < tl.end:
                hours = int((moment - tl.start).total_seconds() // 3600)
                edges.append((float(tl.cum[hours - 1]), to_pg_us(moment)))
        chosen: set[int] = set()
        for j in range(1, parts):
            if not edges:
                break
            best = min(edges, key=lambda e: abs(e[0] - j / parts))
            chosen.add(best[1])
        cuts = [tl.start_us, *sorted(chosen), tl.end_us]
        return list(pairwise(cuts))

    def chunk(self, k: int) -> TraceChunk:
        lo, hi = self.chunk_bounds(k)
        n = hi - lo
        seed = self.seed

        def rng(name: str) -> np.random.Generator:
            return stream(seed, name, k)

        tl = self.timeline
        ids = np.arange(lo + 1, hi + 1, dtype=np.int64)
        ts = tl.trace_times(lo, n, self.n_traces, rng("trace.time"))

        history = np.searchsorted(self.activity_cum, rng("trace.history").random(n), side="right")
        history = np.minimum(history, self.n_resources - 1) + 1
        res = self.history_resource[history - 1]
        kind = self.resources.kind[res]
        cls = self.kind_class[kind]

        u = rng("trace.alert").random(n)
        alert = np.empty(n, dtype=np.int64)
        for c, cum in enumerate(self._alert_cum):
            m = cls == c
            alert[m] = np.searchsorted(cum, u[m], side="right")
        alert = np.minimum(alert, len(vocab.ALERTS) - 1)

        r_act = rng("trace.action")
        u = r_act.random(n)
        pref = np.searchsorted(np.cumsum(vocab.ACTION_PREFERENCE), u, side="right")
        other = r_act.integers(0, len(vocab.ACTIONS), n)
        slot = np.minimum(pref, 2)
        action = np.where(pref < 3, self.content.preferred[alert, slot], other)

        severity = _draw(rng("trace.severity"), self.severity_probs, n)

        r_st = rng("trace.status")
        recent = ts >= tl.end_us - vocab.RECENT_HOURS * 3600 * US
        p_pend = np.where(recent, vocab.UNFINISHED_RECENT["pending"], vocab.UNFINISHED_OLD["pending"])
        p_exec = np.where(recent, vocab.UNFINISHED_RECENT["executing"],
                          vocab.UNFINISHED_OLD["executing"])
        f = self.action_failure[action]
        u = r_st.random(n)
        status = np.full(n, STATUS["completed"], dtype=np.int64)
        edges = np.cumsum([p_pend, p_exec, f * (1 - p_pend - p_exec),
                           vocab.ROLLBACK_RATIO * f * (1 - p_pend - p_exec)], axis=0)
        status[u < edges[3]] = STATUS["rolled-back"]
        status[u < edges[2]] = STATUS["failed"]
        status[u < edges[1]] = STATUS["executing"]
        status[u < edges[0]] = STATUS["pending"]

        r_t = rng("trace.lags")
        firing = ts - _lognormal_us(r_t, 90.0, 1.0, n)
        created = ts + _lognormal_us(r_t, 0.3, 0.6, n)
        start = ts + _lognormal_us(r_t, 1.5, 0.7, n)
        dur_us = _lognormal_us(rng("trace.duration"), self.action_median[action],
                               vocab.DURATION_SIGMA, n)
        dur_us = np.clip(dur_us, 1000, 2**31 - 1)
        duration_ms = dur_us // 1000
        end = start + duration_ms * 1000
        has_start = status != STATUS["pending"]
        finished = np.isin(status, FINISHED)

        r_e = rng("trace.effectiveness")
        assessed_at = end + _lognormal_us(r_e, 900.0, 0.5, n)
        assessed = finished & (r_e.random(n) < vocab.ASSESSED_SHARE) & (assessed_at < tl.end_us)
        score = np.zeros(n, dtype=np.int64)
        for name, (a_, b_) in vocab.SCORE_BETA.items():
            m = status == STATUS[name]
            score[m] = np.rint(r_e.beta(a_, b_, n)[m] * 1000).astype(np.int64)
        method = _draw(r_e, self.method_probs, n)
        due = end + 600 * US

        r_m = rng("trace.model")
        model = _draw(r_m, self.model_probs, n)
        tier = np.where(r_m.random(n) < vocab.ROUTING_TIER_NULL_SHARE, self.content.tier_null,
                        self.content.tier_of_model[model])
        conf = np.rint(r_m.beta(*vocab.CONFIDENCE_BETA, n) * 1000).astype(np.int64)
        conf = np.maximum(conf, int(vocab.CONFIDENCE_MIN * 1000))

        r_n = rng("trace.nulls")
        cl = self.resources.cluster[res]
        cluster = np.where(r_n.random(n) < vocab.CLUSTER_NULL_SHARE, len(vocab.CLUSTERS), cl)
        environment = np.where(r_n.random(n) < vocab.ENVIRONMENT_NULL_SHARE,
                               len(vocab.ENVIRONMENTS), self.cluster_env[cl])

        fp = mix64(alert.astype(np.uint64) * np.uint64(self.n_resources) + res.astype(np.uint64),
                   self.keys["fingerprint"])
        hour = (ts // (3600 * US)).astype(np.uint64)
        corr = mix64(fp ^ mix64(hour, self.keys["correlation"]), self.keys["correlation"])
        has_corr = r_n.random(n) < vocab.CORRELATION_SHARE

        aid_hi = mix64(ids.astype(np.uint64), self.keys["action_id"])
        aid_lo = rng("trace.action_id").integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        r_v = rng("trace.variant")
        variants = {name: r_v.integers(0, count, n) for name, count in VARIANTS.items()}

        updated = np.maximum(created, np.where(finished, end, created))
        updated = np.maximum(updated, np.where(assessed, assessed_at, updated))

        topic = embeddings.topic_index(alert, action)
        emb = self._embeddings(topic, res, kind, action, severity, cluster, variants,
                               rng("trace.embedding"))

        return TraceChunk(
            index=k, id=ids, history=history, resource=res, ts=ts, firing=firing,
            created=created, updated=updated, start=start, has_start=has_start, end=end,
            has_end=finished, duration_ms=duration_ms, alert=alert, severity=severity,
            action=action, status=status, model=model, tier=tier, confidence=conf, score=score,
            assessed=assessed, assessed_at=assessed_at, method=method, due=due, has_due=finished,
            cluster=cluster, environment=environment, fingerprint=fp, correlation=corr,
            has_correlation=has_corr, action_id_hi=aid_hi, action_id_lo=aid_lo, variants=variants,
            embedding=emb,
        )

    def _embeddings(self, topic: np.ndarray, res: np.ndarray, kind: np.ndarray,
                    action: np.ndarray, severity: np.ndarray, cluster: np.ndarray,
                    variants: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """The rows' vectors in the world's embedding profile (see ``embeddings``)."""
        if self.embedding_profile == "hard":
            return embeddings.perturb(self.centroids[topic], rng)
        b = embeddings.basis(self.seed)
        r = self.resources
        ns = r.namespace[res]
        return embeddings.compose(
            b, topic=topic, kind=kind, namespace=ns, app=np.where(ns < 0, -1, r.app[res]),
            own=embeddings.own_picks(b, res), cluster=cluster,
            severity=self.severity_global[severity], state=variants["state"],
            params=variants["params"], evidence=variants["reasoning"], rng=rng)
