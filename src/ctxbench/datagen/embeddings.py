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


REALISTIC = Mix(common=0.78, klass=0.25, alert=0.38, action=0.17, kind=0.10, namespace=0.12,
                app=0.12, own=0.20, cluster=0.06, severity=0.07, state=0.08, params=0.06,
                evidence=0.05, noise=0.10, noise_dims=4, minor_dims=160)
OWN_BANK = 4096
OWN_PICKS = 3
SEVERITY_NAMES = tuple(sorted({s for mix in vocab.SEVERITY_MIXES.values() for s in mix}))


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UsageError(f"embedding profile {profile!r} is not allowed; allowed: "
                         f"{', '.join(PROFILES)}")
    return profile


@dataclass(frozen=True)
class Basis:
    """The weighted component tables of the realistic profile for one seed (float32)."""

    topic: np.ndarray      # (N_TOPICS, DIM): common + class + alert + action
    kind: np.ndarray
    namespace: np.ndarray  # last row: no namespace (zero)
    app: np.ndarray        # last row: no app (Nodes; zero)
    own: np.ndarray        # (OWN_BANK, DIM), weight / sqrt(OWN_PICKS) each
    cluster: np.ndarray    # last row: unknown cluster
    severity: np.ndarray   # by SEVERITY_NAMES
    state: np.ndarray      # (kinds × STATE_VARIANTS, DIM)
    params: np.ndarray     # (actions × PARAM_VARIANTS, DIM)
    evidence: np.ndarray   # (REASONING_VARIANTS, DIM)
    noise: np.ndarray      # (N_TOPICS, noise_dims, DIM): a noise subspace per topic
    own_key: int


def _minor_rows(seed: int, name: str, n: int, dims: int) -> np.ndarray:
    """Unit rows drawn in the seed's ``dims``-dimensional subspace of minor directions."""
    span = _unit_rows(stream(seed, "embedding.minor_span"), dims)
    z = stream(seed, f"embedding.{name}").standard_normal((n, dims))
    v = np.einsum("nk,kd->nd", z, span)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _weighted(seed: int, name: str, n: int, w: float, zero_row: bool = False,
              dims: int = DIM) -> np.ndarray:
    rows = (_minor_rows(seed, name, n, dims) if dims < DIM
            else _unit_rows(stream(seed, f"embedding.{name}"), n)) * w
    if zero_row:
        rows = np.vstack([rows, np.zeros((1, DIM))])
    out = rows.astype(np.float32)
    out.flags.writeable = False
    return out


def basis(seed: int, mix: Mix | None = None) -> Basis:
    """The realistic profile's tables for ``seed`` (built once per seed and mix)."""
    return _basis(int(seed), mix or REALISTIC)


