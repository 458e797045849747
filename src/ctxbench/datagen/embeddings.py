"""384-d trace embeddings clustered by incident topic, like sentence embeddings of incidents.

A topic is (alert name, action type): 60 × 20 = 1200 topics, of which each alert uses a few.
Two geometry *profiles* exist (a dataset option, part of the dataset's identity):

``realistic`` (default) — calibrated against the real all-MiniLM-L6-v2 embeddings of the
generated incident descriptions (``datagen.describe``; reference values and tolerances in
``datagen/reference/minilm_geometry.json``). A row is the normalized sum of random unit
directions, one per thing its description says, each scaled by a weight (``REALISTIC``):

    common (every incident) + alert class + alert + action            (the topic part)
    + kind + namespace + app + own identity (3 picks from a bank)     (the resource part:
                                                                       shared by all its traces)
    + cluster + severity + state variant + parameter variant + evidence variant
    + noise in a ``noise_dims``-dimensional subspace of its topic     (per row)

so that, as in real sentence embeddings, unrelated incidents are far from orthogonal (the
common direction), traces of one resource and alert are near-duplicates, and neighbourhoods
are low-dimensional.

``hard`` — the geometry of generator version 1: a topic centroid

    centroid = normalize(0.35·common + 0.50·class(alert) + 0.65·alert + 0.50·action)

plus isotropic noise of total norm ≈ σ = 0.75 in all 384 dimensions (cosine to the own
centroid ≈ 0.80). Each topic is a ball of nearly equidistant points: the 10th and 11th
neighbours are within 1 % for almost every row and the local intrinsic dimension is ~70,
which makes HNSW recall much lower than on real embeddings. Kept to stress the index.

Query samplers use the same functions: ``sample_near`` draws vectors distributed like the
rows of a topic (in the realistic profile: on a new resource), ``random_unit`` draws vectors
far from every topic. Every value is a function of the seed: element-wise float32 operations
in a fixed order and norms summed in float64, so the bytes do not hinge on BLAS or SIMD.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import overload

import numpy as np

from ctxbench.datagen import vocab
from ctxbench.datagen.rng import mix64, seed_key, stream
from ctxbench.errors import UsageError

DIM = 384
PROFILES = ("realistic", "hard")
DEFAULT_PROFILE = "realistic"
NOISE_SIGMA = 0.75  # hard profile
WEIGHTS = {"common": 0.35, "class": 0.50, "alert": 0.65, "action": 0.50}
N_TOPICS = len(vocab.ALERTS) * len(vocab.ACTIONS)


@overload
def topic_index(alert_idx: int, action_idx: int) -> int: ...
@overload
def topic_index(alert_idx: np.ndarray, action_idx: np.ndarray | int) -> np.ndarray: ...
@overload
def topic_index(alert_idx: np.ndarray | int, action_idx: np.ndarray) -> np.ndarray: ...
def topic_index(alert_idx: np.ndarray | int, action_idx: np.ndarray | int) -> np.ndarray | int:
    """Topic number of (alert, action) indexes into ``vocab.ALERTS`` / ``vocab.ACTIONS``."""
    return alert_idx * len(vocab.ACTIONS) + action_idx


def topic_name(topic: int) -> str:
    alert, action = divmod(int(topic), len(vocab.ACTIONS))
    return f"{vocab.ALERTS[alert][0]}/{vocab.ACTIONS[action].name}"


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@lru_cache(maxsize=8)
def _centroids(seed: int) -> np.ndarray:
    common = _unit_rows(stream(seed, "embedding.common"), 1)[0]
    classes = _unit_rows(stream(seed, "embedding.class"), len(vocab.ALERT_CLASSES))
    alerts = _unit_rows(stream(seed, "embedding.alert"), len(vocab.ALERTS))
    actions = _unit_rows(stream(seed, "embedding.action"), len(vocab.ACTIONS))
    class_of = np.array([vocab.ALERT_CLASSES.index(c) for _, c, _ in vocab.ALERTS])
    a_idx, t_idx = np.divmod(np.arange(N_TOPICS), len(vocab.ACTIONS))
    c = (WEIGHTS["common"] * common + WEIGHTS["class"] * classes[class_of[a_idx]]
         + WEIGHTS["alert"] * alerts[a_idx] + WEIGHTS["action"] * actions[t_idx])
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    out = c.astype(np.float32)
    out.flags.writeable = False
    return out


def topic_centroids(seed: int, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """Unit centroids of all topics, shape (N_TOPICS, 384), float32; same seed → same array."""
    if check_profile(profile) == "realistic":
        return _realistic_centroids(int(seed))
    return _centroids(int(seed))


@lru_cache(maxsize=4)
def _realistic_centroids(seed: int) -> np.ndarray:
    t = basis(seed).topic.astype(np.float64)
    out = (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)
    out.flags.writeable = False
    return out


def perturb(centroid_rows: np.ndarray, rng: np.random.Generator,
            sigma: float = NOISE_SIGMA) -> np.ndarray:
    """Unit vectors around the given centroid rows (float32), the way trace rows are drawn.

    The noise is uniform per coordinate with the variance of N(0, σ²/d): in 384 dimensions
    the cosine structure is the same as with Gaussian noise (central limit), at a third of
    the cost. Element-wise float32 operations are exactly rounded and the norm is summed in
    float64, so the stored bytes do not hinge on SIMD summation order.
    """
    n = centroid_rows.shape[0]
    half_width = np.float32(sigma * np.sqrt(3.0 / DIM))
    v = rng.random((n, DIM), dtype=np.float32)
    v -= np.float32(0.5)
    v *= np.float32(2.0) * half_width
    v += centroid_rows
    inv = (1.0 / np.sqrt(np.square(v, dtype=np.float64).sum(axis=1))).astype(np.float32)
    v *= inv[:, None]
    return v


def sample_near(seed: int, topics: np.ndarray | list[int], rng: np.random.Generator,
                sigma: float = NOISE_SIGMA, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """Query vectors near the given topics (one per entry), distributed like their rows."""
    if check_profile(profile) == "realistic":
        return sample_near_realistic(seed, np.asarray(topics), rng)
    return perturb(topic_centroids(seed, "hard")[np.asarray(topics)], rng, sigma)


def random_unit(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random unit vectors: far from every topic (cosine ≈ 0 ± 0.05)."""
    return _unit_rows(rng, n).astype(np.float32)


