"""L2: the service's in-process map (``cache/manager.go``), not a real LRU.

- 1000 entries, TTL 5 min; an expired entry is deleted on read and counts as a miss;
- a write when the map holds >= 1000 entries first scans *all* entries and evicts the one that
  expires soonest (= the oldest write or L1 refill), even when the key written is already
  present (then the map shrinks by one);
- an L1 (Redis) hit is copied into the map with a fresh TTL *without* that check, so the map
  can grow past 1000 entries through L1 hits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CAPACITY = 1000
DEFAULT_TTL_S = 300.0


@dataclass
class _Entry:
    data: bytes
    expires_at: float


class L2Map:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity <= 0:
            raise ValueError(f"lru size must be > 0, got {capacity}")
        self.capacity, self.ttl_s, self.clock = capacity, float(ttl_s), clock
        self._map: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.evictions = 0
        self.sets = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._map)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._map.get(key)
            if entry is None:
                return None
            if self.clock() > entry.expires_at:
                del self._map[key]
                self.expired += 1
                return None
            return entry.data

    def set(self, key: str, data: bytes) -> str | None:
        """Write with the service's eviction rule; returns the evicted key, if any."""
        with self._lock:
            now = self.clock()
            evicted = None
            if len(self._map) >= self.capacity:
                earliest = now + 2 * self.ttl_s
                for k, entry in self._map.items():
                    if entry.expires_at < earliest:
                        evicted, earliest = k, entry.expires_at
                if evicted is not None:
                    del self._map[evicted]
                    self.evictions += 1
            self._map[key] = _Entry(data, now + self.ttl_s)
            self.sets += 1
            return evicted

    def fill_from_l1(self, key: str, data: bytes) -> None:
        """A Redis hit refreshes L2 with no size check (as the service did)."""
        with self._lock:
            self._map[key] = _Entry(data, self.clock() + self.ttl_s)

    def clear(self) -> None:
        with self._lock:
            self._map.clear()
