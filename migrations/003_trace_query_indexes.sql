-- Kubernaut migrations/003: two composite indexes for history lookups and effectiveness.
CREATE INDEX idx_rat_history_type_time
    ON resource_action_traces (action_history_id, action_type, action_timestamp DESC);
CREATE INDEX idx_rat_type_effectiveness_time
    ON resource_action_traces (action_type, effectiveness_score, action_timestamp)
    WHERE effectiveness_score IS NOT NULL;
