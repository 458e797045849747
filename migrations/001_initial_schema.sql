-- Kubernaut migrations/001_initial_schema.sql (as of 9e4ce2b2), the two tables the Context API
-- joins through. 001 also created a first resource_action_traces; 002 drops and recreates it,
-- so it lives in 002 here. 001's create_monthly_partitions() was only ever run by hand and is
-- replaced by ctxbench's partition manager (partitions follow the generated time range).
-- 001 also ran CREATE EXTENSION "uuid-ossp". No column default uses it, the embedded wheel is
-- built without it, and ctxbench generates its identifiers itself, so it is left out.

CREATE TABLE resource_references (
    id            BIGSERIAL PRIMARY KEY,
    resource_uid  VARCHAR(36)  NOT NULL UNIQUE,
    api_version   VARCHAR(100) NOT NULL,
    kind          VARCHAR(100) NOT NULL,
    name          VARCHAR(253) NOT NULL,
    namespace     VARCHAR(63),
    created_at    TIMESTAMPTZ DEFAULT NOW(),
    deleted_at    TIMESTAMPTZ,
    last_seen     TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (namespace, kind, name)
);
CREATE INDEX idx_resource_kind ON resource_references (kind);
CREATE INDEX idx_resource_namespace ON resource_references (namespace);
CREATE INDEX idx_resource_last_seen ON resource_references (last_seen);
CREATE INDEX idx_resource_uid ON resource_references (resource_uid);

CREATE TABLE action_histories (
    id                          BIGSERIAL PRIMARY KEY,
    resource_id                 BIGINT NOT NULL REFERENCES resource_references (id) ON DELETE CASCADE,
    max_actions                 INTEGER DEFAULT 1000,
    max_age_days                INTEGER DEFAULT 30,
    compaction_strategy         VARCHAR(20) DEFAULT 'pattern-aware',
    oscillation_window_minutes  INTEGER DEFAULT 120,
    effectiveness_threshold     DECIMAL(3, 2) DEFAULT 0.70,
    pattern_min_occurrences     INTEGER DEFAULT 3,
    total_actions               INTEGER DEFAULT 0,
    last_action_at              TIMESTAMPTZ,
    last_analysis_at            TIMESTAMPTZ,
    next_analysis_at            TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ DEFAULT NOW(),
    updated_at                  TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (resource_id)
);
CREATE INDEX idx_action_histories_last_action ON action_histories (last_action_at);
CREATE INDEX idx_action_histories_next_analysis ON action_histories (next_analysis_at);
CREATE INDEX idx_action_histories_resource ON action_histories (resource_id);

CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_action_histories_updated_at
    BEFORE UPDATE ON action_histories
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
