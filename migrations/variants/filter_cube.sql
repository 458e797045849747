-- ctxbench schema variant (remedy): exact, trigger-maintained cubes for the filtered aggregation
-- (AggregateWithFilters: COUNT(*), three COUNT(DISTINCT)s, success rate and mean duration under
-- optional equality filters and an optional action_timestamp range).
-- Why cubes with bitmasks: the answer needs distinct counts of namespaces, clusters and action
-- types. A cube keyed by every filter dimension does not compress (40 namespaces × 10 clusters
-- × 4 environments × 3 severities × 20 types × 5 statuses per day is more cells than a day has
-- traces), and distinct counts do not add up across cells. So a cell carries the distinct
-- values as bitmasks: bit k of ns_mask is set when a trace of the cell has the namespace coded
-- k (trace_filter_codes); the distinct count of a union of cells is bit_count of the OR of
-- their masks. Codes are 0–63 (a bigint); a value coded 64 or more has no bit, and the query
-- runs the shipped statement instead whenever such a code exists (trace_filter_cube_fits()).
-- NULL values get no code (COUNT(DISTINCT) ignores NULLs).
--
-- Three tables, each read through an index prefix so a query reads only its filters' cells:
-- trace_filter_cube  per UTC day: slice '-' keyed by (environment, severity, status) (≈ 65 rows
--                    a day), slices 'n'/'c'/'t' additionally keyed by one namespace / cluster /
--                    action type code (for a query filtered on that one of them);
-- trace_filter_hours per UTC hour, slices '-' and 'n': the whole hours of a range's first and
--                    last days, so only the partial hours at both ends are read from the traces;
-- trace_filter_combo per UTC day and combination of the three codes (nearly a row per trace):
--                    for a query filtered on two or three of them (it reads only their rows).
-- The few traces a query reads from the table (partial hours or days) get their namespace code
-- from trace_filter_histories (one probe per history; set when a trace of it is written).
--
-- Maintenance: statement-level AFTER triggers with transition tables. INSERT (COPY batch,
-- multi-row or single-row): codes for values never seen (an advisory lock serializes that rare
-- step), then one grouped upsert per table that adds the counts and ORs the masks (a trace
-- touches 4 + 2 + 1 cells). An OR cannot be undone, so DELETE and the old side of UPDATE
-- subtract the counts, delete cells left empty, and recompute the masks of the cells of every
-- touched (UTC day, environment, severity, status) from the traces of that day: UPDATE and
-- DELETE pay a day's index range scan per touched combination, INSERT does not. Every UPDATE
-- pays this, even one that changes no column the cubes use (no column list is allowed on
-- triggers with transition tables). TRUNCATE empties the cubes. The namespace is looked up
-- through action_histories → resource_references when the trace is written (a resource whose
-- history is deleted with ON DELETE CASCADE leaves its counts behind). Staleness: none (same
-- transaction). Writes that go to a partition directly are not seen.
CREATE TABLE trace_filter_codes (
    dim   CHAR(1) NOT NULL CHECK (dim IN ('n', 'c', 't')),  -- namespace, cluster, action type
    value VARCHAR(100) NOT NULL,
    code  INTEGER NOT NULL,
    PRIMARY KEY (dim, value),
    UNIQUE (dim, code)
);
-- Per UTC day: the slice hc = '-' has one row per (environment, severity, status); the slices
-- hc = 'n' / 'c' / 't' one per (namespace / cluster / action type code, environment,
-- severity, status), for a query filtered on that one high-cardinality dimension (read through
-- the key's (hc, hc_code, day) prefix: only the filtered value's rows).
CREATE TABLE trace_filter_cube (
    hc               CHAR(1) NOT NULL CHECK (hc IN ('-', 'n', 'c', 't')),
    hc_code          INTEGER NOT NULL,
    day              DATE NOT NULL,
    environment      VARCHAR(20),
    alert_severity   VARCHAR(20) NOT NULL,
    execution_status VARCHAR(20),
    n                BIGINT NOT NULL,
    n_completed      BIGINT NOT NULL,
    duration_sum     BIGINT NOT NULL,
    duration_n       BIGINT NOT NULL,
    ns_mask          BIGINT NOT NULL,
    cluster_mask     BIGINT NOT NULL,
    type_mask        BIGINT NOT NULL,
    CONSTRAINT trace_filter_cube_key UNIQUE NULLS NOT DISTINCT
        (hc, hc_code, day, environment, alert_severity, execution_status)
);
-- Per UTC hour, the slices '-' and 'n' (namespace): the whole hours of a range's first and last
-- days (the partial hours at both ends come from the traces).
CREATE TABLE trace_filter_hours (
    hc               CHAR(1) NOT NULL CHECK (hc IN ('-', 'n')),
    hc_code          INTEGER NOT NULL,
    hour             TIMESTAMPTZ NOT NULL,
    environment      VARCHAR(20),
    alert_severity   VARCHAR(20) NOT NULL,
    execution_status VARCHAR(20),
    n                BIGINT NOT NULL,
    n_completed      BIGINT NOT NULL,
    duration_sum     BIGINT NOT NULL,
    duration_n       BIGINT NOT NULL,
    ns_mask          BIGINT NOT NULL,
    cluster_mask     BIGINT NOT NULL,
    type_mask        BIGINT NOT NULL,
    CONSTRAINT trace_filter_hours_key UNIQUE NULLS NOT DISTINCT
        (hc, hc_code, hour, environment, alert_severity, execution_status)
);

