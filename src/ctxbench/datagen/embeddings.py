"""384-d trace embeddings clustered by incident topic, like sentence embeddings of incidents.

A topic is (alert name, action type): 60 × 20 = 1200 topics, of which each alert uses a few.
Its centroid mixes four random unit directions drawn from the seed:

    centroid = normalize(0.35·common + 0.50·class(alert) + 0.65·alert + 0.50·action)

so topics share structure the way incident texts do. Expected cosines between centroids:
same alert, other action ≈ 0.76; same alert class and action ≈ 0.60; same class or same
action only ≈ 0.36; unrelated ≈ 0.12 (the common direction mimics the anisotropy of real
sentence embeddings, whose unrelated pairs are not orthogonal).

A trace's vector is its topic centroid plus isotropic noise of total norm ≈ σ = 0.75,
normalized, so its cosine to its own centroid is ≈ 1/√(1+σ²) ≈ 0.80.

Query samplers use the same functions: ``sample_near`` draws vectors distributed like the
rows of a topic, ``random_unit`` draws vectors far from every topic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ctxbench.datagen import vocab
from ctxbench.datagen.rng import stream

DIM = 384
NOISE_SIGMA = 0.75
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


def topic_centroids(seed: int) -> np.ndarray:
    """Unit centroids of all topics, shape (N_TOPICS, 384), float32; same seed → same array."""
    return _centroids(int(seed))


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
                sigma: float = NOISE_SIGMA) -> np.ndarray:
    """Query vectors near the given topics (one per entry), distributed like their rows."""
    return perturb(topic_centroids(seed)[np.asarray(topics)], rng, sigma)


def random_unit(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random unit vectors: far from every topic (cosine ≈ 0 ± 0.05)."""
    return _unit_rows(rng, n).astype(np.float32)
