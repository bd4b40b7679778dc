-- Deadlines: what happens to work received late, which build grades an assignment, and
-- per-student extensions.
ALTER TABLE assignments
    -- accept: late work is graded as it is (and marked late); penalty: its score loses
    -- late_penalty_percent per started day past the deadline; refuse: it is not graded.
    ADD COLUMN late_policy TEXT NOT NULL DEFAULT 'accept'
        CHECK (late_policy IN ('accept', 'penalty', 'refuse')),
    ADD COLUMN late_penalty_percent NUMERIC(5, 2) NOT NULL DEFAULT 0
        CHECK (late_penalty_percent BETWEEN 0 AND 100),
    -- latest: the newest graded build counts; best: the highest-scoring one.
    ADD COLUMN grade_policy TEXT NOT NULL DEFAULT 'latest'
        CHECK (grade_policy IN ('latest', 'best'));

CREATE TABLE extensions (
    assignment_id   BIGINT NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- This student's deadline for the assignment, in place of the assignment's.
    due_at          TIMESTAMPTZ NOT NULL,
    granted_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (assignment_id, user_id)
);

ALTER TABLE builds
    -- Whole or started days past the deadline when the push was received (late builds).
    ADD COLUMN late_days INTEGER CHECK (late_days >= 0),
    -- The score before a late penalty, when one was taken.
    ADD COLUMN score_before_penalty NUMERIC(16, 6);
