-- Grading: what each test is worth, scores kept exactly, and where a build's results came from.

-- Points per test by name pattern: [{"pattern": "test_*", "points": "2.5"}, …]. Empty: the
-- assignment's points are spread evenly over its tests.
ALTER TABLE assignments
    ADD COLUMN test_points JSONB NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(test_points) = 'array' AND jsonb_array_length(test_points) <= 200);

-- Two decimal places round small shares to zero (1 point over 1000 tests); keep six.
-- The change notification's trigger names `score`, so it is set aside while the type changes.
DROP TRIGGER builds_notify_updated ON builds;
ALTER TABLE builds
    ALTER COLUMN score TYPE NUMERIC(16, 6),
    ALTER COLUMN max_score TYPE NUMERIC(16, 6),
    -- Which report the results were read from (`JUnit XML`, `pytest`, …), and what went
    -- wrong reading the one the assignment names, shown on the build.
    ADD COLUMN report_format TEXT CHECK (length(report_format) <= 40),
    ADD COLUMN report_problem TEXT CHECK (length(report_problem) <= 2000);
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

ALTER TABLE test_results
    ALTER COLUMN points TYPE NUMERIC(16, 6),
    ALTER COLUMN max_points TYPE NUMERIC(16, 6);

-- The grade matrix: each repository's finished builds, newest first.
CREATE INDEX builds_grading_idx ON builds (repository_id, finished_at DESC)
    WHERE finished_at IS NOT NULL;