# -- the realistic profile ---------------------------------------------------------------------
@dataclass(frozen=True)
class Mix:
    """Weights (amplitudes) of the components of a realistic row; the share of a component in
    the cosine of two rows that share it is weight² / Σ weight²."""

    common: float
    klass: float
    alert: float
    action: float
    kind: float
    namespace: float
    app: float
    own: float
    cluster: float
    severity: float
    state: float
    params: float
    evidence: float
    noise: float
    noise_dims: int
    minor_dims: int  # the resource, detail and noise directions span a subspace this wide
    spread: float = 0.0  # lengths of the minor directions vary: LogNormal(0, spread) × weight


REALISTIC = Mix(common=0.80, klass=0.40, alert=0.36, action=0.17, kind=0.10, namespace=0.16,
                app=0.16, own=0.18, cluster=0.06, severity=0.05, state=0.065, params=0.05,
                evidence=0.04, noise=0.06, noise_dims=3, minor_dims=170, spread=0.4)
OWN_BANK = 4096
OWN_PICKS = 2
SEVERITY_NAMES = tuple(sorted({s for mix in vocab.SEVERITY_MIXES.values() for s in mix}))
N_NS, N_APPS, N_CLUSTERS = len(vocab.NAMESPACES) + 1, len(vocab.APPS) + 1, len(vocab.CLUSTERS) + 1


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UsageError(f"embedding profile {profile!r} is not allowed; allowed: "
                         f"{', '.join(PROFILES)}")
    return profile


@dataclass(frozen=True)
class Basis:
    """The realistic profile's weighted component tables for one seed (float32). Components
    that always come together are pre-added so a row costs few gathers:

    - ``topic_params[topic * PARAM_VARIANTS + p]``: common + class + alert + action + params;
    - ``kind_state[kind * STATE_VARIANTS + s]``: kind + state variant;
    - ``ns_app[ns * N_APPS + app]``: namespace + app (last index of each: none);
    - ``own[i]``: the bank of resource identities (each resource adds ``OWN_PICKS`` rows);
    - ``context[(severity * EVIDENCE + e) * N_CLUSTERS + cluster]``: severity + evidence + cluster;
    - ``noise[j, topic]``: the j-th direction of each topic's noise subspace.
    """

    topic: np.ndarray
    topic_params: np.ndarray
    kind_state: np.ndarray
    ns_app: np.ndarray
    own: np.ndarray
    context: np.ndarray
    noise: np.ndarray
    own_key: int


