-- ctxbench schema variant (remedy): exact, trigger-maintained per-day rollups for the
-- time-window aggregations (trend, top_failing_actions, action_comparison, namespace_health).
-- Their windows start at NOW() - interval and have no upper bound, so every whole day after
-- the window's first day is summed from a rollup row, and only the first (partial) day is
-- read from the traces: an index range scan of at most one day of rows (this variant's
-- created_at index for the trend; window_covering's action_timestamp index for the others).
-- Days are UTC days: day = (ts AT TIME ZONE 'UTC')::date, whatever the session's TimeZone.
-- The window queries on action_timestamp compute their edge in UTC too, so their answers do
-- not depend on the session. The trend groups by DATE(created_at) in the session's TimeZone:
-- its daily variant uses the rollup only when the session's TimeZone is UTC (ctxbench's
-- embedded server's default here) and falls back to the shipped statement otherwise.
--
-- Rows per day: one per action type (trace_daily_actions), one per namespace
-- (trace_daily_namespaces; traces of resources without a namespace are left out: no
-- namespace_health call can ask for them), one per day (trace_daily_created).
--
-- Maintenance, as trace_rollup: statement-level AFTER triggers with transition tables, so a
-- COPY batch or a multi-row INSERT costs three grouped upserts, and a single-row INSERT three
-- one-row upserts. The price is contention: every trace written today updates today's row of
-- trace_daily_created, its action type's row and its namespace's row, so concurrent writers
-- serialize on today's trace_daily_created row until they commit (single-row autocommitted
-- INSERTs: one commit at a time). UPDATE subtracts the old rows and adds the new ones (every
-- UPDATE pays this, even one that changes none of the columns summed here: PostgreSQL allows
-- no column list on triggers with transition tables); DELETE subtracts; TRUNCATE empties the
-- rollups. The namespace is looked up through action_histories → resource_references when
-- the trace is written; a resource whose history is deleted with ON DELETE CASCADE leaves its
-- namespace counts behind (delete its traces first). Staleness: none (same transaction).
-- Writes that go to a partition directly (not through resource_action_traces) are not seen.
CREATE TABLE trace_daily_created (
    day     DATE PRIMARY KEY,
    n       BIGINT NOT NULL,
    n_ended BIGINT NOT NULL
);
CREATE TABLE trace_daily_actions (
    day          DATE NOT NULL,
    action_type  VARCHAR(50) NOT NULL,
    n            BIGINT NOT NULL,
    n_completed  BIGINT NOT NULL,
    n_failed     BIGINT NOT NULL,
    duration_sum BIGINT NOT NULL,
    duration_n   BIGINT NOT NULL,
    PRIMARY KEY (day, action_type)
);
CREATE TABLE trace_daily_namespaces (
    namespace    VARCHAR(63) NOT NULL,
    day          DATE NOT NULL,
    n            BIGINT NOT NULL,
    n_completed  BIGINT NOT NULL,
    n_critical   BIGINT NOT NULL,
    duration_sum BIGINT NOT NULL,
    duration_n   BIGINT NOT NULL,
    PRIMARY KEY (namespace, day)
);
-- The trend's edge day: an index-only range scan of created_at (not the partition key, so one
-- short range per partition).
CREATE INDEX idx_rat_daily_created
    ON resource_action_traces (created_at) INCLUDE (execution_end_time);

-- The trend's rollup counts UTC days, so the daily trend uses it only in a session whose
-- TimeZone is UTC, and runs the shipped statement otherwise (a one-time filter on this
-- function picks the branch). PARALLEL UNSAFE on purpose: the shipped fallback branch's cost
-- estimate would otherwise win the statement a parallel plan (two workers started, ~50 ms
-- under load, for well under 1 ms of work).
CREATE FUNCTION trace_daily_utc_session() RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE AS $$
BEGIN
    RETURN current_setting('TimeZone') IN ('UTC', 'Etc/UTC', 'UCT', 'Etc/UCT', 'GMT', 'Etc/GMT',
                                           'Universal', 'Etc/Universal', 'Zulu', 'Etc/Zulu');
END
$$;

