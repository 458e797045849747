"""The aggregation queries (reference §3), never cached by the service.

Quirks kept, each named where it lives:
- success_rate has no WHERE at all (its workflow_id parameter is required over HTTP, then
  ignored): a full scan of every partition;
- trend filters ``created_at``, which is not the partition key: every partition is scanned;
  ``DATE(created_at)`` follows the session's TimeZone;
- filtered_aggregation compares its "phase" filter directly with execution_status (so
  phase='processing' matches nothing: the stored value is 'executing');
- the time-window queries take a Go duration string (``24h0m0s``) cast to ``interval``;
- namespace_health's score is computed in the application, not in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ctxbench.queries.incidents import FROM_JOINS, where_clause
from ctxbench.queries.model import Query, Variant
from ctxbench.queries.validation import Checker

MAX_WINDOW_S = 365 * 86400.0  # ctxbench's bound on Go-duration windows (the service had none)
DEFAULT_WINDOW = "168h0m0s"
HEALTH_LATENCY_REF_MS = 300000.0


def _num(value: Any) -> float:
    return float(value) if isinstance(value, Decimal) else float(value or 0)


def _no_params(name: str, *, http_key: str | None = None):
    def validate(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
        c = Checker(name, params, (http_key,) if http_key else (), surface)
        if http_key:
            c.text(http_key, required=surface == "http")
        return c.out
    return validate


# -- success rate ------------------------------------------------------------------------------
SUCCESS_RATE_SQL = """SELECT
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE execution_status = 'completed') AS completed
FROM resource_action_traces"""

SUCCESS_RATE_ROLLUP_SQL = """SELECT
    COALESCE(SUM(n), 0)::bigint AS total,
    COALESCE(SUM(n) FILTER (WHERE execution_status = 'completed'), 0)::bigint AS completed
FROM trace_rollup"""


def _success_rate(rows: list[tuple], params: Mapping[str, Any]) -> dict[str, Any]:
    total, completed = int(rows[0][0]), int(rows[0][1])
    return {"total": total, "completed": completed,
            "success_rate": completed / total if total else 0.0}


success_rate = Query(
    name="success_rate",
    description="GET /aggregations/success-rate: completed share of every trace (no WHERE).",
    tags=frozenset({"aggregate"}),
    params_doc={"workflow_id": "required over HTTP, ignored by the query (quirk)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", SUCCESS_RATE_SQL,
            "As shipped: resource_action_traces alone with no WHERE (the workflow_id parameter "
            "is ignored), so every partition is read."),
        "rollup": Variant(
            "rollup", SUCCESS_RATE_ROLLUP_SQL,
            "SUM over the trace_rollup table (exact, trigger-maintained): reads a few "
            "thousand rollup rows instead of every trace. Same answer.",
            schema_variant="trace_rollup"),
    },
    _validate=_no_params("success_rate", http_key="workflow_id"),
    parameterless=True,
    _render=lambda v, p: (v.sql, {}),
    _to_result=_success_rate,
)

# -- by namespace ------------------------------------------------------------------------------
BY_NAMESPACE_SQL = f"""SELECT
    rr.namespace,
    COUNT(*) AS count,
    COUNT(*) FILTER (WHERE rat.execution_status = 'completed') AS completed
{FROM_JOINS}
WHERE rr.namespace IS NOT NULL
GROUP BY rr.namespace
ORDER BY count DESC"""
BY_NAMESPACE_ROLLUP_SQL = """SELECT
    namespace,
    SUM(n)::bigint AS count,
    COALESCE(SUM(n) FILTER (WHERE execution_status = 'completed'), 0)::bigint AS completed
FROM trace_rollup
WHERE namespace IS NOT NULL
GROUP BY namespace
HAVING SUM(n) > 0
ORDER BY count DESC"""

BY_NAMESPACE_DAILY_SQL = """SELECT
    namespace,
    SUM(n)::bigint AS count,
    SUM(n_completed)::bigint AS completed
FROM trace_daily_namespaces
GROUP BY namespace
HAVING SUM(n) > 0
ORDER BY count DESC"""

by_namespace = Query(
    name="by_namespace",
    description="GET /aggregations/namespaces: traces and completed traces per namespace.",
    tags=frozenset({"aggregate"}),
    variants={
        "as_shipped": Variant(
            "as_shipped", BY_NAMESPACE_SQL,
            "As shipped: 3-table join, namespace NOT NULL, GROUP BY rr.namespace ORDER BY "
            "count DESC (ties in count come back in no defined order)."),
        "rollup": Variant(
            "rollup", BY_NAMESPACE_ROLLUP_SQL,
            "GROUP BY namespace over the trace_rollup table (exact, trigger-maintained). Same "
            "answer (ties in count in no defined order, as shipped).",
            schema_variant="trace_rollup"),
        "daily": Variant(
            "daily", BY_NAMESPACE_DAILY_SQL,
            "GROUP BY namespace over trace_daily_namespaces, the per-day namespace rollup of "
            "trace_daily (one row per namespace and day: thousands of rows, where trace_rollup "
            "has one per combination of six dimensions). Exact, trigger-maintained; it holds "
            "only traces with a namespace, as the shipped WHERE does. Same answer (ties in "
            "count in no defined order, as shipped).",
            schema_variant="trace_daily"),
    },
    _validate=_no_params("by_namespace"),
    parameterless=True,
    _render=lambda v, p: (v.sql, {}),
    _to_result=lambda rows, p: [{"namespace": r[0], "count": int(r[1]), "completed": int(r[2])}
                                for r in rows],
)

# -- severity distribution ---------------------------------------------------------------------
SEVERITY_SQL = f"""SELECT
    rat.alert_severity AS severity,
    COUNT(*) AS count
{FROM_JOINS}
{{where}}
GROUP BY rat.alert_severity
ORDER BY count DESC"""

SEVERITY_ROLLUP_SQL = """SELECT
    alert_severity AS severity,
    SUM(n)::bigint AS count