-- Per UTC day and every combination of namespace, cluster and action type code (NULL for a
-- NULL value), environment, severity and status: for a query filtered on two or three of the
-- high-cardinality dimensions (nearly a row per trace, but such a query reads only the rows of
-- its two or three values, through one of the three indexes).
CREATE TABLE trace_filter_combo (
    day              DATE NOT NULL,
    ns_code          INTEGER,
    cluster_code     INTEGER,
    type_code        INTEGER,
    environment      VARCHAR(20),
    alert_severity   VARCHAR(20) NOT NULL,
    execution_status VARCHAR(20),
    n                BIGINT NOT NULL,
    n_completed      BIGINT NOT NULL,
    duration_sum     BIGINT NOT NULL,
    duration_n       BIGINT NOT NULL,
    CONSTRAINT trace_filter_combo_key UNIQUE NULLS NOT DISTINCT
        (ns_code, cluster_code, type_code, day, environment, alert_severity, execution_status)
);
CREATE INDEX trace_filter_combo_nt ON trace_filter_combo (ns_code, type_code, day);
CREATE INDEX trace_filter_combo_ct ON trace_filter_combo (cluster_code, type_code, day);

-- Each history's namespace code as of its latest trace written (what the cubes counted it
-- under): the query reads the namespace of the few traces it takes from the table here, one
-- probe per history instead of action_histories → resource_references → trace_filter_codes.
CREATE TABLE trace_filter_histories (
    action_history_id BIGINT PRIMARY KEY,
    ns_code           INTEGER
);

-- True while every code has a bit (the cube answers); false sends the query to the shipped
-- statement. PARALLEL UNSAFE, as trace_daily_utc_session(): no parallel plan for the fallback.
CREATE FUNCTION trace_filter_cube_fits() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL UNSAFE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM trace_filter_codes WHERE code >= 64)
$$;

-- The shipped statement, for when the cube cannot answer (a code beyond the masks' 64 bits).
-- A PL/pgSQL function so that the cube's statement does not plan it (planning the 3-table join
-- over every partition, cold, is what the cube avoids): a NULL argument means "no filter", as
-- the service leaves the condition out.
CREATE FUNCTION trace_filter_shipped(
    p_namespace text, p_cluster text, p_environment text, p_severity text, p_action_type text,
    p_phase text, p_start timestamptz, p_end timestamptz)
