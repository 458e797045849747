-- ctxbench schema variant (remedy): the planner's row estimate as a count.
-- ctxbench_count_estimate(namespace, severity, cluster, environment, action_type, start, end)
-- plans (EXPLAIN, no execution) the list's join under the same filters and returns the
-- estimated row count of its top node. It reads statistics only (pg_statistic, reltuples),
-- never the rows: constant time whatever the scale, and wrong by whatever the statistics are
-- wrong by (stale after bulk changes until ANALYZE; 1 for a filter that matches nothing).
-- Values are passed as literals with format(%L); NULL means "no filter".
CREATE FUNCTION ctxbench_count_estimate(p_namespace text, p_severity text, p_cluster text,
                                        p_environment text, p_action_type text,
                                        p_start timestamptz, p_end timestamptz)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    conds text[] := ARRAY[]::text[];
    sql   text;
    plan  json;
BEGIN
    IF p_namespace IS NOT NULL THEN conds := conds || format('rr.namespace = %L', p_namespace); END IF;
    IF p_severity IS NOT NULL THEN conds := conds || format('rat.alert_severity = %L', p_severity); END IF;
    IF p_cluster IS NOT NULL THEN conds := conds || format('rat.cluster_name = %L', p_cluster); END IF;
    IF p_environment IS NOT NULL THEN conds := conds || format('rat.environment = %L', p_environment); END IF;
    IF p_action_type IS NOT NULL THEN conds := conds || format('rat.action_type = %L', p_action_type); END IF;
    IF p_start IS NOT NULL THEN
        conds := conds || format('rat.action_timestamp BETWEEN %L AND %L', p_start, p_end);
    END IF;
    sql := 'SELECT 1 FROM resource_action_traces rat '
        || 'JOIN action_histories ah ON rat.action_history_id = ah.id '
        || 'JOIN resource_references rr ON ah.resource_id = rr.id';
    IF cardinality(conds) > 0 THEN
        sql := sql || ' WHERE ' || array_to_string(conds, ' AND ');
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || sql INTO plan;
    RETURN round((plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric)::bigint;
END
$$;
-- ctxbench:down
DROP FUNCTION IF EXISTS ctxbench_count_estimate(text, text, text, text, text, timestamptz,
                                                timestamptz);