FROM trace_rollup
{where}
GROUP BY alert_severity
HAVING SUM(n) > 0
ORDER BY count DESC"""


def _validate_severity(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("severity_distribution", params, ("namespace",), surface)
    c.text("namespace", max_len=63, empty_is_none=True)  # the service skips an empty namespace
    return c.out


def _render_severity(v: Variant, p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    column = "namespace" if v.sql is SEVERITY_ROLLUP_SQL else "rr.namespace"
    where, args = where_clause(p, (("namespace", f"{column} = %(namespace)s"),))
    return v.sql.replace("{where}\n", f"{where}\n" if where else ""), args


severity_distribution = Query(
    name="severity_distribution",
    description="GET /aggregations/severity: traces per alert severity, optionally in one "
                "namespace.",
    tags=frozenset({"aggregate"}),
    params_doc={"namespace": "optional; empty means all namespaces"},
    variants={
        "as_shipped": Variant(
            "as_shipped", SEVERITY_SQL,
            "As shipped: 3-table join, rr.namespace filter only when a namespace is given, "
            "GROUP BY alert_severity ORDER BY count DESC."),
        "rollup": Variant(
            "rollup", SEVERITY_ROLLUP_SQL,
            "GROUP BY alert_severity over the trace_rollup table (exact, trigger-maintained), "
            "namespace filter on the rollup's column. Same answer.",
            schema_variant="trace_rollup"),
    },
    _validate=_validate_severity,
    _render=_render_severity,
    _to_result=lambda rows, p: [{"severity": r[0], "count": int(r[1])} for r in rows],
)

# -- trend -------------------------------------------------------------------------------------
# Quirk kept: created_at is not the partition key, so no partition is pruned.
TREND_SQL = """SELECT
    DATE(created_at) AS date,
    COUNT(*) AS count,
    COUNT(execution_end_time) AS completed