@lru_cache(maxsize=4)
def _basis(seed: int, mix: Mix) -> Basis:
    from ctxbench.datagen.content import PARAM_VARIANTS, REASONING_VARIANTS, STATE_VARIANTS

    common = _unit_rows(stream(seed, "embedding.common"), 1)[0]
    classes = _unit_rows(stream(seed, "embedding.class"), len(vocab.ALERT_CLASSES))
    alerts = _unit_rows(stream(seed, "embedding.alert"), len(vocab.ALERTS))
    actions = _unit_rows(stream(seed, "embedding.action"), len(vocab.ACTIONS))
    class_of = np.array([vocab.ALERT_CLASSES.index(c) for _, c, _ in vocab.ALERTS])
    a_idx, t_idx = np.divmod(np.arange(N_TOPICS), len(vocab.ACTIONS))
    topic = (mix.common * common + mix.klass * classes[class_of[a_idx]]
             + mix.alert * alerts[a_idx] + mix.action * actions[t_idx]).astype(np.float32)
    topic.flags.writeable = False
    d = mix.minor_dims
    noise = _minor_rows(seed, "noise", N_TOPICS * mix.noise_dims, mix.minor_dims)
    noise = (noise * (mix.noise / np.sqrt(mix.noise_dims))).astype(np.float32)
    noise = noise.reshape(N_TOPICS, mix.noise_dims, DIM)
    noise.flags.writeable = False
    return Basis(
        topic=topic,
        kind=_weighted(seed, "kind", len(vocab.KINDS), mix.kind, dims=d),
        namespace=_weighted(seed, "namespace", len(vocab.NAMESPACES), mix.namespace, True, d),
        app=_weighted(seed, "app", len(vocab.APPS), mix.app, True, d),
        own=_weighted(seed, "own", OWN_BANK, mix.own / np.sqrt(OWN_PICKS), dims=d),
        cluster=_weighted(seed, "cluster", len(vocab.CLUSTERS) + 1, mix.cluster, dims=d),
        severity=_weighted(seed, "severity", len(SEVERITY_NAMES), mix.severity, dims=d),
        state=_weighted(seed, "state", len(vocab.KINDS) * STATE_VARIANTS, mix.state, dims=d),
        params=_weighted(seed, "params", len(vocab.ACTIONS) * PARAM_VARIANTS, mix.params, dims=d),
        evidence=_weighted(seed, "evidence", REASONING_VARIANTS, mix.evidence, dims=d),
        noise=noise, own_key=seed_key(seed, "embedding.own"))


def own_picks(b: Basis, resource: np.ndarray) -> np.ndarray:
    """(n, OWN_PICKS) bank rows that make up each resource's own identity (a hash of its index)."""
    r = np.asarray(resource, dtype=np.uint64)[:, None] * np.uint64(OWN_PICKS) \
        + np.arange(OWN_PICKS, dtype=np.uint64)[None, :]
    return (mix64(r, b.own_key) % np.uint64(OWN_BANK)).astype(np.int64)


def compose(b: Basis, *, topic: np.ndarray, kind: np.ndarray, namespace: np.ndarray,
            app: np.ndarray, own: np.ndarray, cluster: np.ndarray, severity: np.ndarray,
            state: np.ndarray, params: np.ndarray, evidence: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Unit float32 rows of the realistic profile from their parts (indexes into ``b``'s
    tables; namespace/app = -1 for none). Element-wise float32 adds in a fixed order."""
    v = b.topic[topic].copy()
    v += b.kind[kind]
    v += b.namespace[namespace]  # -1 picks the zero row
    v += b.app[app]
    for j in range(own.shape[1]):
        v += b.own[own[:, j]]
    v += b.cluster[cluster]
    v += b.severity[severity]
    v += b.state[state]
    v += b.params[params]
    v += b.evidence[evidence]
    z = rng.standard_normal((len(v), b.noise.shape[1]), dtype=np.float32)
    for j in range(b.noise.shape[1]):
        v += z[:, j:j + 1] * b.noise[topic, j]
    inv = (1.0 / np.sqrt(np.square(v, dtype=np.float64).sum(axis=1))).astype(np.float32)
    v *= inv[:, None]
    return v


def sample_near_realistic(seed: int, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of the given topics as new incidents on new resources (random attributes)."""
    from ctxbench.datagen.content import PARAM_VARIANTS, REASONING_VARIANTS, STATE_VARIANTS

    b = basis(int(seed))
    topics = np.asarray(topics, dtype=np.int64)
    n = len(topics)
    alert, action = np.divmod(topics, len(vocab.ACTIONS))
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
    own = rng.integers(0, OWN_BANK, (n, OWN_PICKS))
    return compose(b, topic=topics, kind=kind, namespace=namespace, app=app, own=own,
                   cluster=rng.integers(0, len(vocab.CLUSTERS), n),
                   severity=rng.integers(0, len(SEVERITY_NAMES), n),
                   state=kind * STATE_VARIANTS + rng.integers(0, STATE_VARIANTS, n),
                   params=action * PARAM_VARIANTS + rng.integers(0, PARAM_VARIANTS, n),
                   evidence=rng.integers(0, REASONING_VARIANTS, n), rng=rng)
