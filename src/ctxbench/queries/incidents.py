"""Q1 list, Q2 count, Q3 get-by-id: the incident queries over the three-table join.

SQL is written as the service built it (reference §2–3), quirks kept:
- namespace comes from ``rr.namespace`` and target_resource is ``rr.kind`` only;
- the list order is ``rat.action_timestamp DESC`` with no tie-breaker, so pages are unstable
  where timestamps tie (quirk: unstable pagination);
- get-by-id filters ``rat.id`` alone, which cannot prune partitions (quirk: one primary-key
  probe per partition);
- the executor only applied namespace and severity; the builder's other filters (cluster,
  environment, action type, time range) are supported here for the builder surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctxbench.queries.model import OnStart, Query, Variant
from ctxbench.queries.validation import INT64_MAX, Checker

# The 19 incident fields, in the service's select order (reference §2).
INCIDENT_FIELDS = (
    "id", "name", "alert_fingerprint", "remediation_request_id", "namespace", "cluster_name",
    "environment", "target_resource", "phase", "status", "severity", "action_type",
    "start_time", "end_time", "duration", "error_message", "metadata", "created_at",
    "updated_at",
)

# The service's reading of execution_status (anything unknown, NULL included, is pending).
PHASE_OF_STATUS = {"completed": "completed", "failed": "failed", "rolled-back": "failed",
                   "pending": "pending", "executing": "processing"}


def phase_for_status(status: str | None) -> str:
    return PHASE_OF_STATUS.get(status or "", "pending")


SELECT_INCIDENT = """SELECT
    rat.id,
    rat.alert_name AS name,
    rat.alert_fingerprint,
    rat.action_id AS remediation_request_id,
    rr.namespace,
    rat.cluster_name,
    rat.environment,
    rr.kind AS target_resource,
    CASE rat.execution_status
        WHEN 'completed' THEN 'completed'
        WHEN 'failed' THEN 'failed'
        WHEN 'rolled-back' THEN 'failed'
        WHEN 'pending' THEN 'pending'
        WHEN 'executing' THEN 'processing'
        ELSE 'pending'
    END AS phase,
    rat.execution_status AS status,
    rat.alert_severity AS severity,
    rat.action_type,
    rat.action_timestamp AS start_time,
    rat.execution_end_time AS end_time,
    rat.execution_duration_ms AS duration,
    rat.execution_error AS error_message,
    rat.action_parameters::TEXT AS metadata,
    rat.created_at,
    rat.updated_at"""

FROM_JOINS = """FROM resource_action_traces rat
JOIN action_histories ah ON rat.action_history_id = ah.id
JOIN resource_references rr ON ah.resource_id = rr.id"""

# Filter parameters in the order the builder appended them, with their conditions.
LIST_FILTERS = (
    ("namespace", "rr.namespace = %(namespace)s"),
    ("severity", "rat.alert_severity = %(severity)s"),
    ("cluster_name", "rat.cluster_name = %(cluster_name)s"),
    ("environment", "rat.environment = %(environment)s"),
    ("action_type", "rat.action_type = %(action_type)s"),
    ("start_time", "rat.action_timestamp BETWEEN %(start_time)s AND %(end_time)s"),
)
BUILDER_ONLY = ("cluster_name", "environment", "action_type", "start_time", "end_time")
FILTER_KEYS = ("namespace", "severity", "cluster_name", "environment", "action_type",
               "start_time", "end_time")


def where_clause(params: Mapping[str, Any], filters=LIST_FILTERS,
                 keyword: str = "WHERE") -> tuple[str, dict[str, Any]]:
    conds, args = [], {}
    for key, cond in filters:
        if params.get(key) is not None:
            conds.append(cond)
            args[key] = params[key]
            if key == "start_time":
                args["end_time"] = params["end_time"]
    if not conds:
        return "", args
    return f"{keyword} " + "\n  AND ".join(conds), args


# -- Q1 list -----------------------------------------------------------------------------------
LIST_SQL = f"""{SELECT_INCIDENT}
{FROM_JOINS}
{{where}}
ORDER BY rat.action_timestamp DESC
LIMIT %(limit)s OFFSET %(offset)s"""
# Quirk kept: no tie-breaker. The stable variant adds rat.id.
LIST_STABLE_SQL = LIST_SQL.replace("ORDER BY rat.action_timestamp DESC",
                                   "ORDER BY rat.action_timestamp DESC, rat.id DESC")
# The page's rows in full, from a CTE `page` of their (id, action_timestamp) keys.
PAGE_ROWS = f"""{SELECT_INCIDENT}
FROM page
JOIN resource_action_traces rat
  ON rat.id = page.id AND rat.action_timestamp = page.action_timestamp