FROM resource_action_traces
WHERE created_at >= NOW() - %(days)s * INTERVAL '1 day'
GROUP BY DATE(created_at)
ORDER BY date DESC"""
TREND_SLACK = "1 day"
TREND_BOUNDED_SQL = TREND_SQL.replace(
    "WHERE created_at >= NOW() - %(days)s * INTERVAL '1 day'",
    "WHERE created_at >= NOW() - %(days)s * INTERVAL '1 day'\n"
    f"  AND action_timestamp >= NOW() - %(days)s * INTERVAL '1 day' - INTERVAL '{TREND_SLACK}'")


# Remedy (schema variant trace_daily): whole UTC days after the window's first day from the
# per-day rollups, the first (partial) day from an index range scan of the traces. The window
# has no upper bound, so today's and any later day's rows are in the rollup rows too.
# The trend's days are the session's: the rollup (UTC days) answers in a UTC session only.
SESSION_IS_UTC = "trace_daily_utc_session()"


def _edge(start: str) -> tuple[str, str]:
    """(the UTC day the window starts in, the timestamptz at which the next UTC day starts)."""
    day = f"(({start}) AT TIME ZONE 'UTC')::date"
    return day, f"(({day} + 1)::timestamp AT TIME ZONE 'UTC')"


TREND_START = "NOW() - %(days)s * INTERVAL '1 day'"
_TREND_DAY, _TREND_NEXT = _edge(TREND_START)
TREND_DAILY_SQL = f"""SELECT date, count, completed
FROM (
    SELECT day AS date, n AS count, n_ended AS completed
    FROM trace_daily_created
    WHERE day > {_TREND_DAY}
      AND n > 0
      AND {SESSION_IS_UTC}
    UNION ALL
    SELECT DATE(created_at), COUNT(*), COUNT(execution_end_time)
    FROM resource_action_traces
    WHERE created_at >= {TREND_START}
      AND created_at < {_TREND_NEXT}
      AND {SESSION_IS_UTC}
    GROUP BY DATE(created_at)
    UNION ALL
    SELECT DATE(created_at), COUNT(*), COUNT(execution_end_time)
    FROM resource_action_traces
    WHERE created_at >= {TREND_START}
      AND NOT {SESSION_IS_UTC}
    GROUP BY DATE(created_at)
) days
ORDER BY date DESC"""


def _validate_trend(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("trend", params, ("days",), surface)
    c.integer("days", 30, 1, 365)
    return c.out


trend = Query(
    name="trend",
    description="GET /aggregations/trend: traces per day created in the last N days.",
    tags=frozenset({"aggregate"}),
    params_doc={"days": "1–365 (default 30)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", TREND_SQL,
            "As shipped: filters created_at >= NOW() - days, which is not the partition key, so "
            "every partition is scanned; groups by DATE(created_at) in the session time zone."),
        "partition_bound": Variant(
            "partition_bound", TREND_BOUNDED_SQL,
            "Adds action_timestamp >= NOW() - days - 1 day so partitions outside the window are "
            "pruned (NOW() is stable, so the pruning happens at executor start-up: the plan "
            "shows 'Subplans Removed'). "
            "Same answer as long as no trace was recorded (created_at) more than 1 day after "
            "its action (action_timestamp); a trace recorded later than that and inside the "
            "window is dropped. The dataset profile reports the maximum lag so a run can "
            "check it."),
        "indexed": Variant(
            "indexed", TREND_SQL,
            "The shipped SQL on the created_at_index schema variant (an index on created_at in "
            "every partition): each partition is still visited, but through an index range "
            "instead of a full scan. Same answer.",
            schema_variant="created_at_index"),
        "covering": Variant(
            "covering", TREND_BOUNDED_SQL,
            "partition_bound's SQL on the window_covering schema variant: partitions outside "
            "the window are pruned and the window is an index-only range scan of "
            "(action_timestamp) INCLUDE (created_at, execution_end_time, ...), never the "
            "3.6 kB heap rows. Same answer as partition_bound.",
            schema_variant="window_covering"),
        "daily": Variant(
            "daily", TREND_DAILY_SQL,
            "The trace_daily schema variant's per-day rollup (one row per UTC day of "
            "created_at, trigger-maintained): every day after the window's first one from the "
            "rollup, the first (partial) day from an index-only range scan of created_at. Days "
            "are UTC days, so the rollup answers only in a session whose TimeZone is UTC (the "
            "embedded server's here); in any other session the shipped statement runs (a "
            "one-time filter picks the branch). Same answer.",
            schema_variant="trace_daily"),
    },
    _validate=_validate_trend,
    _render=lambda v, p: (v.sql, {"days": int(p.get("days", 30))}),
    _to_result=lambda rows, p: [{"date": r[0], "count": int(r[1]), "completed": int(r[2])}
                                for r in rows],
)

# -- filtered aggregation (AggregateWithFilters) -----------------------------------------------
FILTERED_SQL = f"""SELECT
    COUNT(*) AS total,
    COUNT(DISTINCT rr.namespace) AS namespaces,
    COUNT(DISTINCT rat.cluster_name) AS clusters,
    COUNT(DISTINCT rat.action_type) AS action_types,
    CASE WHEN COUNT(*) > 0
         THEN COUNT(*) FILTER (WHERE rat.execution_status = 'completed')::float8 / COUNT(*)
         ELSE 0 END AS success_rate,
    COALESCE(AVG(rat.execution_duration_ms), 0) AS avg_duration_ms
{FROM_JOINS}
{{where}}"""
# Quirk kept: "phase" is compared with execution_status as given.
FILTERED_FILTERS = (
    ("namespace", "rr.namespace = %(namespace)s"),
    ("cluster_name", "rat.cluster_name = %(cluster_name)s"),
    ("environment", "rat.environment = %(environment)s"),
    ("severity", "rat.alert_severity = %(severity)s"),
    ("action_type", "rat.action_type = %(action_type)s"),
    ("phase", "rat.execution_status = %(phase)s"),
    ("start_time", "rat.action_timestamp >= %(start_time)s"),
    ("end_time", "rat.action_timestamp <= %(end_time)s"),
)
FILTERED_KEYS = tuple(k for k, _ in FILTERED_FILTERS)

# Remedy: without a time range the filtered aggregation is answered from trace_rollup.
FILTERED_ROLLUP_SQL = """SELECT
    COALESCE(SUM(n), 0)::bigint AS total,
    COUNT(DISTINCT namespace) AS namespaces,
    COUNT(DISTINCT cluster_name) AS clusters,
    COUNT(DISTINCT action_type) AS action_types,
    CASE WHEN COALESCE(SUM(n), 0) > 0
         THEN COALESCE(SUM(n) FILTER (WHERE execution_status = 'completed'), 0)::float8
              / SUM(n)
         ELSE 0 END AS success_rate,
    COALESCE(SUM(duration_sum)::numeric / NULLIF(SUM(duration_n), 0), 0) AS avg_duration_ms