RETURNS TABLE (total bigint, namespaces bigint, clusters bigint, action_types bigint,
               success_rate float8, avg_duration_ms numeric)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT COUNT(*), COUNT(DISTINCT rr.namespace), COUNT(DISTINCT rat.cluster_name),
           COUNT(DISTINCT rat.action_type),
           CASE WHEN COUNT(*) > 0
                THEN COUNT(*) FILTER (WHERE rat.execution_status = 'completed')::float8
                     / COUNT(*)
                ELSE 0 END,
           COALESCE(AVG(rat.execution_duration_ms), 0)
    FROM resource_action_traces rat
    JOIN action_histories ah ON rat.action_history_id = ah.id
    JOIN resource_references rr ON ah.resource_id = rr.id
    WHERE (p_namespace IS NULL OR rr.namespace = p_namespace)
      AND (p_cluster IS NULL OR rat.cluster_name = p_cluster)
      AND (p_environment IS NULL OR rat.environment = p_environment)
      AND (p_severity IS NULL OR rat.alert_severity = p_severity)
      AND (p_action_type IS NULL OR rat.action_type = p_action_type)
      AND (p_phase IS NULL OR rat.execution_status = p_phase)
      AND (p_start IS NULL OR rat.action_timestamp >= p_start)
      AND (p_end IS NULL OR rat.action_timestamp <= p_end);
END
$$;

-- Codes for the values never seen (an advisory lock serializes this rare step).
CREATE FUNCTION trace_filter_code_new(dims char[], vals text[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM unnest(dims, vals) u(d, v)
                   WHERE NOT EXISTS (SELECT 1 FROM trace_filter_codes c
                                     WHERE c.dim = u.d AND c.value = u.v)) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('trace_filter_codes'));
    INSERT INTO trace_filter_codes (dim, value, code)
    SELECT u.d, u.v,
           coalesce((SELECT max(code) FROM trace_filter_codes c WHERE c.dim = u.d), -1)
           + row_number() OVER (PARTITION BY u.d ORDER BY u.v)
    FROM (SELECT DISTINCT d, v FROM unnest(dims, vals) u(d, v)) u
    WHERE NOT EXISTS (SELECT 1 FROM trace_filter_codes c WHERE c.dim = u.d AND c.value = u.v);
END
$$;

CREATE FUNCTION trace_filter_cube_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trace_filter_code_new(array_agg(d), array_agg(v))
    FROM (SELECT 'n'::char AS d, rr.namespace::text AS v
          FROM cube_rows t
          JOIN action_histories ah ON ah.id = t.action_history_id
          JOIN resource_references rr ON rr.id = ah.resource_id
          WHERE rr.namespace IS NOT NULL
          UNION SELECT 'c', t.cluster_name FROM cube_rows t WHERE t.cluster_name IS NOT NULL
          UNION SELECT 't', t.action_type FROM cube_rows t) x;
    INSERT INTO trace_filter_histories AS r
    SELECT DISTINCT ON (ah.id) ah.id, cn.code
    FROM cube_rows t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    ORDER BY ah.id
    ON CONFLICT (action_history_id) DO UPDATE SET ns_code = EXCLUDED.ns_code
        WHERE r.ns_code IS DISTINCT FROM EXCLUDED.ns_code;
    INSERT INTO trace_filter_cube AS r
    SELECT k.hc, k.code, (t.action_timestamp AT TIME ZONE 'UTC')::date, t.environment,
           t.alert_severity, t.execution_status, count(*),
           count(*) FILTER (WHERE t.execution_status = 'completed'),
           coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms),
           bit_or(CASE WHEN cn.code < 64 THEN 1::bigint << cn.code ELSE 0 END),
           bit_or(CASE WHEN cc.code < 64 THEN 1::bigint << cc.code ELSE 0 END),
           bit_or(CASE WHEN ct.code < 64 THEN 1::bigint << ct.code ELSE 0 END)
    FROM cube_rows t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
    LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
    CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', cn.code), ('c', cc.code),
                               ('t', ct.code)) k (hc, code)
    WHERE k.code IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT trace_filter_cube_key DO UPDATE
        SET n = r.n + EXCLUDED.n, n_completed = r.n_completed + EXCLUDED.n_completed,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n,
            ns_mask = r.ns_mask | EXCLUDED.ns_mask,
            cluster_mask = r.cluster_mask | EXCLUDED.cluster_mask,
            type_mask = r.type_mask | EXCLUDED.type_mask;
    INSERT INTO trace_filter_hours AS r
    SELECT k.hc, k.code, date_trunc('hour', t.action_timestamp, 'UTC'), t.environment,
           t.alert_severity, t.execution_status, count(*),
           count(*) FILTER (WHERE t.execution_status = 'completed'),
           coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms),
           bit_or(CASE WHEN cn.code < 64 THEN 1::bigint << cn.code ELSE 0 END),
           bit_or(CASE WHEN cc.code < 64 THEN 1::bigint << cc.code ELSE 0 END),
           bit_or(CASE WHEN ct.code < 64 THEN 1::bigint << ct.code ELSE 0 END)
    FROM cube_rows t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
    LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
    CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', cn.code)) k (hc, code)
    WHERE k.code IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT trace_filter_hours_key DO UPDATE
        SET n = r.n + EXCLUDED.n, n_completed = r.n_completed + EXCLUDED.n_completed,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n,
            ns_mask = r.ns_mask | EXCLUDED.ns_mask,
            cluster_mask = r.cluster_mask | EXCLUDED.cluster_mask,
            type_mask = r.type_mask | EXCLUDED.type_mask;
    INSERT INTO trace_filter_combo AS r
    SELECT (t.action_timestamp AT TIME ZONE 'UTC')::date, cn.code, cc.code, ct.code,
           t.environment, t.alert_severity, t.execution_status, count(*),
           count(*) FILTER (WHERE t.execution_status = 'completed'),
           coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms)
    FROM cube_rows t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
    LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ORDER BY 2, 3, 4, 1, 5, 6, 7
    ON CONFLICT ON CONSTRAINT trace_filter_combo_key DO UPDATE
        SET n = r.n + EXCLUDED.n, n_completed = r.n_completed + EXCLUDED.n_completed,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum,
            duration_n = r.duration_n + EXCLUDED.duration_n;
    RETURN NULL;
