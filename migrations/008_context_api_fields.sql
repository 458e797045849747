-- Kubernaut migrations/008 (final form, 4941886b/29a64a7d): the Context API's fields,
-- the CHECK constraint, the filter indexes and the HNSW index with pgvector's defaults
-- (no WITH clause: m = 16, ef_construction = 64).
ALTER TABLE resource_action_traces
    ADD COLUMN alert_fingerprint VARCHAR(64),
    ADD COLUMN cluster_name VARCHAR(100),
    ADD COLUMN environment VARCHAR(20),
    ADD COLUMN embedding vector(384);

ALTER TABLE resource_action_traces ADD CONSTRAINT check_environment_valid
    CHECK (environment IS NULL OR environment IN ('production', 'staging', 'development', 'test'));

CREATE INDEX idx_rat_alert_fingerprint ON resource_action_traces (alert_fingerprint);
CREATE INDEX idx_rat_cluster_name ON resource_action_traces (cluster_name);
CREATE INDEX idx_rat_environment ON resource_action_traces (environment);
CREATE INDEX idx_rat_context_filters ON resource_action_traces (cluster_name, environment, alert_severity)
    WHERE cluster_name IS NOT NULL;
CREATE INDEX idx_rat_embedding_hnsw ON resource_action_traces USING hnsw (embedding vector_cosine_ops);
