-- Kubernaut migrations/004: when an action's effectiveness is due for assessment.
ALTER TABLE resource_action_traces ADD COLUMN effectiveness_assessment_due TIMESTAMPTZ;
CREATE INDEX idx_rat_effectiveness_assessment_due
    ON resource_action_traces (effectiveness_assessment_due);
