-- ctxbench schema variant: an index on created_at for the trend aggregation.
-- The shipped trend query filters created_at, which is not the partition key, so every
-- partition is read in full. With this index each partition is still visited, but only the
-- rows inside the window are read (an index range scan per partition).
CREATE INDEX idx_rat_created_at
    ON resource_action_traces (created_at);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_created_at;
