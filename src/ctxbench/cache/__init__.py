"""The Context API's read path: L1 Redis + L2 in-process map + single-flight over the query core.

``CachedExecutor`` (readpath.py) serves a request the way the service did and says which tier
answered and how many database queries it cost; ``RedisServer`` (server.py) is the Redis
ctxbench starts itself; keys.py and codec.py reproduce the service's keys and cached values.
"""

from ctxbench.cache.l1 import RedisL1
from ctxbench.cache.l2 import L2Map
from ctxbench.cache.readpath import (
    CACHE_VARIANTS,
    HIT_TIERS,
    TIERS,
    CachedExecutor,
    CacheVariant,
    Outcome,
    cache_variant,
    single_connection,
)
from ctxbench.cache.server import RedisServer, resolve_url

__all__ = ["CACHE_VARIANTS", "HIT_TIERS", "TIERS", "CacheVariant", "CachedExecutor", "L2Map", "Outcome",
           "RedisL1", "RedisServer", "cache_variant", "resolve_url", "single_connection"]
