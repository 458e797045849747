"""The remedy catalog: for each query, the variants that fix its failure modes, and which
causes (the cause codes of ``ctxbench.analysis.diagnosis``) each one addresses.

A remedy is a query variant (``Query.variants``), possibly on schema variants
(``migrations/variants/NAME.sql``, several joined with '+'). Its answer is the shipped answer
unless it declares ``changes_answer`` (and says how in its doc); tests/test_remedies.py checks
that on the CI dataset. Order matters: the first remedy of a query is the one recommended when
no measurement says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctxbench.queries.catalog import catalog

# Cause codes (analysis/diagnosis.py finds them in a captured plan).
IO_BOUND = "io_bound"                  # most of the time was spent reading blocks
SCAN_ALL_ROWS = "rows_fetched"         # scans fetched ≥ 10× the rows the query returns
SORT_ALL_ROWS = "sort_all_rows"        # a sort over every matching row to return a page
AGGREGATE_ALL_ROWS = "aggregate_all_rows"  # an aggregate over a large share of the table
NO_PRUNING = "no_partition_pruning"    # partitions scanned that return nothing
MISESTIMATE = "row_misestimate"        # a node's row estimate off by ≥ 10×
HNSW_SHORT = "hnsw_short_answer"       # the HNSW scan returned fewer than k rows after filters
COLD_PLANNING = "cold_planning"        # planning (catalog + index metadata read cold) dominated
CAUSES = {
    IO_BOUND: "most of the execution time went to reading blocks from disk/OS cache",
    SCAN_ALL_ROWS: "the scans fetched many more rows than the query returns",
    SORT_ALL_ROWS: "a sort over every matching row, to return one page",
    AGGREGATE_ALL_ROWS: "an aggregate over every matching row (a large share of the table)",
    NO_PRUNING: "partitions were scanned that the predicate did not need",
    MISESTIMATE: "row estimates off by 10× or more (the planner chose blind)",
    HNSW_SHORT: "the HNSW scan returned fewer rows than k after the threshold and joins",
    COLD_PLANNING: "planning took most of the time: the catalog and every index of every "
                   "partition considered were read cold (a new connection after a cache "
                   "reset); no query remedy changes that — fewer indexes/partitions, or a "
                   "connection pool that keeps backends' catalog caches warm, does",
}


@dataclass(frozen=True)
class Remedy:
    query: str
    variant: str
    addresses: frozenset[str]
    what: str  # one line for reports

    @property
    def schema_variant(self) -> str | None:
        return catalog[self.query].variant(self.variant).schema_variant

    @property
    def changes_answer(self) -> bool:
        return catalog[self.query].variant(self.variant).changes_answer


def _r(query: str, variant: str, addresses: set[str], what: str) -> Remedy:
    return Remedy(query, variant, frozenset(addresses), what)


_ROLLUP = {AGGREGATE_ALL_ROWS, SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING, MISESTIMATE}
_WINDOW = {SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING, AGGREGATE_ALL_ROWS}
_DAILY = _WINDOW | {SORT_ALL_ROWS}
_DAILY_WHAT = ("exact trigger-maintained per-day rollup (trace_daily): whole days summed, "
               "the window's first partial day from an index range scan")

REMEDIES: dict[str, tuple[Remedy, ...]] = {
    "list_incidents": (
        _r("list_incidents", "skip",
           {SORT_ALL_ROWS, SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING},
           "skip whole days by their trigger-maintained counts (list_day_counts): the index "
           "walk is bounded to the page's days, whatever the OFFSET"),
        _r("list_incidents", "skip_prewarmed",
           {SORT_ALL_ROWS, SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING},
           "skip + the joined tables, day counts and covering index prewarmed at start: a "
           "cold page reads only its own rows"),
        _r("list_incidents", "deferred",
           {SORT_ALL_ROWS, SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING},
           "deferred join: the page's keys from an index-only walk, then 1 heap read per row"),
        _r("list_incidents", "indexed", {SORT_ALL_ROWS, SCAN_ALL_ROWS, IO_BOUND, NO_PRUNING},
           "(action_timestamp DESC, id DESC) indexes: a newest-first walk that stops at the "
           "page"),),
    "count_incidents": (
        _r("count_incidents", "rollup", _ROLLUP,
           "exact trigger-maintained rollup (trace_rollup)"),
        _r("count_incidents", "estimated", _ROLLUP,
           "the planner's estimate (changes the answer)"),),
    "get_incident": (),
    "semantic_search": (
        _r("semantic_search", "topk_prewarmed", {IO_BOUND, SCAN_ALL_ROWS},
           "the threshold after the LIMIT (k rows read, not every candidate a far search "
           "rejects) + the HNSW graphs and the joined tables prewarmed at start: a cold search "
           "reads its k trace rows"),
        _r("semantic_search", "topk", {SCAN_ALL_ROWS, IO_BOUND},
           "the threshold after the LIMIT: a search with nothing above the threshold reads k "
           "trace rows instead of ef_search per partition"),
        _r("semantic_search", "prewarmed", {IO_BOUND},
           "pg_prewarm every HNSW index after each server start (shipped SQL): the first "
           "search reads no index page from disk; costs start-up seconds and shared buffers"),
        _r("semantic_search", "halfvec_prewarmed", {IO_BOUND},
           "half-size HNSW expression index (halfvec) prewarmed at start: 60 % of the shared "
           "buffers (declared: near-ties may reorder)"),
        _r("semantic_search", "halfvec", {IO_BOUND},
           "half-size HNSW expression index (halfvec): more of it stays cached (declared: "
           "near-ties may reorder)"),
        _r("semantic_search", "iterative", {HNSW_SHORT, IO_BOUND},
           "ef_search 100 + strict iterative scan: k rows whenever k qualify"),
        _r("semantic_search", "tuned", {HNSW_SHORT},
           "ef_search 100 applied for real (SET LOCAL in a transaction)"),),
    "success_rate": (
        _r("success_rate", "rollup", _ROLLUP, "exact trigger-maintained rollup (trace_rollup)"),),
    "by_namespace": (
        _r("by_namespace", "daily", _ROLLUP,
           "exact per-day namespace rollup (trace_daily): namespaces × days rows"),
        _r("by_namespace", "rollup", _ROLLUP, "exact trigger-maintained rollup (trace_rollup)"),),
    "severity_distribution": (
        _r("severity_distribution", "rollup", _ROLLUP,
           "exact trigger-maintained rollup (trace_rollup)"),),
    "trend": (
        _r("trend", "daily", _DAILY, _DAILY_WHAT),
        _r("trend", "covering", _WINDOW,
           "window bounded on the partition key + covering index: index-only range scan"),
        _r("trend", "partition_bound", {NO_PRUNING, SCAN_ALL_ROWS},
           "window bounded on the partition key: partitions pruned"),
        _r("trend", "indexed", {SCAN_ALL_ROWS}, "index on created_at in every partition"),),
    "filtered_aggregation": (
        _r("filtered_aggregation", "cube", _ROLLUP | _DAILY,
           "exact trigger-maintained day/hour cubes, distinct counts as bitmasks (filter_cube): "
           "whole days and hours from the cubes, partial hours/days from an index range scan"),
        _r("filtered_aggregation", "rollup", _ROLLUP | _WINDOW,
           "rollup without a time range, covering window index with one"),),
    "top_failing_actions": (
        _r("top_failing_actions", "daily", _DAILY, _DAILY_WHAT),
        _r("top_failing_actions", "covering", _WINDOW,
           "covering (action_timestamp) index: index-only range scan of the window"),
        _r("top_failing_actions", "indexed", {SCAN_ALL_ROWS, NO_PRUNING},
           "(action_timestamp DESC, id DESC) index: range scan + heap fetches"),),
    "action_comparison": (
        _r("action_comparison", "daily", _DAILY, _DAILY_WHAT),
        _r("action_comparison", "covering", _WINDOW,
           "covering (action_timestamp) index: index-only range scan of the window"),),
    "namespace_health": (
        _r("namespace_health", "daily", _DAILY, _DAILY_WHAT),
        _r("namespace_health", "covering", _WINDOW,
           "covering (action_timestamp) index: index-only window joined to the namespace"),),
}


def remedies_for(query: str) -> tuple[Remedy, ...]:
    return REMEDIES.get(query, ())


def remedy(query: str, variant: str) -> Remedy | None:
    return next((r for r in remedies_for(query) if r.variant == variant), None)


def addressing(query: str, causes: set[str] | frozenset[str]) -> list[Remedy]:
    """The query's remedies that address at least one of ``causes``, best coverage first."""
    found = [r for r in remedies_for(query) if r.addresses & causes]
    return sorted(found, key=lambda r: -len(r.addresses & causes))
