"""The read path for a load run: which Redis, an empty cache at the start, one executor per
Locust process (each process is one service replica: its own L2, a shared Redis)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar

import redis

from ctxbench.cache import owner
from ctxbench.cache.l1 import RedisL1
from ctxbench.cache.readpath import CachedExecutor
from ctxbench.cache.server import resolve_url
from ctxbench.db.faults import pool_probe
from ctxbench.errors import InfraError

log = logging.getLogger("ctxbench.cache")


def reset_for_run(url: str | None = None) -> str:
    """Resolve the Redis (CTXBENCH_REDIS_URL or ctxbench's own), claim and flush its database."""
    url, _ = resolve_url(url)
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    try:
        owner.claim(client, url)
        owner.flush_owned(client, url)
    except (redis.RedisError, OSError) as exc:
        # A run configured through the cache cannot start from an empty Redis: refuse it rather
        # than measure an L2-only cache (the `cache.outage` phase measures that on purpose).
        why = " ".join(str(exc).split())
        raise InfraError(f"Redis {owner.redis_url_masked(url)} does not answer ({type(exc).__name__}: "
                         f"{why}); a load through the cache starts from an empty Redis. Start it, "
                         f"fix {owner.ENV_URL} / --redis-url, or run without the cache "
                         "(scenario key load.cache = false)") from exc
    finally:
        client.close()
    return url


def executor_for_load(pool: Any, variant: str, url: str | None = None) -> CachedExecutor:
    url, _ = resolve_url(url)
    l1 = RedisL1.connect(url, 300.0)
    if l1 is None:
        log.warning("ctxbench: Redis %s does not answer: the cache is L2 only (as the service did)",
                    owner.redis_url_masked(url))
    return CachedExecutor(pool.connection, l1, variant=variant,
                          server_answers=pool_probe(pool))


class ZipfParams:
    """A lane's parameter sets when load goes through the cache: one key population per query,
    the same in every lane and process (sampler stream ``load.cache.keys``, one set per cache
    key), and requests Zipf-distributed over it (P(rank r) ∝ 1/r^s), from the lane's own
    seeded generator. A lane cycling its own private sets (the load default) would make every
    second pass a hit and no two lanes share a key: not how a cache sees its users."""

    _populations: ClassVar[dict[tuple[int, str, int], list[Any]]] = {}

    def __init__(self, sampler: Any, lane_key: str, seed: int, *, keys: int = 500, s: float = 1.1) -> None:
        import numpy as np

        self.sampler, self.keys, self.s = sampler, int(keys), float(s)
        self.rng = np.random.default_rng([int(seed) & (2**63 - 1),
                                          int.from_bytes(hashlib.sha256(lane_key.encode()).digest()[:8],
                                                         "little")])
        self._weights: dict[str, Any] = {}

    def population(self, query_name: str) -> list[Any]:
        from ctxbench.cache.keys import cache_key

        k = (id(self.sampler), query_name, self.keys)
        pop = self._populations.get(k)
        if pop is None:
            seen: set[Any] = set()
            pop = []
            for ps in self.sampler.sample(query_name, self.keys, stream="load.cache.keys"):
                key = cache_key(query_name, ps.params) or ps.id
                if key not in seen:
                    seen.add(key)
                    pop.append(ps)
            self._populations[k] = pop
        return pop

    def next(self, query_name: str) -> Any:
        import numpy as np

        pop = self.population(query_name)
        w = self._weights.get(query_name)
        if w is None:
            w = 1.0 / np.arange(1, len(pop) + 1, dtype=np.float64) ** self.s
            w = self._weights[query_name] = w / w.sum()
        return pop[int(self.rng.choice(len(pop), p=w))]