def _minor_rows(seed: int, name: str, n: int, dims: int, spread: float = 0.0) -> np.ndarray:
    """Rows (float64) in the seed's ``dims``-dimensional subspace of minor directions, of unit
    length times LogNormal(0, ``spread``) (so that distances are not quantized in levels)."""
    rng = stream(seed, f"embedding.{name}")
    if dims >= DIM:
        v = _unit_rows(rng, n)
    else:
        span = _unit_rows(stream(seed, "embedding.minor_span"), dims)
        v = np.einsum("nk,kd->nd", rng.standard_normal((n, dims)), span)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
    if spread > 0:
        v *= np.exp(stream(seed, f"embedding.{name}.length").normal(0.0, spread, n))[:, None]
    return v


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=np.float32)
    out.flags.writeable = False
    return out


def basis(seed: int, mix: Mix | None = None) -> Basis:
    """The realistic profile's tables for ``seed`` (built once per seed and mix)."""
    return _basis(int(seed), mix or REALISTIC)


@lru_cache(maxsize=4)
def _basis(seed: int, mix: Mix) -> Basis:
    from ctxbench.datagen.content import PARAM_VARIANTS, REASONING_VARIANTS, STATE_VARIANTS

    d = mix.minor_dims
    common = _unit_rows(stream(seed, "embedding.common"), 1)[0]
    classes = _unit_rows(stream(seed, "embedding.class"), len(vocab.ALERT_CLASSES))
    alerts = _unit_rows(stream(seed, "embedding.alert"), len(vocab.ALERTS))
    actions = _unit_rows(stream(seed, "embedding.action"), len(vocab.ACTIONS))
    class_of = np.array([vocab.ALERT_CLASSES.index(c) for _, c, _ in vocab.ALERTS])
    a_idx, t_idx = np.divmod(np.arange(N_TOPICS), len(vocab.ACTIONS))
    topic = (mix.common * common + mix.klass * classes[class_of[a_idx]]
             + mix.alert * alerts[a_idx] + mix.action * actions[t_idx])
    sp = mix.spread
    params = mix.params * _minor_rows(seed, "params", len(vocab.ACTIONS) * PARAM_VARIANTS, d, sp)
    params = params.reshape(len(vocab.ACTIONS), PARAM_VARIANTS, DIM)
    topic_params = topic[:, None, :] + params[t_idx]
    kind = mix.kind * _minor_rows(seed, "kind", len(vocab.KINDS), d, sp)
    state = mix.state * _minor_rows(seed, "state", len(vocab.KINDS) * STATE_VARIANTS, d, sp)
    kind_state = np.repeat(kind, STATE_VARIANTS, axis=0) + state
    ns = np.vstack([mix.namespace * _minor_rows(seed, "namespace", N_NS - 1, d, sp),
                    np.zeros(DIM)])
    app = np.vstack([mix.app * _minor_rows(seed, "app", N_APPS - 1, d, sp), np.zeros(DIM)])
    ns_app = ns[:, None, :] + app[None, :, :]
    sev = mix.severity * _minor_rows(seed, "severity", len(SEVERITY_NAMES), d, sp)
    evidence = mix.evidence * _minor_rows(seed, "evidence", REASONING_VARIANTS, d, sp)
    cluster = mix.cluster * _minor_rows(seed, "cluster", N_CLUSTERS, d, sp)
    context = sev[:, None, None, :] + evidence[None, :, None, :] + cluster[None, None, :, :]
    noise = _minor_rows(seed, "noise", mix.noise_dims * N_TOPICS, d)
    noise *= mix.noise / np.sqrt(mix.noise_dims)
    return Basis(
        topic=_frozen(topic),
        topic_params=_frozen(topic_params.reshape(-1, DIM)),
        kind_state=_frozen(kind_state),
        ns_app=_frozen(ns_app.reshape(-1, DIM)),
        own=_frozen(mix.own / np.sqrt(OWN_PICKS) * _minor_rows(seed, "own", OWN_BANK, d, sp)),
        context=_frozen(context.reshape(-1, DIM)),
        noise=_frozen(noise.reshape(mix.noise_dims, N_TOPICS, DIM)),
        own_key=seed_key(seed, "embedding.own"))


