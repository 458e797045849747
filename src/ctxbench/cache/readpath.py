"""The service's read path (``query.CachedExecutor`` over ``cache.multiTierCache``), as a
layer over the query core: every database call is ``catalog[q].execute``, nothing here writes SQL.

Per request (``CachedExecutor.request``):
- list: key → Redis GET (hit: copied into L2, decoded) → else L2 → else single-flight on the
  key: the leader runs Q1 then Q2 (2 database queries; if Q2 fails, total = rows on the page),
  encodes, and writes Redis + L2 *synchronously* before the waiting callers are released;
- get-by-id, semantic search: the same lookup; on a miss one database query, the answer, and
  an *asynchronous* cache fill (no single-flight); a missing id is an error (404), not cached;
- aggregations: never cached, straight to the database.

Variants are declared like query variants (``CACHE_VARIANTS``): ``as_shipped`` is the
service; ``tuned`` single-flights every cached query with the leader's synchronous write;
``no_singleflight`` is as_shipped without it (what the stampede test guards against).
Each request reports its tier (``l1``, ``l2``, ``miss``, ``shared`` = waited for a leader,
``uncached``), its database queries and where its time went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ctxbench.cache import codec, keys
from ctxbench.cache.l1 import RedisL1
from ctxbench.cache.l2 import DEFAULT_CAPACITY, DEFAULT_TTL_S, L2Map
from ctxbench.cache.singleflight import Group
from ctxbench.db.faults import ConnectionLost, connection_lost, describe
from ctxbench.errors import UsageError
from ctxbench.queries import AS_SHIPPED, catalog

SYNC_WRITE_TIMEOUT_S = 2.0
ASYNC_WRITE_TIMEOUT_S = 5.0
TIERS = ("l1", "l2", "miss", "shared", "uncached")
HIT_TIERS = ("l1", "l2")

Connections = Callable[[], AbstractContextManager[psycopg.Connection]]


@dataclass(frozen=True)
class CacheVariant:
    name: str
    doc: str
    singleflight: frozenset[str]
    sync_fill: frozenset[str]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "singleflight": sorted(self.singleflight),
                "sync_fill": sorted(self.sync_fill)}


CACHE_VARIANTS: dict[str, CacheVariant] = {v.name: v for v in (
    CacheVariant(
        AS_SHIPPED,
        "As shipped (9e4ce2b2): single-flight on list_incidents only, its leader writes the cache "
        "synchronously (2 s timeout) before releasing the waiters; get-by-id and semantic search "
        "fill the cache asynchronously (5 s timeout), so concurrent misses all reach the database.",
        frozenset({"list_incidents"}), frozenset({"list_incidents"})),
    CacheVariant(
        "tuned",
        "Single-flight with the leader's synchronous write for every cached query (list, get-by-id, "
        "semantic search): concurrent identical misses cost one database call per key.",
        frozenset(keys.CACHED_QUERIES), frozenset(keys.CACHED_QUERIES)),
    CacheVariant(
        "no_singleflight",
        "as_shipped without single-flight (the list leader still writes synchronously): every "
        "concurrent miss queries the database — what the stampede test guards against.",
        frozenset(), frozenset({"list_incidents"})),
)}


def cache_variant(name: str) -> CacheVariant:
    found = CACHE_VARIANTS.get(name)
    if found is None:
        raise UsageError(f"unknown cache variant {name!r}; allowed: {', '.join(CACHE_VARIANTS)}")
    return found


@dataclass
class Outcome:
    """One request through the read path."""

    query: str
    key: str | None
    tier: str
    db_queries: int = 0
    result: Any = None
    error: str | None = None
    latency_ns: int = 0
    redis_ns: int = 0   # Redis GET round trip
    decode_ns: int = 0  # JSON decode of a hit
    db_ns: int = 0      # database calls (leader)
    fill_ns: int = 0    # encode + synchronous write (leader)
    value_bytes: int = 0
    redis_error: bool = False  # the Redis GET failed: the read fell through to L2 / the database
    connection_lost: bool = False  # the database connection was lost (ctxbench.db.faults)
    notes: list[str] = field(default_factory=list)

    @property
    def hit(self) -> bool:
        return self.tier in HIT_TIERS

    @property
    def problem(self) -> str | None:
        """The error a caller should count: a 404 (missing id) is an answer, not a failure."""
        return None if self.error is None or self.error.startswith("NotFound") else self.error

    @property
    def rows(self) -> int:
        """Incidents in the answer (1 for one incident or an aggregate, 0 for none)."""
        r = self.result
        if isinstance(r, dict):
            for k in ("incidents", "Incidents"):
                if k in r:
                    return len(r[k] or [])
            return 1
        if isinstance(r, list):
            return len(r)
        return int(r is not None)

    def metrics(self) -> dict[str, float]:
        """Per-request numbers for Measurement.metrics; 0/1 ones average to rates."""
        return {"hit_rate": float(self.hit), "db_share": float(self.db_queries > 0),
                "db_queries": float(self.db_queries), "l1": float(self.tier == "l1"),
                "l2": float(self.tier == "l2"), "shared": float(self.tier == "shared"),
                "cached": float(self.tier != "uncached"), "redis_ms": self.redis_ns / 1e6,
                "decode_ms": self.decode_ns / 1e6, "db_ms": self.db_ns / 1e6,
                "fill_ms": self.fill_ns / 1e6, "value_kb": self.value_bytes / 1024,
                "redis_error": float(self.redis_error)}


@contextmanager
def single_connection(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A Connections factory over one connection (one caller at a time)."""
    yield conn


