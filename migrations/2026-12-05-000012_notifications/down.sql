DROP TABLE notifications;
ALTER TABLE courses
    DROP CONSTRAINT courses_slack_hint,
    DROP COLUMN slack_when,
    DROP COLUMN slack_webhook_hint,
    DROP COLUMN slack_webhook;
DROP TABLE notification_preferences;