END
$$;

-- Rows removed (DELETE, the old side of UPDATE): an OR cannot be undone, so the counts are
-- subtracted, cells left empty deleted, and the masks of the touched cells recomputed from the
-- traces now in their (day, environment, severity, status): one index range scan of a UTC day
-- per touched combination (the new side of an UPDATE, fired after this one, ORs its bits in).
CREATE FUNCTION trace_filter_cube_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS trace_filter_touched (
        day date, environment varchar(20), alert_severity varchar(20),
        execution_status varchar(20)) ON COMMIT DROP;
    TRUNCATE trace_filter_touched;
    INSERT INTO trace_filter_touched
    SELECT DISTINCT (action_timestamp AT TIME ZONE 'UTC')::date, environment, alert_severity,
           execution_status
    FROM cube_rows;

    UPDATE trace_filter_cube r
    SET n = r.n - o.n, n_completed = r.n_completed - o.n_completed,
        duration_sum = r.duration_sum - o.duration_sum, duration_n = r.duration_n - o.duration_n
    FROM (SELECT k.hc, k.code, (t.action_timestamp AT TIME ZONE 'UTC')::date AS day,
                 t.environment, t.alert_severity, t.execution_status, count(*) AS n,
                 count(*) FILTER (WHERE t.execution_status = 'completed') AS n_completed,
                 coalesce(sum(t.execution_duration_ms), 0) AS duration_sum,
                 count(t.execution_duration_ms) AS duration_n
          FROM cube_rows t
          JOIN action_histories ah ON ah.id = t.action_history_id
          JOIN resource_references rr ON rr.id = ah.resource_id
          LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
          LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
          LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
          CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', cn.code), ('c', cc.code),
                                     ('t', ct.code)) k (hc, code)
          WHERE k.code IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6) o
    WHERE r.hc = o.hc AND r.hc_code = o.code AND r.day = o.day
      AND r.environment IS NOT DISTINCT FROM o.environment
      AND r.alert_severity = o.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM o.execution_status;
    UPDATE trace_filter_hours r
    SET n = r.n - o.n, n_completed = r.n_completed - o.n_completed,
        duration_sum = r.duration_sum - o.duration_sum, duration_n = r.duration_n - o.duration_n
    FROM (SELECT k.hc, k.code, date_trunc('hour', t.action_timestamp, 'UTC') AS hour,
                 t.environment, t.alert_severity, t.execution_status, count(*) AS n,
                 count(*) FILTER (WHERE t.execution_status = 'completed') AS n_completed,
                 coalesce(sum(t.execution_duration_ms), 0) AS duration_sum,
                 count(t.execution_duration_ms) AS duration_n
          FROM cube_rows t
          JOIN action_histories ah ON ah.id = t.action_history_id
          JOIN resource_references rr ON rr.id = ah.resource_id
          LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
          CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', cn.code)) k (hc, code)
          WHERE k.code IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6) o
    WHERE r.hc = o.hc AND r.hc_code = o.code AND r.hour = o.hour AND r.environment IS NOT DISTINCT FROM o.environment
      AND r.alert_severity = o.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM o.execution_status;
    DELETE FROM trace_filter_cube r USING trace_filter_touched d
    WHERE r.n = 0 AND r.day = d.day AND r.environment IS NOT DISTINCT FROM d.environment
      AND r.alert_severity = d.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM d.execution_status;
    DELETE FROM trace_filter_hours r USING trace_filter_touched d
    WHERE r.n = 0 AND (r.hour AT TIME ZONE 'UTC')::date = d.day
      AND r.environment IS NOT DISTINCT FROM d.environment
      AND r.alert_severity = d.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM d.execution_status;

    UPDATE trace_filter_combo r
    SET n = r.n - o.n, n_completed = r.n_completed - o.n_completed,
        duration_sum = r.duration_sum - o.duration_sum, duration_n = r.duration_n - o.duration_n
    FROM (SELECT (t.action_timestamp AT TIME ZONE 'UTC')::date AS day, cn.code AS ns_code,
                 cc.code AS cluster_code, ct.code AS type_code, t.environment,
                 t.alert_severity, t.execution_status, count(*) AS n,
                 count(*) FILTER (WHERE t.execution_status = 'completed') AS n_completed,
                 coalesce(sum(t.execution_duration_ms), 0) AS duration_sum,
                 count(t.execution_duration_ms) AS duration_n
          FROM cube_rows t
          JOIN action_histories ah ON ah.id = t.action_history_id
          JOIN resource_references rr ON rr.id = ah.resource_id
          LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
          LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
          LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
          GROUP BY 1, 2, 3, 4, 5, 6, 7) o
    WHERE r.ns_code IS NOT DISTINCT FROM o.ns_code
      AND r.cluster_code IS NOT DISTINCT FROM o.cluster_code
      AND r.type_code IS NOT DISTINCT FROM o.type_code AND r.day = o.day
      AND r.environment IS NOT DISTINCT FROM o.environment
      AND r.alert_severity = o.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM o.execution_status;
    DELETE FROM trace_filter_combo r USING trace_filter_touched d
    WHERE r.n = 0 AND r.day = d.day AND r.environment IS NOT DISTINCT FROM d.environment
      AND r.alert_severity = d.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM d.execution_status;

    -- the masks of every remaining cell of the touched combinations, from the traces
    CREATE TEMP TABLE IF NOT EXISTS trace_filter_now ON COMMIT DROP AS
    SELECT t.action_timestamp, t.environment, t.alert_severity, t.execution_status,
           cn.code AS ns_code, cc.code AS cluster_code, ct.code AS type_code
    FROM resource_action_traces t
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
    LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type
    WITH NO DATA;
    TRUNCATE trace_filter_now;
    INSERT INTO trace_filter_now
    SELECT t.action_timestamp, t.environment, t.alert_severity, t.execution_status,
           cn.code, cc.code, ct.code
    FROM trace_filter_touched d
    JOIN resource_action_traces t
      ON t.action_timestamp >= (d.day::timestamp AT TIME ZONE 'UTC')
     AND t.action_timestamp < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
     AND t.environment IS NOT DISTINCT FROM d.environment
     AND t.alert_severity = d.alert_severity
     AND t.execution_status IS NOT DISTINCT FROM d.execution_status
    JOIN action_histories ah ON ah.id = t.action_history_id
    JOIN resource_references rr ON rr.id = ah.resource_id
    LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
    LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
    LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type;
    UPDATE trace_filter_cube r
    SET ns_mask = m.ns_mask, cluster_mask = m.cluster_mask, type_mask = m.type_mask
    FROM (SELECT k.hc, k.code, (t.action_timestamp AT TIME ZONE 'UTC')::date AS day,
                 t.environment, t.alert_severity, t.execution_status,
                 bit_or(CASE WHEN t.ns_code < 64 THEN 1::bigint << t.ns_code ELSE 0 END)
                     AS ns_mask,
                 bit_or(CASE WHEN t.cluster_code < 64 THEN 1::bigint << t.cluster_code
                        ELSE 0 END) AS cluster_mask,
                 bit_or(CASE WHEN t.type_code < 64 THEN 1::bigint << t.type_code ELSE 0 END)
                     AS type_mask
          FROM trace_filter_now t
          CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', t.ns_code), ('c', t.cluster_code),
                                     ('t', t.type_code)) k (hc, code)
          WHERE k.code IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6) m
    WHERE r.hc = m.hc AND r.hc_code = m.code AND r.day = m.day
      AND r.environment IS NOT DISTINCT FROM m.environment
      AND r.alert_severity = m.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM m.execution_status;
    UPDATE trace_filter_hours r
    SET ns_mask = m.ns_mask, cluster_mask = m.cluster_mask, type_mask = m.type_mask
    FROM (SELECT k.hc, k.code, date_trunc('hour', t.action_timestamp, 'UTC') AS hour,
                 t.environment, t.alert_severity, t.execution_status,
                 bit_or(CASE WHEN t.ns_code < 64 THEN 1::bigint << t.ns_code ELSE 0 END)
                     AS ns_mask,
                 bit_or(CASE WHEN t.cluster_code < 64 THEN 1::bigint << t.cluster_code
                        ELSE 0 END) AS cluster_mask,
                 bit_or(CASE WHEN t.type_code < 64 THEN 1::bigint << t.type_code ELSE 0 END)
                     AS type_mask
          FROM trace_filter_now t
          CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', t.ns_code)) k (hc, code)
          WHERE k.code IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6) m
    WHERE r.hc = m.hc AND r.hc_code = m.code AND r.hour = m.hour AND r.environment IS NOT DISTINCT FROM m.environment
      AND r.alert_severity = m.alert_severity
      AND r.execution_status IS NOT DISTINCT FROM m.execution_status;
    RETURN NULL;
