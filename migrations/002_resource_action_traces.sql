-- Kubernaut migrations/002: resource_action_traces recreated, partitioned by month on
-- action_timestamp. The shipped file created the months 2025-07..2025-10 (and 999 added
-- 2025-11); ctxbench creates exactly the months its dataset covers instead. There is no
-- DEFAULT partition in the shipped schema (a dataset option can add one).
CREATE TABLE resource_action_traces (
    id                              BIGSERIAL,
    action_history_id               BIGINT NOT NULL REFERENCES action_histories (id) ON DELETE CASCADE,
    action_id                       VARCHAR(64) NOT NULL,
    correlation_id                  VARCHAR(64),
    action_timestamp                TIMESTAMPTZ NOT NULL,
    execution_start_time            TIMESTAMPTZ,
    execution_end_time              TIMESTAMPTZ,
    execution_duration_ms           INTEGER,
    alert_name                      VARCHAR(200) NOT NULL,
    alert_severity                  VARCHAR(20) NOT NULL,
    alert_labels                    JSONB,
    alert_annotations               JSONB,
    alert_firing_time               TIMESTAMPTZ,
    model_used                      VARCHAR(100) NOT NULL,
    routing_tier                    VARCHAR(20),
    model_confidence                DECIMAL(4, 3) NOT NULL,
    model_reasoning                 TEXT,
    alternative_actions             JSONB,
    action_type                     VARCHAR(50) NOT NULL,
    action_parameters               JSONB,
    resource_state_before           JSONB,
    resource_state_after            JSONB,
    execution_status                VARCHAR(20) DEFAULT 'pending',
    execution_error                 TEXT,
    kubernetes_operations           JSONB,
    effectiveness_score             DECIMAL(4, 3),
    effectiveness_criteria          JSONB,
    effectiveness_assessed_at       TIMESTAMPTZ,
    effectiveness_assessment_method VARCHAR(20),
    effectiveness_notes             TEXT,
    follow_up_actions               JSONB,
    created_at                      TIMESTAMPTZ DEFAULT NOW(),
    updated_at                      TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (id, action_timestamp),
    UNIQUE (action_id, action_timestamp)
) PARTITION BY RANGE (action_timestamp);

CREATE INDEX idx_rat_action_history ON resource_action_traces (action_history_id, action_timestamp);
CREATE INDEX idx_rat_action_type ON resource_action_traces (action_type, action_timestamp);
CREATE INDEX idx_rat_model_used ON resource_action_traces (model_used, action_timestamp);
CREATE INDEX idx_rat_alert_name ON resource_action_traces (alert_name, action_timestamp);
CREATE INDEX idx_rat_execution_status ON resource_action_traces (execution_status)
    WHERE execution_status IN ('pending', 'executing');
CREATE INDEX idx_rat_effectiveness_score ON resource_action_traces (effectiveness_score)
    WHERE effectiveness_score IS NOT NULL;
CREATE INDEX idx_rat_correlation_id ON resource_action_traces (correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX idx_rat_alert_labels_gin ON resource_action_traces USING GIN (alert_labels);
CREATE INDEX idx_rat_action_parameters_gin ON resource_action_traces USING GIN (action_parameters);
CREATE INDEX idx_rat_resource_state_before_gin ON resource_action_traces USING GIN (resource_state_before);

CREATE TRIGGER update_resource_action_traces_updated_at
    BEFORE UPDATE ON resource_action_traces
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
