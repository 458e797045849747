-- ctxbench schema variant (remedy): the list's order with its filter columns INCLUDEd.
-- With list_incidents' deferred variant, the page is found by an index-only walk newest-first
-- (skipping OFFSET rows costs ≈ 50 B of index each, not a 3.6 kB heap row), and only the
-- LIMIT rows are then read from the heap. action_history_id is included for the join to the
-- namespace; the other columns for the builder's equality filters.
CREATE INDEX idx_rat_ts_id_covering
    ON resource_action_traces (action_timestamp DESC, id DESC)
    INCLUDE (action_history_id, alert_severity, cluster_name, environment, action_type);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_ts_id_covering;