FROM trace_rollup
WHERE n > 0{where}"""
FILTERED_ROLLUP_FILTERS = (
    ("namespace", "namespace = %(namespace)s"),
    ("cluster_name", "cluster_name = %(cluster_name)s"),
    ("environment", "environment = %(environment)s"),
    ("severity", "alert_severity = %(severity)s"),
    ("action_type", "action_type = %(action_type)s"),
    ("phase", "execution_status = %(phase)s"),
)


# Remedy (schema variant filter_cube): trigger-maintained cubes whose cells carry counts and the
# three distinct counts as bitmasks of coded values (OR-ed, counted with bit_count). Every whole
# UTC day of the range from the day cube (its '-' slice without a high-cardinality filter, the
# namespace / cluster / action type slice with one of them, trace_filter_combo with two or
# three), the rest from the traces: without a high-cardinality filter or with a namespace, the
# whole hours of the first and last days from the hour cube and only the partial hours at both
# ends from the traces; otherwise the partial first and last days (filtered on the values).
# Traces read from the table get their namespace code from trace_filter_histories, one probe
# per history. Two or three high-cardinality filters without a range: the rollup variant. A
# one-time filter runs the shipped statement (a PL/pgSQL function) instead when a dimension has
# a value coded beyond the 64 bits of a mask.
CUBE_LOW = (
    ("environment", "environment = %(environment)s"),
    ("severity", "alert_severity = %(severity)s"),
    ("phase", "execution_status = %(phase)s"),
)
CUBE_HIGH = (  # filter key, slice, condition on the traces
    ("namespace", "n", ""),  # filtered on the traces' histories (hist.ns_code)
    ("cluster_name", "c", "cluster_name = %(cluster_name)s"),
    ("action_type", "t", "action_type = %(action_type)s"),
)
CUBE_START, CUBE_END = "%(start_time)s::timestamptz", "%(end_time)s::timestamptz"


def _utc_day(ts: str) -> str:
    return f"(({ts}) AT TIME ZONE 'UTC')::date"


def _midnight(day: str) -> str:
    return f"(({day})::timestamp AT TIME ZONE 'UTC')"


def _hour(ts: str) -> str:
    return f"date_trunc('hour', {ts}, 'UTC')"


_SUMS = """coalesce(sum(n), 0)::bigint AS n, coalesce(sum(n_completed), 0)::bigint AS n_completed,
           coalesce(sum(duration_sum), 0)::bigint AS duration_sum,
           coalesce(sum(duration_n), 0)::bigint AS duration_n,
           coalesce(bit_or(ns_mask), 0) AS ns_mask,
           coalesce(bit_or(cluster_mask), 0) AS cluster_mask,
           coalesce(bit_or(type_mask), 0) AS type_mask"""
_COMBO_SUMS = """coalesce(sum(n), 0)::bigint AS n,
           coalesce(sum(n_completed), 0)::bigint AS n_completed,
           coalesce(sum(duration_sum), 0)::bigint AS duration_sum,
           coalesce(sum(duration_n), 0)::bigint AS duration_n,
           coalesce(bit_or(1::bigint << ns_code), 0) AS ns_mask,
           coalesce(bit_or(1::bigint << cluster_code), 0) AS cluster_mask,
           coalesce(bit_or(1::bigint << type_code), 0) AS type_mask"""
COMBO_CODES = {"namespace": ("ns_code", "n"), "cluster_name": ("cluster_code", "c"),
               "action_type": ("type_code", "t")}
FILTERED_CUBE_SQL = """WITH raw AS MATERIALIZED (
{rows}
), hist AS MATERIALIZED (
    SELECT h.action_history_id,
           (SELECT m.ns_code FROM trace_filter_histories m
            WHERE m.action_history_id = h.action_history_id) AS ns_code
    FROM (SELECT DISTINCT action_history_id FROM raw) h
), rows AS MATERIALIZED (
    SELECT raw.*, hist.ns_code
    FROM raw JOIN hist USING (action_history_id){ns_filter}
), parts AS (
    SELECT {day_sums}
    FROM {day_table}
    WHERE {day_where}
    UNION ALL
    SELECT {sums}
    FROM trace_filter_hours
    WHERE {hour_where}
    UNION ALL
    SELECT count(*), count(*) FILTER (WHERE execution_status = 'completed'),
           coalesce(sum(execution_duration_ms), 0)::bigint, count(execution_duration_ms),
           coalesce(bit_or(1::bigint << ns_code), 0),
           (SELECT coalesce(bit_or(1::bigint << c.code), 0) FROM trace_filter_codes c
            WHERE c.dim = 'c' AND c.value IN (SELECT cluster_name FROM rows)),
           (SELECT coalesce(bit_or(1::bigint << c.code), 0) FROM trace_filter_codes c
            WHERE c.dim = 't' AND c.value IN (SELECT action_type FROM rows))
    FROM rows
), total AS (
    SELECT sum(n)::bigint AS n, sum(n_completed)::bigint AS n_completed,
           sum(duration_sum)::bigint AS duration_sum, sum(duration_n)::bigint AS duration_n,
           bit_or(ns_mask) AS ns_mask, bit_or(cluster_mask) AS cluster_mask,
           bit_or(type_mask) AS type_mask
    FROM parts
)
SELECT n AS total,
       bit_count(ns_mask::bit(64)) AS namespaces,
       bit_count(cluster_mask::bit(64)) AS clusters,
       bit_count(type_mask::bit(64)) AS action_types,
       CASE WHEN n > 0 THEN n_completed::float8 / n ELSE 0 END AS success_rate,
       coalesce(duration_sum::numeric / nullif(duration_n, 0), 0) AS avg_duration_ms
FROM total
WHERE trace_filter_cube_fits()
UNION ALL
SELECT * FROM trace_filter_shipped(
    %(namespace)s, %(cluster_name)s, %(environment)s, %(severity)s, %(action_type)s,
    %(phase)s, %(start_time)s, %(end_time)s)
