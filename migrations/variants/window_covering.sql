-- ctxbench schema variant (remedy): one covering index for the time-window aggregations.
-- top_failing_actions, action_comparison, namespace_health, the partition-bounded trend and
-- the time-filtered aggregation read only these columns of the traces in a window of
-- action_timestamp. As shipped they fetch every row of the window from the heap (≈ 3.6 kB
-- per row, two rows per 8 kB page) or scan whole partitions; with the columns INCLUDEd the
-- window becomes an index-only range scan per partition (≈ 100 B per row, visibility map
-- permitting: rows inserted since the last VACUUM still visit the heap).
CREATE INDEX idx_rat_ts_covering
    ON resource_action_traces (action_timestamp)
    INCLUDE (action_history_id, action_type, execution_status, alert_severity,
             execution_duration_ms, execution_end_time, created_at, cluster_name, environment);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_ts_covering;
