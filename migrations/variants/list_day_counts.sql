-- ctxbench schema variant (remedy): exact, trigger-maintained trace counts per (UTC day of
-- action_timestamp, namespace, alert_severity), so list_incidents' `skip` variant can jump over
-- whole days: the cumulative count newest-day-first says on which day a page starts and ends,
-- and the page is read from that range of days only (OFFSET minus the rows of newer days),
-- whatever the OFFSET. Rows: days × namespaces × severities that occur (~22k at 1M traces over
-- 6 months with 41 namespaces and 3 severities), growing with days, not with traces.
-- Days are UTC days: day = (action_timestamp AT TIME ZONE 'UTC')::date, whatever the
-- session's TimeZone, and the list turns them back into UTC instants the same way.
--
-- Maintenance, as trace_daily/trace_rollup: statement-level AFTER triggers with transition
-- tables, so a COPY batch or a multi-row INSERT costs two grouped upserts (list_day_counts
-- and list_day_totals), and a single-row INSERT two one-row upserts: row locks on today's row
-- of its namespace and severity and on today's total of its severity, so concurrent writers of
-- the same severity serialize on that total until commit. UPDATE adds the net change only (new
-- rows minus old rows, grouped): an UPDATE that changes none of action_timestamp,
-- alert_severity, action_history_id pays the grouping and writes nothing. DELETE subtracts;
-- TRUNCATE empties the counts. An INSERT (or UPDATE) statement also records its traces'
-- histories' namespaces (one upsert that does nothing for a history already recorded). The namespace is looked up through
-- action_histories → resource_references when the trace is written (the schema keeps it
-- there); a resource whose history is deleted with ON DELETE CASCADE leaves its counts behind
-- (delete its traces first), and a resource's namespace changed later is not followed.
-- Staleness: none (same transaction). Writes that go to a partition directly (not through
-- resource_action_traces) are not seen.
CREATE TABLE list_day_counts (
    namespace      VARCHAR(63),
    alert_severity VARCHAR(20) NOT NULL,
    day            DATE NOT NULL,
    n              BIGINT NOT NULL,
    CONSTRAINT list_day_counts_key UNIQUE NULLS NOT DISTINCT (namespace, alert_severity, day)
);

-- The same counts over every namespace (a page without a namespace filter sums these: one row
-- per day and severity, not one per namespace too).
CREATE TABLE list_day_totals (
    alert_severity VARCHAR(20) NOT NULL,
    day            DATE NOT NULL,
    n              BIGINT NOT NULL,
    PRIMARY KEY (alert_severity, day)
);
-- Each history's namespace, recorded when a trace of that history is written (as the counts
-- are): a namespace's history ids are one index-only range here, for the list's hashed
-- namespace test (through action_histories → resource_references it is a join that reads
-- every history). Rows of deleted histories stay behind, harmless: no trace has their id.
CREATE TABLE list_history_namespaces (
    action_history_id BIGINT PRIMARY KEY,
    namespace         VARCHAR(63)
);
CREATE INDEX idx_list_history_namespaces ON list_history_namespaces (namespace, action_history_id);

