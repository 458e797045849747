"""What the read path did, from the measurements (cache phases and load runs through the cache).

Each request through ``CachedExecutor`` carries per-request metrics (``l1``, ``l2``, ``shared``,
``cached``, ``redis_error`` as 0/1, ``db_queries``, ``redis_ms``, ``decode_ms``, ``value_kb``).
Here they become,
per group (phase, query, variant, labels other than the tier): the split of requests over the
tiers, database queries per request, the share that reached the database, and latency per
tier — the numbers the service's docs state its targets in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ctxbench.results.model import Measurement

TIER_ORDER = ("l1", "l2", "shared", "miss", "uncached")
TIER_NAMES = {"l1": "L1 (Redis) hit", "l2": "L2 (in-process) hit",
              "shared": "waited for a single-flight leader", "miss": "miss (database)",
              "uncached": "never cached (aggregation)"}


def is_cache_request(m: Measurement) -> bool:
    return bool(m.metrics) and "hit_rate" in m.metrics and "db_queries" in m.metrics


def tier_of(metrics: Mapping[str, float]) -> str:
    if metrics.get("cached", 1.0) == 0:
        return "uncached"
    for tier in ("l1", "l2", "shared"):
        if metrics.get(tier):
            return tier
    return "miss"


def _pct(x: np.ndarray, q: float) -> float | None:
    return float(np.quantile(x, q, method="inverted_cdf")) if x.size else None


def cache_tables(measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    """One row per group of read-path requests (warm-ups excluded; failed requests count)."""
    groups: dict[tuple, list[Measurement]] = defaultdict(list)
    for m in measurements:
        if m.warmup or not is_cache_request(m):
            continue
        labels = tuple(sorted((k, v) for k, v in (m.labels or {}).items()
                              if k not in ("tier", "param_kind", "cache")))
        cache = (m.labels or {}).get("cache", "?")
        groups[(m.phase, m.query, cache, labels)].append(m)
    rows = []
    for (phase, query, cache, labels), ms in sorted(groups.items()):
        tiers = np.array([tier_of(m.metrics) for m in ms])
        lat = np.array([m.latency_ns / 1e6 for m in ms])
        dbq = np.array([float(m.metrics.get("db_queries", 0.0)) for m in ms])
        row: dict[str, Any] = {
            "phase": phase, "query": query, "cache": cache, "variant": ms[0].variant,
            "labels": dict(labels), "n": len(ms),
            "errors": sum(not m.ok for m in ms),
            "redis_errors": sum(bool(m.metrics.get("redis_error")) for m in ms),
            "share": {t: float((tiers == t).mean()) for t in TIER_ORDER if (tiers == t).any()},
            "hit_rate": float(np.isin(tiers, ("l1", "l2")).mean()),
            "db_queries_per_request": float(dbq.mean()),
            "db_share": float((dbq > 0).mean()),
            "latency_ms": {t: {"n": int((tiers == t).sum()), "p50": _pct(lat[tiers == t], 0.5),
                               "p95": _pct(lat[tiers == t], 0.95)}
                           for t in TIER_ORDER if (tiers == t).any()},
        }
        for name in ("redis_ms", "decode_ms", "value_kb"):
            hits = [float(m.metrics.get(name, 0.0)) for m, t in zip(ms, tiers, strict=True) if t == "l1"]
            if hits:
                row[f"l1_{name}_mean"] = float(np.mean(hits))
        rows.append(row)
    return rows


def stampede_rows(measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    """The stampede check per (query, variant, keys): counts per trial and the outcome."""
    groups: dict[tuple, list[Measurement]] = defaultdict(list)
    for m in measurements:
        if m.phase == "cache.stampede" and not m.warmup:
            groups[(m.query, (m.labels or {}).get("cache", "?"), (m.labels or {}).get("keys", "?"),
                    (m.labels or {}).get("concurrency", "?"))].append(m)
    out = []
    for (query, cache, keys, conc), ms in sorted(groups.items()):
        expected = ms[0].metrics.get("expected_db_queries")
        out.append({"query": query, "cache": cache, "keys": keys, "concurrency": conc,
                    "db_queries": [int(m.metrics.get("db_queries", -1)) for m in ms],
                    "expected": None if expected is None else int(expected),
                    "failed": sum(not m.ok for m in ms),
                    "problems": sorted({m.error for m in ms if m.error})[:3]})
    return out
