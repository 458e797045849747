"""The ``cache`` phase: the service's read path (Redis L1 + L2 map + single-flight) measured in
front of the query core, as the service's own integration tests did and beyond them.

Sub-phases (each measurement is one request through ``CachedExecutor``; labels carry the tier):
- ``cache.hit``: distinct keys warmed once, then read: L1 hits (Redis round trip + JSON decode
  of the page, for semantic search a page of 384-float vectors);
- ``cache.miss``: distinct keys never seen (fresh executor, flushed Redis): database + the fill;
- ``cache.mix``: a key population drawn by the sampler and requests over it, Zipf-distributed
  (``mix = "zipf"``) or the service's 80/20 test mix (80 of 100 requests reuse 4 warmed keys):
  hit rate, share of requests reaching the database, database queries per request;
- ``cache.outage``: Redis down at startup, the cache is L2 only: misses then L2 hits;
- ``cache.stampede``: N concurrent identical misses (and the same over 2 keys), counting
  database queries: with single-flight on lists the service's test expects exactly 2 and 4;
  a trial that counts otherwise is a failed measurement (the check can fail).
Every sub-phase starts from an empty cache: a new executor (empty L2) and a flushed Redis
database that ctxbench owns.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from psycopg_pool import ConnectionPool

from ctxbench.cache import CachedExecutor, Outcome, RedisL1, cache_variant, keys, owner, single_connection
from ctxbench.cache.server import resolve_url
from ctxbench.config import spec_field as _f
from ctxbench.db import control
from ctxbench.db.faults import pool_probe
from ctxbench.measure.executor import lost_connection, open_pool
from ctxbench.measure.phases.base import Fail, Phase, PhaseContext, RunState, run_guarded
from ctxbench.queries import AS_SHIPPED, ParamSet
from ctxbench.results import Measurement, PhaseRecord

NAME = "cache"
SUB_PHASES = ("cache.hit", "cache.miss", "cache.mix", "cache.outage", "cache.stampede")


@dataclass
class CacheSpec:
    """The ``cache`` phase: the service's read path (Redis L1, L2 map, single-flight)."""

    queries: list[str] = _f(factory=lambda: ["list_incidents", "get_incident", "semantic_search"],
                            doc="cached queries measured (the service cached these three)")
    variants: list[str] = _f(factory=lambda: ["as_shipped"],
                             doc="cache variants: as_shipped, tuned, no_singleflight")
    hit_samples: int = _f(100, lo=0, hi=100000, doc="distinct keys per query warmed then read (0 = skip)")
    miss_samples: int = _f(50, lo=0, hi=100000, doc="distinct never-seen keys per query (0 = skip)")
    mix: str = _f("zipf", choices=("zipf", "service_80_20"),
                  doc="zipf: requests Zipf-distributed over sampled keys; service_80_20: 80 of every "
                  "100 requests reuse 4 warmed keys (the service's hit-rate test)")
    mix_requests: int = _f(1000, lo=0, hi=10_000_000, doc="requests per query in cache.mix (0 = skip)")
    mix_keys: int = _f(500, lo=1, hi=1_000_000, doc="zipf: sampled parameter sets (keys) requested")
    zipf_s: float = _f(1.1, lo=0.0, hi=5.0, doc="zipf exponent: P(rank r) ∝ 1/r^s")
    outage_samples: int = _f(20, lo=0, hi=100000, doc="keys per query with Redis down (L2 only; 0 = skip)")
    stampede_trials: int = _f(5, lo=0, hi=1000, doc="trials per case of the stampede check (0 = skip)")
    stampede_concurrency: int = _f(10, lo=2, hi=200, doc="concurrent identical misses per trial")
    stampede_queries: list[str] = _f(factory=lambda: ["list_incidents"])
    lru_size: int = _f(1000, lo=1, hi=10_000_000, doc="L2 entries (the service: 1000)")
    ttl_s: float = _f(300.0, lo=1, hi=86400, doc="cache TTL in seconds (the service: 5 min)")