WHERE NOT trace_filter_cube_fits()"""
_NS_CODE = "code = (SELECT code FROM trace_filter_codes WHERE dim = 'n' AND value = %(namespace)s)"
_NS_FILTER = f"\n    WHERE hist.ns_{_NS_CODE}"
_ROWS_PART = """    SELECT action_history_id, cluster_name, action_type, execution_status,
           execution_duration_ms
    FROM resource_action_traces
    WHERE {where}"""


def _and(conds: list[str]) -> str:
    return "\n      AND ".join(conds) if conds else "TRUE"


def _render_filtered_cube(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The cube statement: cube cells for the whole days (and, without a high-cardinality
    filter, whole hours) inside the range, the traces for the rest; every part disjoint.

    With start S and end E (inclusive): whole days strictly after S's day and before E's day;
    without a high-cardinality filter, whole hours after S's hour and before E's hour on S's
    and E's days, and the traces of [S, S's next hour) and [E's hour, E]; with one, the traces
    of [S, S's next UTC midnight) and [E's UTC midnight, E] (after the first part).
    """
    has_start, has_end = p.get("start_time") is not None, p.get("end_time") is not None
    args = {k: p.get(k) for k in ("environment", "severity", "phase", "namespace",
                                  "cluster_name", "action_type", "start_time", "end_time")}
    low = [cond for key, cond in CUBE_LOW if p.get(key) is not None]
    high = [(key, dim, cond) for key, dim, cond in CUBE_HIGH if p.get(key) is not None]
    if len(high) > 1 and not (has_start or has_end):  # the all-time rollup's index prefix
        return _render_filtered(filtered_aggregation.variants["rollup"], p)
    hourly = len(high) == 0 or (len(high) == 1 and high[0][1] == "n")
    day_table, day_sums = "trace_filter_cube", _SUMS
    if len(high) > 1:  # the combination table: whole days; the partial days from the traces
        day_table, day_sums = "trace_filter_combo", _COMBO_SUMS
        day_where = [f"{COMBO_CODES[key][0]} = (SELECT code FROM trace_filter_codes WHERE "
                     f"dim = '{COMBO_CODES[key][1]}' AND value = %({key})s)"
                     for key, _, _ in high]
        edge_start = _midnight(f"{_utc_day(CUBE_START)} + 1")
        edge_end = _midnight(_utc_day(CUBE_END))
        hour_where = ["FALSE"]
        row_filter = low + [c for _, _, c in high if c]
    elif high and high[0][1] == "n":  # the namespace slices of both cubes
        day_where = ["hc = 'n'", _NS_CODE.replace("code =", "hc_code =", 1)]
        edge_start = f"({_hour(CUBE_START)} + INTERVAL '1 hour')"
        edge_end = _hour(CUBE_END)
        hour_where = [*low, "hc = 'n'", _NS_CODE.replace("code =", "hc_code =", 1)]
        row_filter = list(low)
    elif high:
        key, dim, cond = high[0]
        day_where = [f"hc = '{dim}'", f"hc_code = (SELECT code FROM trace_filter_codes "
                                      f"WHERE dim = '{dim}' AND value = %({key})s)"]
        # whole days only; the traces of the first and last (partial) days
        edge_start = _midnight(f"{_utc_day(CUBE_START)} + 1")
        edge_end = _midnight(_utc_day(CUBE_END))
        hour_where = ["FALSE"]
        row_filter = [*low, cond] if cond else list(low)
    else:
        day_where = ["hc = '-'", "hc_code = -1"]
        edge_start = f"({_hour(CUBE_START)} + INTERVAL '1 hour')"
        edge_end = _hour(CUBE_END)
        hour_where = [*low, "hc = '-'", "hc_code = -1"]
        row_filter = list(low)
    day_where += low
    parts: list[list[str]] = []
    if has_start:
        day_where.append(f"day > {_utc_day(CUBE_START)}")
        first = [f"action_timestamp >= {CUBE_START}", f"action_timestamp < {edge_start}"]
        if has_end:
            first.append(f"action_timestamp <= {CUBE_END}")
        parts.append(first)
        if hourly:
            hour_where += [f"hour >= {edge_start}",
                           f"hour < {_midnight(f'{_utc_day(CUBE_START)} + 1')}"]
    if has_end:
        day_where.append(f"day < {_utc_day(CUBE_END)}")
        last = [f"action_timestamp >= {edge_end}", f"action_timestamp <= {CUBE_END}"]
        if has_start:
            last += [f"action_timestamp >= {CUBE_START}",
                     f"action_timestamp >= {edge_start}"]
        parts.append(last)
    if hourly and has_start and has_end:
        # the whole hours of S's day and of E's day, once each, none of the whole days
        hour_where = [*hour_where[:len(low) + 2],
                      f"hour >= {edge_start}", f"hour < {edge_end}",
                      f"(hour < {_midnight(f'{_utc_day(CUBE_START)} + 1')} "
                      f"OR hour >= {_midnight(_utc_day(CUBE_END))})"]
    elif hourly and has_end:
        hour_where += [f"hour >= {_midnight(_utc_day(CUBE_END))}", f"hour < {edge_end}"]
    elif hourly and not has_start:
        hour_where = ["FALSE"]
    rows = "\n    UNION ALL\n".join(
        _ROWS_PART.replace("{where}", _and(conds + row_filter)) for conds in parts) \
        or _ROWS_PART.replace("{where}", "FALSE")
    sql = (FILTERED_CUBE_SQL.replace("{rows}", rows).replace("{sums}", _SUMS)
           .replace("{day_sums}", day_sums).replace("{day_table}", day_table)
           .replace("{day_where}", _and(day_where)).replace("{hour_where}", _and(hour_where))
           .replace("{ns_filter}", _NS_FILTER if p.get("namespace") is not None else ""))
    return sql, args