END
$$;

CREATE FUNCTION trace_filter_cube_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE trace_filter_cube, trace_filter_hours, trace_filter_combo, trace_filter_histories;
    RETURN NULL;
END
$$;

CREATE TRIGGER trace_filter_cube_insert AFTER INSERT ON resource_action_traces
    REFERENCING NEW TABLE AS cube_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_filter_cube_add();
-- UPDATE: the old side first (fired in name order), then the new side.
CREATE TRIGGER trace_filter_cube_update_a_old
    AFTER UPDATE ON resource_action_traces
    REFERENCING OLD TABLE AS cube_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_filter_cube_remove();
CREATE TRIGGER trace_filter_cube_update_b_new
    AFTER UPDATE ON resource_action_traces
    REFERENCING NEW TABLE AS cube_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_filter_cube_add();
CREATE TRIGGER trace_filter_cube_delete AFTER DELETE ON resource_action_traces
    REFERENCING OLD TABLE AS cube_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trace_filter_cube_remove();
CREATE TRIGGER trace_filter_cube_truncate AFTER TRUNCATE ON resource_action_traces
    FOR EACH STATEMENT EXECUTE FUNCTION trace_filter_cube_truncate();

-- The initial fill (the build cost of this remedy): one pass over the traces joined to their
-- namespace, the values coded in name order, then grouped per cell.
CREATE TEMP TABLE trace_filter_fill AS
SELECT t.action_timestamp, t.environment, t.alert_severity, t.execution_status,
       t.execution_duration_ms, rr.namespace, t.cluster_name, t.action_type
