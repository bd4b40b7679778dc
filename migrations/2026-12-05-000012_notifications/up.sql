-- Notifications: who hears about builds, and what became of each message.

-- When a person hears about builds by email: never, failures only, changes of status
-- (failed after passing, fixed after failing), or always.
CREATE TABLE notification_preferences (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL: the person's default, for the courses they set nothing for.
    course_id       BIGINT REFERENCES courses (id) ON DELETE CASCADE,
    email           TEXT NOT NULL CHECK (email IN ('never', 'failures', 'changes', 'always')),
    -- Staff: one email a day summing up the course's builds.
    daily_digest    BOOLEAN NOT NULL DEFAULT false,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (user_id, course_id)
);

-- A course's Slack incoming webhook: sealed (it is a secret), with a hint to show for it.
ALTER TABLE courses
    ADD COLUMN slack_webhook BYTEA,
    ADD COLUMN slack_webhook_hint TEXT CHECK (length(slack_webhook_hint) <= 200),
    ADD COLUMN slack_when TEXT NOT NULL DEFAULT 'failures'
        CHECK (slack_when IN ('never', 'failures', 'changes', 'always')),
    ADD CONSTRAINT courses_slack_hint CHECK ((slack_webhook IS NULL) = (slack_webhook_hint IS NULL));

-- The outbox: one row per (subject, channel, recipient), written in the transaction that
-- finishes the build; a job delivers it. `sending` is set just before a message leaves:
-- one found still `sending` by a later attempt was perhaps sent by a server that stopped,
-- and is marked `unconfirmed` rather than sent twice.
CREATE TABLE notifications (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id       BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    build_id        BIGINT REFERENCES builds (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('build', 'regrade', 'digest')),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'slack')),
    -- Whom an email is for; NULL for the course's Slack channel.
    user_id         BIGINT REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL UNIQUE CHECK (length(idempotency_key) <= 200),
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unconfirmed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT CHECK (length(last_error) <= 2000),
    sending_since   TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((channel = 'email') = (user_id IS NOT NULL)),
    CHECK ((kind = 'digest') = (build_id IS NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE TRIGGER notifications_touch BEFORE UPDATE ON notifications
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();
CREATE INDEX notifications_build_idx ON notifications (build_id);
CREATE INDEX notifications_problems_idx ON notifications (course_id, updated_at DESC)
    WHERE status IN ('failed', 'unconfirmed');
