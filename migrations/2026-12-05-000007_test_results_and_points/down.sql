DROP INDEX builds_grading_idx;
ALTER TABLE test_results
    ALTER COLUMN points TYPE NUMERIC(10, 2),
    ALTER COLUMN max_points TYPE NUMERIC(10, 2);
DROP TRIGGER builds_notify_updated ON builds;
ALTER TABLE builds
    DROP COLUMN report_problem,
    DROP COLUMN report_format,
    ALTER COLUMN score TYPE NUMERIC(10, 2),
    ALTER COLUMN max_score TYPE NUMERIC(10, 2);
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
ALTER TABLE assignments DROP COLUMN test_points;