FROM resource_action_traces t
JOIN action_histories ah ON ah.id = t.action_history_id
JOIN resource_references rr ON rr.id = ah.resource_id;
INSERT INTO trace_filter_codes
SELECT d, v, row_number() OVER (PARTITION BY d ORDER BY v) - 1
FROM (SELECT DISTINCT 'n'::char AS d, namespace::text AS v FROM trace_filter_fill
      WHERE namespace IS NOT NULL
      UNION SELECT 'c', cluster_name FROM trace_filter_fill WHERE cluster_name IS NOT NULL
      UNION SELECT 't', action_type FROM trace_filter_fill WHERE action_type IS NOT NULL) x;
INSERT INTO trace_filter_histories
SELECT ah.id, cn.code
FROM action_histories ah
JOIN resource_references rr ON rr.id = ah.resource_id
LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = rr.namespace
WHERE EXISTS (SELECT 1 FROM resource_action_traces t WHERE t.action_history_id = ah.id);
CREATE TEMP TABLE trace_filter_fill_coded AS
SELECT t.action_timestamp, t.environment, t.alert_severity, t.execution_status,
       t.execution_duration_ms, cn.code AS ns_code, cc.code AS cluster_code,
       ct.code AS type_code
FROM trace_filter_fill t
LEFT JOIN trace_filter_codes cn ON cn.dim = 'n' AND cn.value = t.namespace
LEFT JOIN trace_filter_codes cc ON cc.dim = 'c' AND cc.value = t.cluster_name
LEFT JOIN trace_filter_codes ct ON ct.dim = 't' AND ct.value = t.action_type;
INSERT INTO trace_filter_cube
SELECT k.hc, k.code, (t.action_timestamp AT TIME ZONE 'UTC')::date, t.environment,
       t.alert_severity, t.execution_status, count(*),
       count(*) FILTER (WHERE t.execution_status = 'completed'),
       coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms),
       bit_or(CASE WHEN t.ns_code < 64 THEN 1::bigint << t.ns_code ELSE 0 END),
       bit_or(CASE WHEN t.cluster_code < 64 THEN 1::bigint << t.cluster_code ELSE 0 END),
       bit_or(CASE WHEN t.type_code < 64 THEN 1::bigint << t.type_code ELSE 0 END)