class CacheSession:
    """Redis (ctxbench's own or a URL) and fresh executors over the phase's connections."""

    def __init__(self, ctx: PhaseContext, spec: CacheSpec, redis_url: str | None,
                 home: Path | None) -> None:
        self.ctx, self.spec = ctx, spec
        self.url, self.server = resolve_url(redis_url, home)
        import redis

        self.admin = redis.Redis.from_url(self.url, socket_timeout=10)
        owner.claim(self.admin, self.url)

    def flush(self) -> None:
        owner.flush_owned(self.admin, self.url)

    @contextmanager
    def executor(self, variant: str, *, conn=None, pool: ConnectionPool | None = None,
                 l1: bool = True) -> Iterator[CachedExecutor]:
        self.flush()
        connections = pool.connection if pool is not None else (lambda: single_connection(conn))
        ex = CachedExecutor(connections, RedisL1.connect(self.url, self.spec.ttl_s) if l1 else None,
                            variant=variant, lru_size=self.spec.lru_size, ttl_s=self.spec.ttl_s,
                            server_answers=None if pool is None else pool_probe(pool))
        try:
            yield ex
        finally:
            ex.close()

    def close(self) -> None:
        self.admin.close()


def _measurement(ctx: PhaseContext, phase: str, variant: str, ps: ParamSet, out: Outcome, *,
                 seq: int, warmup: bool = False, labels: dict[str, str] | None = None) -> Measurement:
    lab = {**(labels or {}), "cache": variant}  # the query itself runs as shipped
    if ps.kind:
        lab["param_kind"] = ps.kind
    m = Measurement(run_id=ctx.run_id, phase=phase, query=ps.query, variant=AS_SHIPPED, param_id=ps.id,
                    seq=seq, latency_ns=out.latency_ns, rows=out.rows, ok=out.problem is None,
                    error=out.problem,
                    warmup=warmup, labels=lab, metrics=out.metrics())
    ctx.results.append_measurement(m)
    if out.connection_lost:  # the database is gone: recorded once, and the phase ends here
        raise lost_connection(phase, f"{ps.query}[cache {variant}]", str(out.error))
    return m


def distinct_keys(sets: list[ParamSet]) -> list[ParamSet]:
    """One parameter set per cache key (the sampler can draw two sets the service keyed alike)."""
    seen: set[str | None] = set()  # None: a query the service never cached
    out = []
    for ps in sets:
        key = keys.cache_key(ps.query, ps.params)
        if key not in seen:
            seen.add(key)
            out.append(ps)
    return out


