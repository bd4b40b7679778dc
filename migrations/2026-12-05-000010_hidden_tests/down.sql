DELETE FROM log_chunks WHERE stream LIKE 'hidden_%';
ALTER TABLE log_chunks DROP CONSTRAINT log_chunks_stream_check;
ALTER TABLE log_chunks ADD CONSTRAINT log_chunks_stream_check
    CHECK (stream IN ('stdout', 'stderr', 'system'));
DROP INDEX builds_graded_runs_idx;
ALTER TABLE builds
    DROP COLUMN graded_run, DROP COLUMN ungraded_reason, DROP COLUMN image_digest,
    DROP COLUMN hidden_tests_sha256, DROP COLUMN hidden_passed, DROP COLUMN hidden_failed,
    DROP COLUMN hidden_skipped, DROP COLUMN visible_score, DROP COLUMN protected_edits;
ALTER TABLE assignments
    DROP CONSTRAINT assignments_one_hidden_source,
    DROP CONSTRAINT assignments_starter_ref_needs_repo,
    DROP COLUMN hidden_tests_archive, DROP COLUMN hidden_tests_path,
    DROP COLUMN hidden_tests_command, DROP COLUMN hidden_released_at,
    DROP COLUMN starter_repo, DROP COLUMN starter_ref, DROP COLUMN protected_paths,
    DROP COLUMN graded_run_limit, DROP COLUMN graded_run_period_hours;