-- One function for every change: TG_ARGV[0] is +1 (rows added) or -1 (rows removed); every
-- trigger names its transition table daily_rows. Upserts in key order (no deadlock between
-- two multi-row writers).
CREATE FUNCTION trace_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    direction bigint := TG_ARGV[0]::bigint;
BEGIN
    INSERT INTO trace_daily_created AS r
    SELECT (t.created_at AT TIME ZONE 'UTC')::date, direction * count(*),
           direction * count(t.execution_end_time)
    FROM daily_rows t
    WHERE t.created_at IS NOT NULL
    GROUP BY 1
    ORDER BY 1
    ON CONFLICT (day) DO UPDATE
        SET n = r.n + EXCLUDED.n, n_ended = r.n_ended + EXCLUDED.n_ended;

    INSERT INTO trace_daily_actions AS r
    SELECT (t.action_timestamp AT TIME ZONE 'UTC')::date, t.action_type,
           direction * count(*),
           direction * count(*) FILTER (WHERE t.execution_status = 'completed'),
           direction * count(*) FILTER (WHERE t.execution_status = 'failed'),
           direction * coalesce(sum(t.execution_duration_ms), 0),
           direction * count(t.execution_duration_ms)
    FROM daily_rows t
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (day, action_type) DO UPDATE
        SET n = r.n + EXCLUDED.n, n_completed = r.n_completed + EXCLUDED.n_completed,
            n_failed = r.n_failed + EXCLUDED.n_failed,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n;

    INSERT INTO trace_daily_namespaces AS r
    SELECT rr.namespace, (t.action_timestamp AT TIME ZONE 'UTC')::date,
           direction * count(*),
           direction * count(*) FILTER (WHERE t.execution_status = 'completed'),
           direction * count(*) FILTER (WHERE t.alert_severity = 'critical'),
           direction * coalesce(sum(t.execution_duration_ms), 0),
           direction * count(t.execution_duration_ms)
    FROM daily_rows t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    WHERE rr.namespace IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (namespace, day) DO UPDATE
        SET n = r.n + EXCLUDED.n, n_completed = r.n_completed + EXCLUDED.n_completed,
            n_critical = r.n_critical + EXCLUDED.n_critical,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n;
    RETURN NULL;
END
$$;

CREATE FUNCTION trace_daily_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE trace_daily_created, trace_daily_actions, trace_daily_namespaces;
    RETURN NULL;
END
$$;

CREATE TRIGGER trace_daily_insert AFTER INSERT ON resource_action_traces
    REFERENCING NEW TABLE AS daily_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_daily_apply('1');
-- UPDATE: subtract the old rows, add the new ones (two triggers, fired in name order).
CREATE TRIGGER trace_daily_update_a_old
    AFTER UPDATE ON resource_action_traces
    REFERENCING OLD TABLE AS daily_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_daily_apply('-1');
CREATE TRIGGER trace_daily_update_b_new
    AFTER UPDATE ON resource_action_traces
    REFERENCING NEW TABLE AS daily_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_daily_apply('1');
CREATE TRIGGER trace_daily_delete AFTER DELETE ON resource_action_traces
    REFERENCING OLD TABLE AS daily_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_daily_apply('-1');
CREATE TRIGGER trace_daily_truncate AFTER TRUNCATE ON resource_action_traces
    FOR EACH STATEMENT EXECUTE FUNCTION trace_daily_truncate();

-- The initial fill (the build cost of this remedy): one pass over the traces, the columns the
-- rollups need kept aside (~60 B a row), then grouped three ways.
WITH t AS MATERIALIZED (
    SELECT created_at, execution_end_time, action_timestamp, action_type, execution_status,
           alert_severity, execution_duration_ms, action_history_id
    FROM resource_action_traces
), created AS (
    INSERT INTO trace_daily_created
    SELECT (created_at AT TIME ZONE 'UTC')::date, count(*), count(execution_end_time)
    FROM t
    WHERE created_at IS NOT NULL
    GROUP BY 1
), actions AS (
    INSERT INTO trace_daily_actions
    SELECT (action_timestamp AT TIME ZONE 'UTC')::date, action_type, count(*),
           count(*) FILTER (WHERE execution_status = 'completed'),
           count(*) FILTER (WHERE execution_status = 'failed'),
           coalesce(sum(execution_duration_ms), 0), count(execution_duration_ms)
    FROM t
    GROUP BY 1, 2
)
INSERT INTO trace_daily_namespaces
SELECT rr.namespace, (t.action_timestamp AT TIME ZONE 'UTC')::date, count(*),
       count(*) FILTER (WHERE t.execution_status = 'completed'),
       count(*) FILTER (WHERE t.alert_severity = 'critical'),
       coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms)
FROM t
JOIN action_histories ah ON ah.id = t.action_history_id
JOIN resource_references rr ON rr.id = ah.resource_id
WHERE rr.namespace IS NOT NULL
GROUP BY 1, 2;
ANALYZE trace_daily_created, trace_daily_actions, trace_daily_namespaces;
-- ctxbench:down
DROP TRIGGER IF EXISTS trace_daily_truncate ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_daily_delete ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_daily_update_b_new ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_daily_update_a_old ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_daily_insert ON resource_action_traces;
DROP FUNCTION IF EXISTS trace_daily_truncate();
DROP FUNCTION IF EXISTS trace_daily_apply();
DROP FUNCTION IF EXISTS trace_daily_utc_session();
DROP INDEX IF EXISTS idx_rat_daily_created;
DROP TABLE IF EXISTS trace_daily_namespaces;
DROP TABLE IF EXISTS trace_daily_actions;
DROP TABLE IF EXISTS trace_daily_created;
