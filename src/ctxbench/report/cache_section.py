"""The cache section of report.md / report.html (a provider of ``ctxbench.report.sections``):
hits per tier, database queries per request, latency per tier, and the stampede check."""

from __future__ import annotations

from typing import Any

from ctxbench.analysis.cache import TIER_NAMES, TIER_ORDER, cache_tables, stampede_rows
from ctxbench.report.document import Block, Heading, Para, Table
from ctxbench.results.store import ResultsDir


def _ms(v: float | None) -> str:
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def report_sections(summary: dict[str, Any], results: ResultsDir) -> list[Block]:
    rows = cache_tables(results.iter_measurements())
    stampede = stampede_rows(results.iter_measurements())
    if not rows and not stampede:
        return []
    blocks: list[Block] = [
        Heading(2, "Cache (the service's read path)"),
        Para("Requests through the service's read path: Redis (L1), then the in-process map (L2), "
             "then the database; lists single-flight their misses (as_shipped). Tiers: "
             + "; ".join(f"{t} = {TIER_NAMES[t]}" for t in TIER_ORDER)
             + ". A hit's latency includes the Redis round trip and the JSON decode of the page.")]
    if rows:
        tiers = [t for t in TIER_ORDER if any(t in r["share"] for r in rows)]
        header = ["phase", "query", "cache variant", "labels", "n", *[f"{t} share" for t in tiers],
                  "hit rate", "DB q/request", "reached DB",
                  *[f"{t} p50 / p95 ms" for t in tiers], "L1: redis / decode ms, kB"]
        body = []
        for r in rows:
            lat = r["latency_ms"]
            l1 = (f"{_ms(r.get('l1_redis_ms_mean'))} / {_ms(r.get('l1_decode_ms_mean'))}, "
                  f"{r.get('l1_value_kb_mean', 0):.1f}" if "l1_redis_ms_mean" in r else "–")
            body.append([r["phase"], r["query"], r["cache"],
                         ",".join(f"{k}={v}" for k, v in r["labels"].items()) or "–", str(r["n"]),
                         *[f"{r['share'].get(t, 0):.1%}" for t in tiers], f"{r['hit_rate']:.1%}",
                         f"{r['db_queries_per_request']:.2f}", f"{r['db_share']:.1%}",
                         *[(f"{_ms(lat[t]['p50'])} / {_ms(lat[t]['p95'])}" if t in lat else "–")
                           for t in tiers], l1])
        blocks.append(Table(header, body, numeric=set(range(4, len(header) - 1))))
        failed = sum(r["redis_errors"] for r in rows)
        if failed:
            where = ", ".join(f"{r['phase']} {r['query']} {r['redis_errors']} of {r['n']}"
                              for r in rows if r["redis_errors"])
            blocks.append(Para(
                f"Redis failed during the run: {failed} request(s) got an error from Redis "
                f"({where}). The read path did what the service does when Redis is down: each "
                "such read fell through to L2 and then the database, and a failed cache write was "
                "ignored. Those requests are measured as served (their tier is L2 or miss, their "
                "latency includes the failed Redis call); they describe the service with its L1 "
                "down, not the configured cache.", kind="warning"))
    if stampede:
        blocks.append(Heading(3, "Stampede check"))
        blocks.append(Para("Concurrent identical requests into an empty cache, released together; "
                           "database queries counted at the query core. The service's test "
                           "(08_cache_stampede_test) expects exactly 2 for one list key and 4 for two."))
        body = [[s["query"], s["cache"], s["keys"], s["concurrency"],
                 ", ".join(map(str, s["db_queries"])),
                 "–" if s["expected"] is None else str(s["expected"]),
                 "no promise" if s["expected"] is None else ("FAIL" if s["failed"] else "PASS")]
                for s in stampede]
        blocks.append(Table(["query", "cache variant", "keys", "concurrent", "DB queries per trial",
                             "expected", "check"], body))
    return blocks