JOIN action_histories ah ON rat.action_history_id = ah.id
JOIN resource_references rr ON ah.resource_id = rr.id
ORDER BY rat.action_timestamp DESC, rat.id DESC"""
# Remedy: a deferred join. The page's keys come from an index-only walk (list_covering), then
# only those rows are read in full.
LIST_DEFERRED_SQL = f"""WITH page AS MATERIALIZED (
    SELECT rat.id, rat.action_timestamp
    {FROM_JOINS.replace(chr(10), chr(10) + "    ")}
    {{where}}
    ORDER BY rat.action_timestamp DESC, rat.id DESC
    LIMIT %(limit)s OFFSET %(offset)s)
{PAGE_ROWS}"""

# Remedy: skip whole days by their counts (schema variants list_covering + list_day_counts).
# The counts per (UTC day, namespace, severity) for the set's filters (without a namespace
# filter: the per-(day, severity) totals, fewer rows to sum), summed newest day first, say on
# which day the page's first row lies (the newest day whose running count exceeds OFFSET) and
# on which day its last row lies (the newest day whose running count reaches OFFSET + LIMIT;
# none: the page runs to the oldest trace). The walk is bounded to those days, and skips only
# OFFSET minus the rows of the newer days. Past the end: no day, the bounds are NULL and
# nothing is read. The namespace is tested with a hashed subplan of that namespace's history
# ids (an index-only range of list_history_namespaces, kept by the same triggers as the counts;
# one hash probe per index entry; the `IS TRUE` keeps the planner from turning it into a join
# probed per entry, which reads the histories' and resources' heap pages: measured warm as
# fast, but up to ~1,500 random page reads cold); with no namespace filter the page needs no
# join at all (every trace has exactly one history and one resource: NOT NULL foreign keys).
LIST_SKIP_SQL = f"""WITH days AS (
    SELECT day, sum(n) AS n
    FROM {{counts}}
    {{count_where}}
    GROUP BY day
    HAVING sum(n) > 0
), bounds AS MATERIALIZED (
    SELECT max(day) FILTER (WHERE upto >= %(offset)s + %(limit)s) AS last_day,
           max(day) FILTER (WHERE upto > %(offset)s) AS first_day,
           %(offset)s - min(upto - n) FILTER (WHERE upto > %(offset)s) AS skip
    FROM (SELECT day, n, sum(n) OVER (ORDER BY day DESC) AS upto FROM days) running
), page AS MATERIALIZED (
    SELECT rat.id, rat.action_timestamp
    FROM resource_action_traces rat
    WHERE rat.action_timestamp >= COALESCE(
              (SELECT last_day::timestamp AT TIME ZONE 'UTC' FROM bounds), '-infinity')
      AND rat.action_timestamp <
              (SELECT (first_day + 1)::timestamp AT TIME ZONE 'UTC' FROM bounds)
      {{page_where}}
    ORDER BY rat.action_timestamp DESC, rat.id DESC
    LIMIT %(limit)s OFFSET (SELECT skip::bigint FROM bounds))
{PAGE_ROWS}"""
# What a cold page of `skip_prewarmed` should find in shared buffers (123 MB at 1M, measured): the
# joined tables and their keys, the day counts, the namespaces' histories and the covering
# index the page walks; the page's own trace rows stay on disk.
PREWARM_LIST = OnStart(("action_histories", "action_histories_pkey", "resource_references",
                        "resource_references_pkey", "list_day_counts", "list_day_counts_key",
                        "list_day_totals", "list_history_namespaces",
                        "idx_list_history_namespaces", "idx_rat_ts_id_covering"))

SKIP_COUNT_FILTERS = (("namespace", "namespace = %(namespace)s"),
                      ("severity", "alert_severity = %(severity)s"))
SKIP_PAGE_FILTERS = (
    ("namespace", """(rat.action_history_id IN (
          SELECT h.action_history_id FROM list_history_namespaces h
          WHERE h.namespace = %(namespace)s)) IS TRUE"""),
    ("severity", "rat.alert_severity = %(severity)s"),
)


def _render_skip(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    count_where, args = where_clause(params, SKIP_COUNT_FILTERS)
    page_where, _ = where_clause(params, SKIP_PAGE_FILTERS, keyword="AND")
    args["limit"] = params.get("limit", 100)
    args["offset"] = params.get("offset", 0)
    counts = "list_day_counts" if params.get("namespace") is not None else "list_day_totals"
    sql = LIST_SKIP_SQL.replace("{counts}", counts)
    sql = sql.replace("    {count_where}\n",
                                f"    {count_where}\n" if count_where else "")
    sql = sql.replace("      {page_where}\n",
                      "      " + page_where.replace("\n", "\n    ") + "\n" if page_where else "")
    return sql, args


def _validate_list(params: Mapping[str, Any], surface: str, *, paged: bool) -> dict[str, Any]:
    name = "list_incidents" if paged else "count_incidents"
    allowed = (*FILTER_KEYS, "limit", "offset") if paged else FILTER_KEYS
    c = Checker(name, params, allowed, surface)
    c.only_on_builder(BUILDER_ONLY)
    c.text("namespace", max_len=63)
    c.text("severity", max_len=20)
    c.text("cluster_name", max_len=100)
    c.text("environment", max_len=20)
    c.text("action_type", max_len=50)
    c.time_range("start_time", "end_time")
    if paged:
        if surface == "http":
            c.integer("limit", 10, 1, 100)
        else:
            c.integer("limit", 100, 1, 1000)
        c.integer("offset", 0, 0, None)
    return c.out


def _render_list(variant: Variant, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    where, args = where_clause(params)
    args["limit"] = params.get("limit", 100)
    args["offset"] = params.get("offset", 0)
    sql = variant.sql
    if sql is LIST_SKIP_SQL:
        if not any(params.get(k) is not None for k in BUILDER_ONLY):
            return _render_skip(params)
        sql = LIST_DEFERRED_SQL  # filters the day counts do not carry: deferred's plan
    if sql is LIST_DEFERRED_SQL:
        where = where.replace("\n", "\n    ")
        return sql.replace("    {where}\n", f"    {where}\n" if where else ""), args
    return variant.sql.replace("{where}\n", f"{where}\n" if where else ""), args


def incident_dict(row: tuple) -> dict[str, Any]:
    return dict(zip(INCIDENT_FIELDS, row, strict=False))


def _incidents(rows: list[tuple], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [incident_dict(r) for r in rows]


PARAMS_DOC_FILTERS = {
    "namespace": "rr.namespace = (optional)",
    "severity": "rat.alert_severity = (optional)",
    "cluster_name": "rat.cluster_name = (optional, builder only)",
    "environment": "rat.environment = (optional, builder only)",
    "action_type": "rat.action_type = (optional, builder only)",
    "start_time/end_time": "rat.action_timestamp BETWEEN (optional, together, builder only)",
}

list_incidents = Query(
    name="list_incidents",
    description="Q1: one page of incidents (3-table join), newest first.",
    tags=frozenset({"list"}),
    params_doc={**PARAMS_DOC_FILTERS,
                "limit": "builder 1–1000 (default 100); http 1–100 (default 10)",
                "offset": ">= 0 (default 0)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", LIST_SQL,
            "As shipped: ORDER BY rat.action_timestamp DESC with no tie-breaker, LIMIT/OFFSET "
            "as consecutive placeholders; needs a top-N sort over every matching joined row "
            "(no index is led by action_timestamp)."),
        "stable_order": Variant(
            "stable_order", LIST_STABLE_SQL,
            "Adds rat.id DESC as a tie-breaker. Changes the answer only among rows with equal "
            "action_timestamp, where the shipped order is undefined (a bug: pages can repeat "
            "or skip rows).", changes_answer=True),
        "indexed": Variant(
            "indexed", LIST_STABLE_SQL,
            "stable_order's SQL on the list_order_index schema variant: indexes on "
            "(action_timestamp DESC, id DESC) and (alert_severity, action_timestamp DESC, "
            "id DESC) let the planner walk partitions newest-first and stop at the LIMIT "
            "instead of sorting. Same answer as stable_order.",
            schema_variant="list_order_index", changes_answer=True),
        "deferred": Variant(
            "deferred", LIST_DEFERRED_SQL,
            "A deferred join on the list_covering schema variant: the page's (id, "
            "action_timestamp) keys come from an index-only newest-first walk of "
            "(action_timestamp DESC, id DESC) INCLUDE (action_history_id, filter columns), "
            "OFFSET rows skipped in the index, then only the page's rows are read from the "
            "heap and joined. Same answer as stable_order (id DESC breaks ties).",
            schema_variant="list_covering", changes_answer=True),
        "skip": Variant(
            "skip", LIST_SKIP_SQL,
            "Skips whole days by their counts (list_day_counts: exact trigger-maintained "
            "counts per UTC day of action_timestamp, namespace and severity) on "
            "list_covering's index: the running count newest day first gives the days where "
            "the page starts and ends, the index walk is bounded to them and skips only "
            "OFFSET minus the rows of newer days; past-the-end pages read no trace. The "
            "namespace is one hash of its history ids (list_history_namespaces); no filter: "
            "no join. Builder-only "
            "filters (cluster, environment, action type, time range) run deferred's plan. "
            "Same answer as stable_order (id DESC breaks ties).",
            schema_variant="list_covering+list_day_counts", changes_answer=True),
        "skip_prewarmed": Variant(
            "skip_prewarmed", LIST_SKIP_SQL,
            "skip (see there; the same statement) plus the server-start action: "
            f"{PREWARM_LIST.text()} (123 MB at 1M: everything a cold page reads except its "
            "own trace rows, ~1 random heap read per row). Same answer as stable_order.",
            schema_variant="list_covering+list_day_counts", changes_answer=True,
            on_start=PREWARM_LIST),
    },
    _validate=lambda p, s: _validate_list(p, s, paged=True),
    _render=_render_list,
    _to_result=_incidents,
)

# -- Q2 count ----------------------------------------------------------------------------------
COUNT_SQL = f"""SELECT COUNT(*)
{FROM_JOINS}
{{where}}
"""


# Remedy: the exact rollup (schema variant trace_rollup) answers every filter but the time
# range; with a time range the shipped statement runs.
ROLLUP_FILTERS = (
    ("namespace", "namespace = %(namespace)s"),
    ("severity", "alert_severity = %(severity)s"),
    ("cluster_name", "cluster_name = %(cluster_name)s"),
    ("environment", "environment = %(environment)s"),
    ("action_type", "action_type = %(action_type)s"),
)
COUNT_ROLLUP_SQL = """SELECT COALESCE(SUM(n), 0)::bigint
FROM trace_rollup
{where}
"""
# Remedy: the planner's estimate (schema variant count_estimate); changes the answer.
COUNT_ESTIMATE_SQL = """SELECT ctxbench_count_estimate(%(namespace)s, %(severity)s,
    %(cluster_name)s, %(environment)s, %(action_type)s, %(start_time)s, %(end_time)s)"""


def _render_count(variant: Variant, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if variant.sql is COUNT_ESTIMATE_SQL:
        return variant.sql, {k: params.get(k) for k in FILTER_KEYS}
    if variant.sql is COUNT_ROLLUP_SQL and params.get("start_time") is None:
        where, args = where_clause(params, ROLLUP_FILTERS)
        sql = variant.sql.replace("{where}\n", f"{where}\n" if where else "")
        return sql.rstrip("\n"), args
    where, args = where_clause(params)
    sql = COUNT_SQL.replace("{where}\n", f"{where}\n" if where else "")
    return sql.rstrip("\n"), args


count_incidents = Query(
    name="count_incidents",
    description="Q2: total for the list's filters (runs after Q1 on every cache miss).",
    tags=frozenset({"list"}),
    params_doc=PARAMS_DOC_FILTERS,
    variants={
        "as_shipped": Variant(
            "as_shipped", COUNT_SQL,
            "As shipped: COUNT(*) over the same joins and WHERE, no ORDER BY or LIMIT."),
        "rollup": Variant(
            "rollup", COUNT_ROLLUP_SQL,
            "SUM(n) over the trace_rollup table (one row per namespace, severity, cluster, "
            "environment, action type and status; kept exact by statement triggers) for every "
            "filter but the time range; with start_time/end_time the shipped COUNT runs. Same "
            "answer (the joins cannot drop a trace: both foreign keys are NOT NULL).",
            schema_variant="trace_rollup"),
        "estimated": Variant(
            "estimated", COUNT_ESTIMATE_SQL,
            "The planner's row estimate for the list's join and filters "
            "(ctxbench_count_estimate: EXPLAIN without execution), for a UI that shows "
            "'about N'. Changes the answer: off by the statistics' error (within 10x on the "
            "CI dataset where the count is 100 or more; 1 or more for filters matching "
            "nothing); reads statistics only.",
            schema_variant="count_estimate", changes_answer=True),
    },
    _validate=lambda p, s: _validate_list(p, s, paged=False),
    _render=_render_count,
    _to_result=lambda rows, params: int(rows[0][0]),
)

# -- Q3 get by id ------------------------------------------------------------------------------
GET_SQL = f"""{SELECT_INCIDENT}
{FROM_JOINS}
WHERE rat.id = %(id)s"""


def _validate_get(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("get_incident", params, ("id",), surface)
    c.integer("id", None, 1, INT64_MAX, required=True)
    return c.out


get_incident = Query(
    name="get_incident",
    description="Q3: one incident by trace id (None when it does not exist: the 404).",
    tags=frozenset({"point"}),
    params_doc={"id": "rat.id, 1..2^63-1 (required)"},
    variants={"as_shipped": Variant(
        "as_shipped", GET_SQL,
        "As shipped: WHERE rat.id = $1 alone cannot prune partitions, so every partition's "
        "primary key (id, action_timestamp) is probed.")},
    _validate=_validate_get,
    _render=lambda v, p: (v.sql, {"id": int(p["id"])}),
    _to_result=lambda rows, params: incident_dict(rows[0]) if rows else None,
)