def zipf_requests(n_keys: int, n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """n key indexes with P(rank r) ∝ 1/r^s over n_keys keys (rank 1 = index 0)."""
    weights = 1.0 / np.arange(1, n_keys + 1, dtype=np.float64) ** s
    return rng.choice(n_keys, size=n, p=weights / weights.sum())


def mix_plan(ctx: PhaseContext, spec: CacheSpec, query: str) -> tuple[list[ParamSet], list[int], str]:
    """(key population, request order as indexes, label). The 80/20 preset warms 4 keys."""
    digest = hashlib.sha256(f"ctxbench.cache.mix\0{query}".encode()).digest()
    rng = np.random.default_rng([int(ctx.seed) & (2**63 - 1), int.from_bytes(digest[:8], "little")])
    if spec.mix == "service_80_20":
        per_100 = max(spec.mix_requests // 100, 1)
        pool = distinct_keys(ctx.sampler.sample(query, 4 + 20 * per_100 + 50, stream="cache.mix"))
        warmed, unique = pool[:4], pool[4:4 + 20 * per_100]
        order = [i % 4 for i in range(80 * per_100)] + [4 + i for i in range(len(unique))]
        rng.shuffle(order)
        return warmed + unique, [int(i) for i in order], "service_80_20"
    population = distinct_keys(ctx.sampler.sample(query, spec.mix_keys, stream="cache.mix"))
    drawn = zipf_requests(len(population), spec.mix_requests, spec.zipf_s, rng)
    return population, [int(i) for i in drawn], f"zipf_s{spec.zipf_s:g}_k{len(population)}"


def run(ctx: PhaseContext, spec: CacheSpec, *, redis_url: str | None = None,
        home: Path | None = None) -> list[PhaseRecord]:
    queries = list(spec.queries)
    session_box: list[CacheSession] = []

    def setup(record: PhaseRecord) -> None:
        with ctx.target.connect() as conn:  # as `ctxbench load`: a service runs on analyzed tables
            state = control.statistics_state(conn)
            if state["state"] != "analyzed":
                record.events.append({"type": "analyze", **control.analyze(conn)})
                record.notes.append("the tables had no statistics: ANALYZE ran before the cache phase")
            record.stats_state = control.statistics_state(conn)["state"]
        session = CacheSession(ctx, spec, redis_url, home)
        session_box.append(session)
        info = session.server.status() if session.server else {"url": owner.redis_url_masked(session.url)}
        record.events.append({"type": "redis", "started_by_ctxbench": session.server is not None,
                              **{k: v for k, v in info.items() if k != "dir"}})
        record.notes.append(f"cache variants {', '.join(spec.variants)}; L2 {spec.lru_size} entries, "
                            f"TTL {spec.ttl_s:g} s; queries {', '.join(queries)}")
        for v in spec.variants:
            record.events.append({"type": "cache_variant", **cache_variant(v).describe()})

    records = [run_guarded(ctx, NAME, setup)]
    session = session_box[0]
    try:
        with ctx.connections.open() as conn:
            for v in spec.variants:
                steps = [("cache.hit", spec.hit_samples, _hits), ("cache.miss", spec.miss_samples, _misses),
                         ("cache.mix", spec.mix_requests, _mix),
                         ("cache.outage", spec.outage_samples, _outage)]
                for phase, wanted, body in steps:
                    if wanted:
                        records.append(run_guarded(
                            ctx, phase, functools.partial(body, ctx, session, v, conn)))
        if spec.stampede_trials:
            for v in spec.variants:
                records.append(run_guarded(ctx, "cache.stampede",
                                           functools.partial(_stampede, ctx, session, v)))
    finally:
        session.close()
    return records


def _hits(ctx: PhaseContext, session: CacheSession, variant: str, conn, record: PhaseRecord) -> None:
    spec = session.spec
    ctx.progress.start(f"cache.hit [{variant}]", 2 * spec.hit_samples * len(spec.queries))
    with session.executor(variant, conn=conn) as ex:
        for query in spec.queries:
            sets = distinct_keys(ctx.sampler.sample(query, spec.hit_samples, stream="cache.hit"))
            for i, ps in enumerate(sets, 1):  # warm: the first request of each key fills the cache
                out = ex.request(query, ps.params)
                _measurement(ctx, "cache.hit", variant, ps, out, seq=i, warmup=True,
                             labels={"tier": out.tier})
                ctx.progress.advance()
            ex.drain()
            order = list(sets)
            ctx.rng(f"cache.hit:{variant}:{query}").shuffle(order)
            for i, ps in enumerate(order, 1):
                out = ex.request(query, ps.params)
                _measurement(ctx, "cache.hit", variant, ps, out, seq=i, labels={"tier": out.tier})
                ctx.progress.advance()
        record.events.append({"type": "cache_stats", **_stats(ex)})
    record.notes.append("each key requested once to fill the cache (warm-up, async fills drained), "
                        "then once more, measured")


def _misses(ctx: PhaseContext, session: CacheSession, variant: str, conn, record: PhaseRecord) -> None:
    spec = session.spec
    ctx.progress.start(f"cache.miss [{variant}]", spec.miss_samples * len(spec.queries))
    with session.executor(variant, conn=conn) as ex:
        for query in spec.queries:
            sets = distinct_keys(ctx.sampler.sample(query, spec.miss_samples, stream="cache.miss"))
            for i, ps in enumerate(sets, 1):
                out = ex.request(query, ps.params)
                _measurement(ctx, "cache.miss", variant, ps, out, seq=i, labels={"tier": out.tier})
                ctx.progress.advance()
        ex.drain()
        record.events.append({"type": "cache_stats", **_stats(ex)})
    record.notes.append("distinct keys, each requested once into an empty cache (new executor, "
                        "flushed Redis); the database is warm from the earlier phases")


def _mix(ctx: PhaseContext, session: CacheSession, variant: str, conn, record: PhaseRecord) -> None:
    spec = session.spec
    plans = {q: mix_plan(ctx, spec, q) for q in spec.queries}
    ctx.progress.start(f"cache.mix [{variant}]", sum(len(o) for _, o, _ in plans.values()))
    for query, (population, order, label) in plans.items():
        with session.executor(variant, conn=conn) as ex:
            if spec.mix == "service_80_20":
                for i, ps in enumerate(population[:4], 1):
                    _measurement(ctx, "cache.mix", variant, ps, ex.request(query, ps.params), seq=i,
                                 warmup=True, labels={"mix": label})
                ex.drain()
            for i, idx in enumerate(order, 1):
                ps = population[idx]
                out = ex.request(query, ps.params)
                _measurement(ctx, "cache.mix", variant, ps, out, seq=i, labels={"mix": label})
                ctx.progress.advance()
            ex.drain()
            record.events.append({"type": "cache_stats", "query": query, "mix": label, **_stats(ex)})
    record.notes.append(f"mix {spec.mix}: requests one after another on one connection; asynchronous "
                        "fills race the next request as in the service")


def _outage(ctx: PhaseContext, session: CacheSession, variant: str, conn, record: PhaseRecord) -> None:
    spec = session.spec
    ctx.progress.start(f"cache.outage [{variant}]", 2 * spec.outage_samples * len(spec.queries))
    with session.executor(variant, conn=conn, l1=False) as ex:
        for query in spec.queries:
            sets = distinct_keys(ctx.sampler.sample(query, spec.outage_samples, stream="cache.outage"))
            seq = 0
            for ps in sets:
                for _ in range(2):
                    seq += 1
                    out = ex.request(query, ps.params)
                    _measurement(ctx, "cache.outage", variant, ps, out, seq=seq, labels={"tier": out.tier})
                    ctx.progress.advance()
                ex.drain()
        record.events.append({"type": "cache_stats", **_stats(ex)})
    record.notes.append("Redis unavailable when the executor started: L2 only for its life; each key "
                        "requested twice (a miss, then an L2 hit)")


def expected_stampede(variant: str, query: str, n_keys: int) -> int | None:
    """Database queries the service's test expects, or None where nothing is promised."""
    v = cache_variant(variant)
    if query not in v.singleflight:
        return None
    per_miss = 2 if query == "list_incidents" else 1
    return per_miss * n_keys


def stampede_trial(ex: CachedExecutor, query: str,
                   param_sets: list[dict[str, Any]]) -> tuple[int, int, list[Outcome]]:
    """Concurrent requests released together; (database queries, wall ns, outcomes)."""
    barrier = threading.Barrier(len(param_sets))
    outcomes: list[Any] = [None] * len(param_sets)

    def go(i: int) -> None:
        barrier.wait()
        outcomes[i] = ex.request(query, param_sets[i])

    threads = [threading.Thread(target=go, args=(i,), name=f"stampede-{i}") for i in range(len(param_sets))]
    before = ex.db_queries
    t0 = time.perf_counter_ns()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    wall = time.perf_counter_ns() - t0
    ex.drain()
    return ex.db_queries - before, wall, outcomes


def _stampede(ctx: PhaseContext, session: CacheSession, variant: str, record: PhaseRecord) -> None:
    spec = session.spec
    n = spec.stampede_concurrency
    cases = [(q, k) for q in spec.stampede_queries for k in (1, 2)]
    ctx.progress.start(f"cache.stampede [{variant}]", len(cases) * spec.stampede_trials)
    pool = open_pool(ctx.connections.dsn, n, prepare_threshold=ctx.connections.prepare_threshold,
                     statement_timeout_ms=ctx.connections.statement_timeout_ms)
    summary: dict[str, list[int]] = {}
    try:
        for query, n_keys in cases:
            expected = expected_stampede(variant, query, n_keys)
            for trial in range(spec.stampede_trials):
                sets = distinct_keys(ctx.sampler.sample(query, 40, stream=f"cache.stampede.{trial}"))[:n_keys]
                params = [sets[i % n_keys] for i in range(n)]
                with session.executor(variant, pool=pool) as ex:
                    count, wall, outs = stampede_trial(ex, query, [ps.params for ps in params])
                errors = [o.problem for o in outs if o is not None and o.problem]
                same = all(o is not None and o.result == outs[i % n_keys].result for i, o in enumerate(outs))
                problem = None
                if errors:
                    problem = errors[0]
                elif not same:
                    problem = "concurrent identical requests got different answers"
                elif expected is not None and count != expected:
                    problem = (f"expected exactly {expected} database queries for {n} concurrent misses "
                               f"over {n_keys} key(s), counted {count}")
                summary.setdefault(f"{query}/{n_keys}", []).append(count)
                m = Measurement(run_id=ctx.run_id, phase="cache.stampede", query=query, variant=AS_SHIPPED,
                                param_id=params[0].id, seq=trial + 1, latency_ns=wall, rows=n,
                                ok=problem is None, error=problem,
                                labels={"keys": str(n_keys), "concurrency": str(n), "cache": variant},
                                metrics={"db_queries": float(count),
                                         **({"expected_db_queries": float(expected)}
                                            if expected is not None else {}),
                                         "shared": float(sum(o.tier == "shared" for o in outs if o))})
                ctx.results.append_measurement(m)
                lost = next((o for o in outs if o is not None and o.connection_lost), None)
                if lost is not None:
                    raise lost_connection("cache.stampede", f"{query}[cache {variant}]", str(lost.error))
                ctx.progress.advance()
    finally:
        pool.close()
    record.events.append({"type": "stampede", "variant": variant, "concurrency": n,
                          "db_queries": summary,
                          "expected": {f"{q}/{k}": expected_stampede(variant, q, k) for q, k in cases}})
    record.notes.append(f"{n} concurrent requests released by a barrier into an empty cache per trial; "
                        "database queries counted at the query core")


def _stats(ex: CachedExecutor) -> dict[str, Any]:
    out: dict[str, Any] = {"db_queries": ex.db_queries, "l2_entries": len(ex.l2),
                           "l2_evictions": ex.l2.evictions, "fill_errors": len(ex.fill_errors)}
    if ex.l1 is not None:
        s = ex.l1.stats
        out.update({"redis_hits": s.hits, "redis_misses": s.misses, "redis_errors": s.errors,
                    "redis_set_errors": s.set_errors})
    return out



def _run(ctx: PhaseContext, spec: CacheSpec, state: RunState) -> None:
    run(ctx, spec, redis_url=state.redis_url, home=state.home)


def _check(spec: CacheSpec, fail: Fail, selected: bool) -> None:
    from ctxbench.cache.keys import CACHED_QUERIES
    from ctxbench.cache.readpath import CACHE_VARIANTS

    for field_name, values in (("queries", spec.queries), ("stampede_queries", spec.stampede_queries)):
        for i, q in enumerate(values):
            if q not in CACHED_QUERIES:
                fail(f"phases.cache.{field_name}[{i}]", q, "allowed: " + ", ".join(CACHED_QUERIES)
                     + " (the service never cached the aggregations)")
    for i, v in enumerate(spec.variants):
        if v not in CACHE_VARIANTS:
            fail(f"phases.cache.variants[{i}]", v, "allowed: " + ", ".join(CACHE_VARIANTS))
    if selected and not spec.variants:
        fail("phases.cache.variants", spec.variants, "at least one of " + ", ".join(CACHE_VARIANTS))


PHASE = Phase(
    name=NAME, spec=CacheSpec, measured=SUB_PHASES, run=_run, check=_check, once=True,
    effect="ANALYZE if the tables have no statistics; a Redis (ctxbench's own or --redis-url) and "
           "an empty cache before every sub-phase",
    summary="latency per tier (hit, miss, mix, outage, stampede), hit rate, database share, "
            "database queries per request")
