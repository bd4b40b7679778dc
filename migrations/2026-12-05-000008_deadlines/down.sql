ALTER TABLE builds DROP COLUMN score_before_penalty, DROP COLUMN late_days;
DROP TABLE extensions;
ALTER TABLE assignments DROP COLUMN grade_policy, DROP COLUMN late_penalty_percent, DROP COLUMN late_policy;
