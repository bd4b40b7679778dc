-- `UPDATE OF column` fires whenever the column is *assigned*, changed or not: every log
-- flush (which records the log's size and whether it was truncated) announced a change of
-- the build, and every live subscriber re-read it. Announce only real changes.
DROP TRIGGER builds_notify_updated ON builds;
CREATE TRIGGER builds_notify_inserted
    AFTER INSERT ON builds
    FOR EACH ROW EXECUTE FUNCTION lectern_notify_build_updated();
CREATE TRIGGER builds_notify_updated
    AFTER UPDATE ON builds
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.log_truncated IS DISTINCT FROM NEW.log_truncated
          OR OLD.tests_passed IS DISTINCT FROM NEW.tests_passed
          OR OLD.tests_failed IS DISTINCT FROM NEW.tests_failed
          OR OLD.tests_skipped IS DISTINCT FROM NEW.tests_skipped
          OR OLD.score IS DISTINCT FROM NEW.score
          OR OLD.cancel_requested_at IS DISTINCT FROM NEW.cancel_requested_at)
    EXECUTE FUNCTION lectern_notify_build_updated();