def own_picks(b: Basis, resource: np.ndarray) -> np.ndarray:
    """(n, OWN_PICKS) bank rows that make up each resource's own identity (a hash of its index)."""
    r = np.asarray(resource, dtype=np.uint64)[:, None] * np.uint64(OWN_PICKS) \
        + np.arange(OWN_PICKS, dtype=np.uint64)[None, :]
    return (mix64(r, b.own_key) % np.uint64(OWN_BANK)).astype(np.int64)


def compose(b: Basis, *, topic: np.ndarray, kind: np.ndarray, namespace: np.ndarray,
            app: np.ndarray, own: np.ndarray, cluster: np.ndarray, severity: np.ndarray,
            state: np.ndarray, params: np.ndarray, evidence: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Unit float32 rows of the realistic profile from their parts: indexes of topic, kind,
    namespace and app (-1 = none), own-bank picks (n, OWN_PICKS), cluster (len(CLUSTERS) =
    unknown), severity (into SEVERITY_NAMES), state/params/evidence variants. Element-wise
    float32 adds in a fixed order, the norm summed in float64: the same bytes everywhere."""
    from ctxbench.datagen.content import PARAM_VARIANTS, REASONING_VARIANTS, STATE_VARIANTS

    topic = np.asarray(topic, dtype=np.int64)
    v = b.topic_params[topic * PARAM_VARIANTS + params]
    v += b.kind_state[kind * STATE_VARIANTS + state]
    v += b.ns_app[np.where(namespace < 0, N_NS - 1, namespace) * N_APPS
                  + np.where(app < 0, N_APPS - 1, app)]
    for j in range(own.shape[1]):
        v += b.own[own[:, j]]
    v += b.context[(severity * REASONING_VARIANTS + evidence) * N_CLUSTERS + cluster]
    z = rng.standard_normal((len(v), b.noise.shape[0]), dtype=np.float32)
    for j in range(b.noise.shape[0]):
        v += z[:, j:j + 1] * b.noise[j][topic]
    inv = (1.0 / np.sqrt(np.square(v, dtype=np.float64).sum(axis=1))).astype(np.float32)
    v *= inv[:, None]
    return v


def sample_near_realistic(seed: int, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of the given topics as new incidents on new resources (random attributes)."""
    from ctxbench.datagen.content import PARAM_VARIANTS, REASONING_VARIANTS, STATE_VARIANTS

    b = basis(int(seed))
    topics = np.asarray(topics, dtype=np.int64)
    n = len(topics)
    alert = topics // len(vocab.ACTIONS)
    cls = np.array([vocab.ALERT_CLASSES.index(c) for _, c, _ in vocab.ALERTS])[alert]
    kind = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for c in range(len(vocab.ALERT_CLASSES)):
        ks = np.array([i for i, k in enumerate(vocab.KINDS)
                       if vocab.ALERT_CLASSES.index(k.alert_class) == c])
        w = np.cumsum([vocab.KINDS[i].share for i in ks])
        m = cls == c
        kind[m] = ks[np.minimum(np.searchsorted(w / w[-1], u[m], side="right"), len(ks) - 1)]
    namespaced = np.array([k.namespaced for k in vocab.KINDS])[kind]
    namespace = np.where(namespaced, rng.integers(0, len(vocab.NAMESPACES), n), -1)
    app = np.where(namespaced, rng.integers(0, len(vocab.APPS), n), -1)
    return compose(b, topic=topics, kind=kind, namespace=namespace, app=app,
                   own=rng.integers(0, OWN_BANK, (n, OWN_PICKS)),
                   cluster=rng.integers(0, len(vocab.CLUSTERS), n),
                   severity=rng.integers(0, len(SEVERITY_NAMES), n),
                   state=rng.integers(0, STATE_VARIANTS, n),
                   params=rng.integers(0, PARAM_VARIANTS, n),
                   evidence=rng.integers(0, REASONING_VARIANTS, n), rng=rng)
