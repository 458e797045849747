"""L1: Redis, used as the service used it (go-redis: pool 10, TTL on SET, errors fall through).

- connected once with a 2 s PING; if Redis does not answer then, the cache is L2-only for the
  life of the executor (``connect`` returns None), as the service's cache manager did;
- a GET that fails (error or timeout) counts an error and the read falls through to L2;
- a SET that fails is logged and ignored: L2 is written anyway.
redis-py stands in for go-redis; retries are off (go-redis retried 3 times with backoff; with
them a dead Redis would cost more per request, not less). redis-py has no per-command deadline:
the service's 2 s (synchronous) and 5 s (asynchronous) write timeouts are bounded here by the
client's 3 s socket timeout, which only matters when Redis hangs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ctxbench.cache.owner import redis_url_masked

POOL_SIZE = 10
PING_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 3.0  # go-redis default read/write timeout


@dataclass
class L1Stats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    sets: int = 0
    set_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class RedisL1:
    def __init__(self, client: redis.Redis, ttl_s: float, url: str) -> None:
        self.client, self.ttl_s, self.url = client, ttl_s, url
        self.stats = L1Stats()

    @classmethod
    def connect(cls, url: str, ttl_s: float, *, pool_size: int = POOL_SIZE) -> RedisL1 | None:
        """The L1 tier, or None when Redis does not answer a PING within 2 s (L2 only)."""
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=pool_size, timeout=SOCKET_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=PING_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0))
        client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        try:
            client.ping()
        except (redis.RedisError, OSError):
            client.close()
            return None
        return cls(client, ttl_s, url)

    def get(self, key: str) -> tuple[bytes | None, str | None]:
        """(value or None, error text or None)."""
        try:
            value = self.client.get(key)
        except (redis.RedisError, OSError) as exc:
            self.stats.add("errors")
            return None, f"{type(exc).__name__}: {exc}"
        self.stats.add("hits" if value is not None else "misses")
        return value, None

    def set(self, key: str, data: bytes) -> str | None:
        try:
            self.client.set(key, data, px=int(self.ttl_s * 1000))
        except (redis.RedisError, OSError) as exc:
            self.stats.add("set_errors")
            return f"{type(exc).__name__}: {exc}"
        self.stats.add("sets")
        return None

    def close(self) -> None:
        self.client.close()

    def describe(self) -> str:
        return redis_url_masked(self.url)