-- TG_OP picks the transition tables the firing trigger has: INSERT new_rows, DELETE
-- old_rows, UPDATE both (net change). Upserts in key order (no deadlock between two
-- multi-row writers).
CREATE FUNCTION list_day_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO list_day_counts AS c
        SELECT rr.namespace, t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date,
               count(*)
        FROM new_rows t
        JOIN action_histories ah ON ah.id = t.action_history_id
        JOIN resource_references rr ON rr.id = ah.resource_id
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT list_day_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO list_day_totals AS c
        SELECT t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date, count(*)
        FROM new_rows t
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (alert_severity, day) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO list_history_namespaces AS h
        SELECT DISTINCT t.action_history_id, rr.namespace
        FROM new_rows t
        JOIN action_histories ah ON ah.id = t.action_history_id
        JOIN resource_references rr ON rr.id = ah.resource_id
        ORDER BY 1
        ON CONFLICT (action_history_id) DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO list_day_counts AS c
        SELECT rr.namespace, t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date,
               -count(*)
        FROM old_rows t
        JOIN action_histories ah ON ah.id = t.action_history_id
        JOIN resource_references rr ON rr.id = ah.resource_id
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT list_day_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO list_day_totals AS c
        SELECT t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date, -count(*)
        FROM old_rows t
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (alert_severity, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO list_day_counts AS c
        SELECT rr.namespace, t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date,
               sum(t.d)
        FROM (SELECT action_history_id, alert_severity, action_timestamp, 1 AS d
              FROM new_rows
              UNION ALL
              SELECT action_history_id, alert_severity, action_timestamp, -1
              FROM old_rows) t
        JOIN action_histories ah ON ah.id = t.action_history_id
        JOIN resource_references rr ON rr.id = ah.resource_id
        GROUP BY 1, 2, 3
        HAVING sum(t.d) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT ON CONSTRAINT list_day_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO list_day_totals AS c
        SELECT t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date, sum(t.d)
        FROM (SELECT alert_severity, action_timestamp, 1 AS d FROM new_rows
              UNION ALL
              SELECT alert_severity, action_timestamp, -1 FROM old_rows) t
        GROUP BY 1, 2
        HAVING sum(t.d) <> 0
        ORDER BY 1, 2
        ON CONFLICT (alert_severity, day) DO UPDATE SET n = c.n + EXCLUDED.n;
        INSERT INTO list_history_namespaces AS h
        SELECT DISTINCT t.action_history_id, rr.namespace
        FROM new_rows t
        JOIN action_histories ah ON ah.id = t.action_history_id
        JOIN resource_references rr ON rr.id = ah.resource_id
        ORDER BY 1
        ON CONFLICT (action_history_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION list_day_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE list_day_counts, list_day_totals, list_history_namespaces;
    RETURN NULL;
END
$$;

CREATE TRIGGER list_day_counts_insert AFTER INSERT ON resource_action_traces
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_day_counts_apply();
CREATE TRIGGER list_day_counts_update AFTER UPDATE ON resource_action_traces
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_day_counts_apply();
CREATE TRIGGER list_day_counts_delete AFTER DELETE ON resource_action_traces
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_day_counts_apply();
CREATE TRIGGER list_day_counts_truncate AFTER TRUNCATE ON resource_action_traces
    FOR EACH STATEMENT EXECUTE FUNCTION list_day_counts_truncate();

-- The initial fill (the build cost of this remedy): one pass over the traces.
INSERT INTO list_day_counts
SELECT rr.namespace, t.alert_severity, (t.action_timestamp AT TIME ZONE 'UTC')::date, count(*)
FROM resource_action_traces t
JOIN action_histories ah ON ah.id = t.action_history_id
JOIN resource_references rr ON rr.id = ah.resource_id
GROUP BY 1, 2, 3;
INSERT INTO list_day_totals
SELECT alert_severity, day, sum(n) FROM list_day_counts GROUP BY 1, 2;
INSERT INTO list_history_namespaces
SELECT ah.id, rr.namespace
FROM action_histories ah
JOIN resource_references rr ON rr.id = ah.resource_id;
ANALYZE list_day_counts, list_day_totals, list_history_namespaces;
-- ctxbench:down
DROP TRIGGER IF EXISTS list_day_counts_truncate ON resource_action_traces;
DROP TRIGGER IF EXISTS list_day_counts_delete ON resource_action_traces;
DROP TRIGGER IF EXISTS list_day_counts_update ON resource_action_traces;
DROP TRIGGER IF EXISTS list_day_counts_insert ON resource_action_traces;
DROP FUNCTION IF EXISTS list_day_counts_truncate();
DROP FUNCTION IF EXISTS list_day_counts_apply();
DROP TABLE IF EXISTS list_history_namespaces;
DROP TABLE IF EXISTS list_day_totals;
DROP TABLE IF EXISTS list_day_counts;
