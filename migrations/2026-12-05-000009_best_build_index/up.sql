-- The grade matrix under the "best" policy: each repository's graded builds, best first, so
-- choosing one is a single index probe rather than a sort of all of them.
CREATE INDEX builds_best_idx ON builds (repository_id, score DESC, finished_at DESC)
    WHERE finished_at IS NOT NULL AND score IS NOT NULL AND pr_number IS NULL;
