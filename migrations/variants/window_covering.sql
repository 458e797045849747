-- ctxbench schema variant (remedy): one covering index for the time-window aggregations.
-- top_failing_actions, action_comparison, namespace_health, the partition-bounded trend and
-- the time-filtered aggregation read only these columns of the traces in a window of
-- action_timestamp. As shipped they fetch every row of the window from the heap (≈ 3.6 kB
-- per row, two rows per 8 kB page) or scan whole partitions; with the columns INCLUDEd the
-- window becomes an index-only range scan per partition (≈ 100 B per row, visibility map
-- permitting: rows inserted since the last VACUUM still visit the heap).
-- id is INCLUDEd for list_incidents' page walks (skip, deferred): beside list_covering this
-- index also serves "newest first within a time range", and the planner sometimes prefers it
-- (measured at 1M: one ANALYZE sample picked it, another list_covering); without id that choice
-- was a plain index scan fetching the heap row of every entry of the range (30k rows read to
-- return 100). With id either index is an index-only walk.
CREATE INDEX idx_rat_ts_covering
    ON resource_action_traces (action_timestamp)
    INCLUDE (id, action_history_id, action_type, execution_status, alert_severity,
             execution_duration_ms, execution_end_time, created_at, cluster_name, environment);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_ts_covering;
