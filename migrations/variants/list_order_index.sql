-- ctxbench schema variant: indexes that serve the incident list's order.
-- The shipped schema has no index led by action_timestamp, so Q1 sorts every matching joined
-- row to return one page. These let the planner read each partition newest-first (a Merge
-- Append of index scans) and stop at LIMIT + OFFSET; id DESC makes the order total, matching
-- the stable_order/indexed list variants (and serving the shipped order as well). The
-- severity-led one serves severity-only filters, which have no usable index as shipped.
-- Also serves the NOW()-relative windows of top_failing_actions.
CREATE INDEX idx_rat_ts_id_desc
    ON resource_action_traces (action_timestamp DESC, id DESC);
CREATE INDEX idx_rat_severity_ts_id_desc
    ON resource_action_traces (alert_severity, action_timestamp DESC, id DESC);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_severity_ts_id_desc;
DROP INDEX IF EXISTS idx_rat_ts_id_desc;