FROM trace_filter_fill_coded t
CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', t.ns_code), ('c', t.cluster_code),
                           ('t', t.type_code)) k (hc, code)
WHERE k.code IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO trace_filter_hours
SELECT k.hc, k.code, date_trunc('hour', t.action_timestamp, 'UTC'), t.environment,
       t.alert_severity, t.execution_status, count(*),
       count(*) FILTER (WHERE t.execution_status = 'completed'),
       coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms),
       bit_or(CASE WHEN t.ns_code < 64 THEN 1::bigint << t.ns_code ELSE 0 END),
       bit_or(CASE WHEN t.cluster_code < 64 THEN 1::bigint << t.cluster_code ELSE 0 END),
       bit_or(CASE WHEN t.type_code < 64 THEN 1::bigint << t.type_code ELSE 0 END)
FROM trace_filter_fill_coded t
CROSS JOIN LATERAL (VALUES ('-'::char, -1), ('n', t.ns_code)) k (hc, code)
WHERE k.code IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO trace_filter_combo
SELECT (t.action_timestamp AT TIME ZONE 'UTC')::date, t.ns_code, t.cluster_code, t.type_code,
       t.environment, t.alert_severity, t.execution_status, count(*),
       count(*) FILTER (WHERE t.execution_status = 'completed'),
       coalesce(sum(t.execution_duration_ms), 0), count(t.execution_duration_ms)
FROM trace_filter_fill_coded t
GROUP BY 1, 2, 3, 4, 5, 6, 7;
DROP TABLE trace_filter_fill_coded;
DROP TABLE trace_filter_fill;
ANALYZE trace_filter_codes, trace_filter_histories, trace_filter_cube, trace_filter_hours,
        trace_filter_combo;
-- ctxbench:down
DROP TRIGGER IF EXISTS trace_filter_cube_truncate ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_filter_cube_delete ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_filter_cube_update_b_new ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_filter_cube_update_a_old ON resource_action_traces;
DROP TRIGGER IF EXISTS trace_filter_cube_insert ON resource_action_traces;
DROP FUNCTION IF EXISTS trace_filter_cube_truncate();
DROP FUNCTION IF EXISTS trace_filter_cube_remove();
DROP FUNCTION IF EXISTS trace_filter_cube_add();
DROP FUNCTION IF EXISTS trace_filter_code_new(char[], text[]);
DROP FUNCTION IF EXISTS trace_filter_cube_fits();
DROP FUNCTION IF EXISTS trace_filter_shipped(text, text, text, text, text, text, timestamptz,
                                              timestamptz);
DROP TABLE IF EXISTS trace_filter_histories;
DROP TABLE IF EXISTS trace_filter_combo;
DROP TABLE IF EXISTS trace_filter_hours;
DROP TABLE IF EXISTS trace_filter_cube;
DROP TABLE IF EXISTS trace_filter_codes;
