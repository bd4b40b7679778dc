DROP TRIGGER builds_notify_updated ON builds;
DROP TRIGGER builds_notify_inserted ON builds;
CREATE TRIGGER builds_notify_updated
    AFTER INSERT OR UPDATE OF status, log_truncated, tests_passed, tests_failed, tests_skipped, score,
        cancel_requested_at
    ON builds FOR EACH ROW EXECUTE FUNCTION lectern_notify_build_updated();