def _validate_filtered(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("filtered_aggregation", params, FILTERED_KEYS, surface)
    for key, max_len in (("namespace", 63), ("cluster_name", 100), ("environment", 20),
                         ("severity", 20), ("action_type", 50), ("phase", 20)):
        c.text(key, max_len=max_len, empty_is_none=True)
    start, end = c.timestamp("start_time"), c.timestamp("end_time")
    if start is not None and end is not None and start > end:
        raise c.fail("start_time", start.isoformat(), f"must not be after end_time="
                     f"{end.isoformat()}")
    return c.out


def _render_filtered(v: Variant, p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if v.sql is FILTERED_CUBE_SQL:
        return _render_filtered_cube(p)
    if v.sql is FILTERED_ROLLUP_SQL:
        if p.get("start_time") is None and p.get("end_time") is None:
            conds, args = [], {}
            for key, cond in FILTERED_ROLLUP_FILTERS:
                if p.get(key) is not None:
                    conds.append(f"\n  AND {cond}")
                    args[key] = p[key]
            return v.sql.replace("{where}", "".join(conds)), args
        v = filtered_aggregation.variants["as_shipped"]  # a time range: the shipped statement
    conds, args = [], {}
    for key, cond in FILTERED_FILTERS:
        if p.get(key) is not None:
            conds.append(cond)
            args[key] = p[key]
    where = ("WHERE " + "\n  AND ".join(conds)) if conds else ""
    return v.sql.replace("{where}", where).rstrip("\n"), args


def _filtered(rows: list[tuple], p: Mapping[str, Any]) -> dict[str, Any]:
    r = rows[0]
    return {"total": int(r[0]), "namespaces": int(r[1]), "clusters": int(r[2]),
            "action_types": int(r[3]), "success_rate": float(r[4]),
            "avg_duration_ms": _num(r[5])}


filtered_aggregation = Query(
    name="filtered_aggregation",
    description="AggregateWithFilters: totals, distinct counts, success rate and mean "
                "duration under optional filters.",
    tags=frozenset({"aggregate"}),
    params_doc={k: "optional" for k in FILTERED_KEYS} | {
        "phase": "optional; compared directly with execution_status (quirk)",
        "start_time/end_time": "optional action_timestamp >= / <= bounds"},
    variants={
        "as_shipped": Variant(
            "as_shipped", FILTERED_SQL,
            "As shipped: 3-table join with optional equality filters; success rate 0 when "
            "empty."),
        "rollup": Variant(
            "rollup", FILTERED_ROLLUP_SQL,
            "Without a time range: totals, distinct counts, success rate and mean duration "
            "from the trace_rollup table (exact: the distinct counts are over the rollup rows "
            "with traces, the mean is sum/count of durations). With start_time/end_time the "
            "shipped statement runs, on the window_covering index. Same answer (the mean "
            "duration to numeric precision).",
            schema_variant="trace_rollup+window_covering"),
        "cube": Variant(
            "cube", FILTERED_CUBE_SQL,
            "The filter_cube schema variant's exact, trigger-maintained cubes: cells of counts "
            "with the distinct namespaces, clusters and action types as bitmasks of coded "
            "values (OR-ed, counted with bit_count). Every whole UTC day of the range from the "
            "day cube (its slice for the one namespace / cluster / action type filtered, or "
            "the combination table for two or three), the whole hours of the first and last "
            "days from the hour cube (no high-cardinality filter, or a namespace), the rest "
            "from index-only range scans of window_covering's (action_timestamp) index, each "
            "trace's namespace code looked up once per history. Two or more of namespace, "
            "cluster and action type without a time range: the rollup variant's path. When a "
            "dimension has more than 64 values the shipped statement runs (one-time filter). "
            "Same answer (the mean duration to numeric precision).",
            schema_variant="trace_rollup+window_covering+filter_cube"),
    },
    _validate=_validate_filtered,
    _render=_render_filtered,
    _to_result=_filtered,
)

# -- top failing actions -----------------------------------------------------------------------
TOP_FAILING_SQL = """SELECT
    action_type,
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE execution_status = 'failed') AS failed,
    COUNT(*) FILTER (WHERE execution_status = 'failed')::float8 / COUNT(*) AS failure_rate
FROM resource_action_traces
WHERE action_timestamp > NOW() - %(time_window)s::interval
GROUP BY action_type
HAVING COUNT(*) >= 5
ORDER BY failure_rate DESC, total DESC
LIMIT %(limit)s"""


WINDOW_START = "NOW() - %(time_window)s::interval"
_WINDOW_DAY, _WINDOW_NEXT = _edge(WINDOW_START)


def _window_edge(column: str) -> str:
    """The window's first (partial) UTC day, read from the traces."""
    return f"{column} > {WINDOW_START}\n      AND {column} < {_WINDOW_NEXT}"


TOP_FAILING_DAILY_SQL = f"""SELECT
    action_type,
    SUM(total)::bigint AS total,
    SUM(failed)::bigint AS failed,
    SUM(failed)::float8 / SUM(total)::float8 AS failure_rate
FROM (
    SELECT action_type, n AS total, n_failed AS failed
    FROM trace_daily_actions
    WHERE day > {_WINDOW_DAY}
    UNION ALL
    SELECT action_type, COUNT(*), COUNT(*) FILTER (WHERE execution_status = 'failed')
    FROM resource_action_traces
    WHERE {_window_edge('action_timestamp')}
    GROUP BY action_type
) days
GROUP BY action_type
HAVING SUM(total) >= 5
ORDER BY failure_rate DESC, total DESC
LIMIT %(limit)s"""


def _validate_top(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("top_failing_actions", params, ("time_window", "limit"), surface)
    c.go_duration("time_window", "24h0m0s", MAX_WINDOW_S)
    c.integer("limit", 10, 1, 100)
    return c.out


top_failing_actions = Query(
    name="top_failing_actions",
    description="GetTopFailingActions: action types with the highest failure rate in a window.",
    tags=frozenset({"aggregate"}),
    params_doc={"time_window": "Go duration, e.g. '24h0m0s' (1s–8760h, default 24h)",
                "limit": "1–100 (default 10)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", TOP_FAILING_SQL,
            "As shipped: rat alone, action_timestamp > NOW() - $1::interval (a Go duration "
            "string), HAVING COUNT(*) >= 5, ORDER BY failure_rate DESC, total DESC."),
        "indexed": Variant(
            "indexed", TOP_FAILING_SQL,
            "The shipped SQL on the list_order_index schema variant, whose (action_timestamp "
            "DESC, id DESC) index serves the window's range on each partition. Same answer.",
            schema_variant="list_order_index"),
        "covering": Variant(
            "covering", TOP_FAILING_SQL,
            "The shipped SQL on the window_covering schema variant: the window is an "
            "index-only range scan of (action_timestamp) INCLUDE (action_type, "
            "execution_status, ...), partitions before the window pruned at executor "
            "start-up. Same answer.",
            schema_variant="window_covering"),
        "daily": Variant(
            "daily", TOP_FAILING_DAILY_SQL,
            "Per-day rollup (trace_daily: one row per UTC day and action type, "
            "trigger-maintained) for every whole day after the window's first one, and an "
            "index-only range scan of that first, partial day on window_covering's "
            "(action_timestamp) index; the sums then grouped, filtered and ordered as shipped. "
            "Same answer (ties in rate and total in no defined order, as shipped).",
            schema_variant="trace_daily+window_covering"),
    },
    _validate=_validate_top,
    _render=lambda v, p: (v.sql, {"time_window": p.get("time_window", "24h0m0s"),
                                  "limit": int(p.get("limit", 10))}),
    _to_result=lambda rows, p: [{"action_type": r[0], "total": int(r[1]), "failed": int(r[2]),
                                 "failure_rate": float(r[3])} for r in rows],
)

# -- action comparison -------------------------------------------------------------------------
ACTION_COMPARISON_SQL = """SELECT
    action_type,
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE execution_status = 'completed') AS completed,
    COUNT(*) FILTER (WHERE execution_status = 'completed')::float8 / COUNT(*) AS success_rate,
    COALESCE(AVG(execution_duration_ms), 0) AS avg_duration_ms
FROM resource_action_traces
WHERE action_type = ANY(%(action_types)s)
  AND action_timestamp > NOW() - %(time_window)s::interval
GROUP BY action_type
ORDER BY success_rate DESC, total DESC"""


ACTION_COMPARISON_DAILY_SQL = f"""SELECT
    action_type,
    SUM(total)::bigint AS total,
    SUM(completed)::bigint AS completed,
    SUM(completed)::float8 / SUM(total)::float8 AS success_rate,
    COALESCE(SUM(duration_sum)::numeric / NULLIF(SUM(duration_n), 0), 0) AS avg_duration_ms
FROM (
    SELECT action_type, n AS total, n_completed AS completed, duration_sum, duration_n
    FROM trace_daily_actions
    WHERE action_type = ANY(%(action_types)s)
      AND day > {_WINDOW_DAY}
    UNION ALL
    SELECT action_type, COUNT(*), COUNT(*) FILTER (WHERE execution_status = 'completed'),
           SUM(execution_duration_ms), COUNT(execution_duration_ms)
    FROM resource_action_traces
    WHERE action_type = ANY(%(action_types)s)
      AND {_window_edge('action_timestamp')}
    GROUP BY action_type
) days
GROUP BY action_type
HAVING SUM(total) > 0
ORDER BY success_rate DESC, total DESC"""


def _validate_comparison(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("action_comparison", params, ("action_types", "time_window"), surface)
    c.text_list("action_types", 1, 20)
    c.go_duration("time_window", DEFAULT_WINDOW, MAX_WINDOW_S)
    return c.out


action_comparison = Query(
    name="action_comparison",
    description="GetActionComparison: success rate and mean duration of 1–20 action types.",
    tags=frozenset({"aggregate"}),
    params_doc={"action_types": "1–20 action types (required)",
                "time_window": "Go duration (default 168h0m0s)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", ACTION_COMPARISON_SQL,
            "As shipped: rat alone, action_type = ANY($1) within the window, ORDER BY "
            "success_rate DESC, total DESC."),
        "covering": Variant(
            "covering", ACTION_COMPARISON_SQL,
            "The shipped SQL on the window_covering schema variant: an index-only range scan "
            "of the window with action_type, execution_status and execution_duration_ms "
            "from the index. Same answer.",
            schema_variant="window_covering"),
        "daily": Variant(
            "daily", ACTION_COMPARISON_DAILY_SQL,
            "Per-day rollup (trace_daily: per UTC day and action type, counts and the sum and "
            "count of durations) for the whole days after the window's first one, an "
            "index-only range scan of that first, partial day; the mean is sum / count of the "
            "non-null durations, as AVG computes it (numeric). Same answer (ties in rate and "
            "total in no defined order, as shipped).",
            schema_variant="trace_daily+window_covering"),
    },
    _validate=_validate_comparison,
    _render=lambda v, p: (v.sql, {"action_types": list(p["action_types"]),
                                  "time_window": p.get("time_window", DEFAULT_WINDOW)}),
    _to_result=lambda rows, p: [{"action_type": r[0], "total": int(r[1]),
                                 "completed": int(r[2]), "success_rate": float(r[3]),
                                 "avg_duration_ms": _num(r[4])} for r in rows],
)

# -- namespace health --------------------------------------------------------------------------
HEALTH_SQL = f"""SELECT
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE rat.execution_status = 'completed') AS completed,
    COUNT(*) FILTER (WHERE rat.alert_severity = 'critical') AS critical,
    COALESCE(AVG(rat.execution_duration_ms), 0) AS avg_duration_ms
{FROM_JOINS}
WHERE rr.namespace = %(namespace)s
  AND rat.action_timestamp > NOW() - %(time_window)s::interval"""


HEALTH_DAILY_SQL = f"""SELECT
    COALESCE(SUM(total), 0)::bigint AS total,
    COALESCE(SUM(completed), 0)::bigint AS completed,
    COALESCE(SUM(critical), 0)::bigint AS critical,
    COALESCE(SUM(duration_sum)::numeric / NULLIF(SUM(duration_n), 0), 0) AS avg_duration_ms
FROM (
    SELECT n AS total, n_completed AS completed, n_critical AS critical, duration_sum,
           duration_n
    FROM trace_daily_namespaces
    WHERE namespace = %(namespace)s
      AND day > {_WINDOW_DAY}
    UNION ALL
    SELECT COUNT(*), COUNT(*) FILTER (WHERE rat.execution_status = 'completed'),
           COUNT(*) FILTER (WHERE rat.alert_severity = 'critical'),
           SUM(rat.execution_duration_ms), COUNT(rat.execution_duration_ms)
    FROM resource_action_traces rat
    JOIN action_histories ah ON rat.action_history_id = ah.id
    JOIN resource_references rr ON ah.resource_id = rr.id
    WHERE rr.namespace = %(namespace)s
      AND {_window_edge('rat.action_timestamp')}
) days"""


def health_score(total: int, completed: int, critical: int, avg_duration_ms: float) -> float:
    """The service's score: 0.6·resolution + 0.3·(1 − critical ratio) + 0.1·latency term.

    With no trace in the window the score is 0 (ctxbench's reading: nothing to judge).
    """
    if total == 0:
        return 0.0
    resolution = completed / total
    critical_ratio = critical / total
    latency = HEALTH_LATENCY_REF_MS / (avg_duration_ms + HEALTH_LATENCY_REF_MS)
    return 0.6 * resolution + 0.3 * (1 - critical_ratio) + 0.1 * latency


def _validate_health(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("namespace_health", params, ("namespace", "time_window"), surface)
    c.text("namespace", required=True, max_len=63)
    c.go_duration("time_window", DEFAULT_WINDOW, MAX_WINDOW_S)
    return c.out


def _health(rows: list[tuple], p: Mapping[str, Any]) -> dict[str, Any]:
    total, completed, critical = int(rows[0][0]), int(rows[0][1]), int(rows[0][2])
    avg = _num(rows[0][3])
    return {"namespace": p.get("namespace"), "total": total, "completed": completed,
            "critical": critical, "avg_duration_ms": avg,
            "score": health_score(total, completed, critical, avg)}


namespace_health = Query(
    name="namespace_health",
    description="GetNamespaceHealthScore: counts in a namespace and window; the score is "
                "computed in Python with the service's formula.",
    tags=frozenset({"aggregate"}),
    params_doc={"namespace": "required", "time_window": "Go duration (default 168h0m0s)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", HEALTH_SQL,
            "As shipped: 3-table join filtered by namespace and window; the score "
            "0.6·resolution + 0.3·(1 − critical ratio) + 0.1·300000/(avg + 300000) is "
            "computed by the application."),
        "covering": Variant(
            "covering", HEALTH_SQL,
            "The shipped SQL on the window_covering schema variant: the window's traces come "
            "from an index-only range scan carrying action_history_id, execution_status, "
            "alert_severity and execution_duration_ms, joined to the namespace's histories. "
            "Same answer.",
            schema_variant="window_covering"),
        "daily": Variant(
            "daily", HEALTH_DAILY_SQL,
            "Per-day rollup (trace_daily: per namespace and UTC day, counts, critical count, "
            "sum and count of durations) for the whole days after the window's first one, and "
            "the shipped join over that first, partial day (an index-only range scan of "
            "window_covering's (action_timestamp) index). Same answer (the mean as AVG "
            "computes it).",
            schema_variant="trace_daily+window_covering"),
    },
    _validate=_validate_health,
    _render=lambda v, p: (v.sql, {"namespace": p["namespace"],
                                  "time_window": p.get("time_window", DEFAULT_WINDOW)}),
    _to_result=_health,
)