class CachedExecutor:
    """The read path over the query core. ``connections()`` yields a database connection
    (a pool's ``connection`` for concurrent callers); ``l1`` is None for an L2-only cache.

    A database failure is classified by ``ctxbench.db.faults.connection_lost`` (the rule the
    uncached paths use; ``server_answers`` is asked only when no connection could be had): a
    lost connection is reported as ``Outcome.connection_lost`` — for the leader and for every
    single-flight waiter that shared its call — and ends the caller's phase; a query-level
    failure (statement timeout, bad parameter) is ``Outcome.error``, a measured failure. A
    lost Redis is not a failure: the read falls through to L2 and the database, as the
    service's did, and the request says so (``redis_error``)."""

    def __init__(self, connections: Connections, l1: RedisL1 | None, *,
                 variant: str = AS_SHIPPED, query_variants: Mapping[str, str] | None = None,
                 lru_size: int = DEFAULT_CAPACITY, ttl_s: float = DEFAULT_TTL_S,
                 max_value_bytes: int = codec.MAX_VALUE_BYTES,
                 server_answers: Callable[[], bool] | None = None) -> None:
        self.connections, self.l1 = connections, l1
        self.server_answers = server_answers
        self.variant = cache_variant(variant)
        self.query_variants = dict(query_variants or {})
        self.l2 = L2Map(lru_size, ttl_s)
        self.max_value_bytes = max_value_bytes
        self.flights = Group()
        self._lock = threading.Lock()
        self._fills: set[threading.Thread] = set()
        self.db_queries = 0
        self.fill_errors: list[str] = []

    # -- plumbing ------------------------------------------------------------------------------
    def _db(self, query: str, params: Mapping[str, Any], out: Outcome) -> list[tuple]:
        q = catalog[query]
        with self._lock:
            self.db_queries += 1
        out.db_queries += 1
        t0 = time.perf_counter_ns()
        held: psycopg.Connection | None = None
        try:
            with self.connections() as conn:
                held = conn
                return q.execute(conn, params, self.query_variants.get(query, AS_SHIPPED))
        except psycopg.Error as exc:
            if connection_lost(exc, held, server_answers=self.server_answers):
                raise ConnectionLost(exc) from exc
            raise
        finally:
            out.db_ns += time.perf_counter_ns() - t0

    def _lookup(self, key: str, out: Outcome) -> bytes | None:
        """Redis, then L2 (manager.Get). A Redis hit is copied into L2."""
        if self.l1 is not None:
            t0 = time.perf_counter_ns()
            data, err = self.l1.get(key)
            out.redis_ns += time.perf_counter_ns() - t0
            if data is not None:
                self.l2.fill_from_l1(key, data)
                out.tier = "l1"
                return data
            if err:
                out.redis_error = True
                out.notes.append(f"redis: {err}")
        data = self.l2.get(key)
        if data is not None:
            out.tier = "l2"
        return data

    def _store(self, key: str, value: Any, timeout_s: float) -> tuple[int, str | None]:
        """manager.Set: encode, refuse > 5 MB, Redis best effort, always L2. (bytes, error)."""
        try:
            data = codec.encode(value, self.max_value_bytes)
        except codec.ValueTooLarge as exc:
            return 0, str(exc)
        if self.l1 is not None:
            self.l1.set(key, data)
        self.l2.set(key, data)
        return len(data), None

    def _fill_async(self, key: str, value: Any) -> None:
        def run() -> None:
            try:
                _, err = self._store(key, value, ASYNC_WRITE_TIMEOUT_S)
                if err:
                    self.fill_errors.append(err)
            finally:
                with self._lock:
                    self._fills.discard(threading.current_thread())

        t = threading.Thread(target=run, name="ctxbench-cache-fill", daemon=True)
        with self._lock:
            self._fills.add(t)
        t.start()

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for pending asynchronous fills (so a following request sees them)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                pending = list(self._fills)
            if not pending:
                return
            for t in pending:
                t.join(max(deadline - time.monotonic(), 0.0))
            if time.monotonic() >= deadline:
                return

    def close(self) -> None:
        self.drain()
        if self.l1 is not None:
            self.l1.close()

    # -- requests -------------------------------------------------------------------------------
    def request(self, query: str, params: Mapping[str, Any]) -> Outcome:
        """One request as the service served it; an error is reported in the Outcome."""
        key = keys.cache_key(query, params)
        out = Outcome(query, key, "uncached" if key is None else "miss")
        t0 = time.perf_counter_ns()
        try:
            if key is None:
                q = catalog[query]
                out.result = q.to_result(self._db(query, params, out), params)
            else:
                keys.check_params(query, params)
                self._cached(query, key, params, out)
        except ConnectionLost as exc:
            out.error, out.connection_lost = describe(exc), True
        except (psycopg.Error, UsageError) as exc:
            out.error = describe(exc)
        out.latency_ns = time.perf_counter_ns() - t0
        return out

    def _cached(self, query: str, key: str, params: Mapping[str, Any], out: Outcome) -> None:
        data = self._lookup(key, out)
        if data is not None:
            t0 = time.perf_counter_ns()
            out.result = codec.decode(data)
            out.decode_ns = time.perf_counter_ns() - t0
            out.value_bytes = len(data)
            return
        out.tier = "miss"
        load = {"list_incidents": self._load_list, "get_incident": self._load_get,
                "semantic_search": self._load_semantic}[query]
        sync = query in self.variant.sync_fill

        def leader() -> Any:
            value = load(params, out)
            if value is not None and sync:
                t1 = time.perf_counter_ns()
                size, err = self._store(key, value, SYNC_WRITE_TIMEOUT_S)
                out.fill_ns = time.perf_counter_ns() - t1
                out.value_bytes = size
                if err:
                    out.notes.append(f"cache write: {err}")
            return value

        if query in self.variant.singleflight:
            value, shared = self.flights.do(key, leader)
            if out.db_queries == 0 and shared:
                out.tier = "shared"
        else:
            value = leader()
        if value is None:
            if query == "get_incident":
                out.error = "NotFound: incident does not exist (404, not cached)"
            return
        if not sync and out.db_queries:
            self._fill_async(key, value)
        out.result = value

    # -- database loads (the answers the service cached) -----------------------------------------
    def _load_list(self, params: Mapping[str, Any], out: Outcome) -> dict[str, Any]:
        rows = self._db("list_incidents", params, out)
        incidents = catalog["list_incidents"].to_result(rows, params)
        filters = {k: params[k] for k in ("namespace", "severity") if params.get(k) is not None}
        try:
            total = catalog["count_incidents"].to_result(self._db("count_incidents", filters, out), filters)
        except ConnectionLost:
            raise  # not a failed count but a lost database: the caller's phase ends
        except psycopg.Error as exc:  # the service fell back to the page's length
            out.notes.append(f"count failed: {type(exc).__name__}")
            total = len(incidents)
        return codec.list_value(incidents, total)

    def _load_get(self, params: Mapping[str, Any], out: Outcome) -> dict[str, Any] | None:
        row = catalog["get_incident"].to_result(self._db("get_incident", params, out), params)
        return None if row is None else codec.incident_event(row)

    def _load_semantic(self, params: Mapping[str, Any], out: Outcome) -> dict[str, Any]:
        rows = self._db("semantic_search", params, out)
        return codec.semantic_value(catalog["semantic_search"].to_result(rows, params))
