"""Named random streams derived from one root seed.

Every stream is keyed by (root seed, stream name[, chunk index]) through numpy's SeedSequence,
so adding a stream never shifts another one, and a chunk's values do not depend on how many
chunks came before it (or on which process generates it).
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_SEED = 2**63 - 1


def _name_key(name: str) -> list[int]:
    digest = hashlib.blake2b(name.encode(), digest_size=16).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def stream(seed: int, name: str, chunk: int | None = None) -> np.random.Generator:
    """An independent PCG64 generator for ``name`` (and ``chunk``) under ``seed``."""
    entropy = [seed & 0xFFFFFFFF, seed >> 32, *_name_key(name)]
    if chunk is not None:
        entropy += [chunk & 0xFFFFFFFF, chunk >> 32, 0x9E3779B9]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def mix64(values: np.ndarray, key: int) -> np.ndarray:
    """A bijection of uint64 (splitmix64's finalizer after xoring ``key``).

    Used where values must be unique *and* look random (uuids, names): distinct inputs give
    distinct outputs, so no collision check is ever needed.
    """
    x = values.astype(np.uint64) ^ np.uint64(key & 0xFFFFFFFFFFFFFFFF)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def seed_key(seed: int, name: str) -> int:
    """A 64-bit key for ``mix64`` derived from the seed and a purpose name."""
    digest = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
