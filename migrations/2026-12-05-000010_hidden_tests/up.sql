-- Hidden tests, protected paths, limits on graded runs, and what a grade's receipt names.
ALTER TABLE assignments
    -- Hidden tests as an archive uploaded to Lectern (a gzipped tar), in place of a git
    -- repository (hidden_tests_repo / hidden_tests_ref).
    ADD COLUMN hidden_tests_archive BYTEA CHECK (length(hidden_tests_archive) <= 16777216),
    -- Where the hidden tests go in the workspace, relative to the checkout.
    ADD COLUMN hidden_tests_path TEXT NOT NULL DEFAULT 'hidden_tests'
        CHECK (length(hidden_tests_path) BETWEEN 1 AND 1024),
    -- The command that runs them; NULL: the assignment's test command.
    ADD COLUMN hidden_tests_command TEXT CHECK (length(btrim(hidden_tests_command)) BETWEEN 1 AND 4096),
    -- When students may see the hidden tests' names, output and points; NULL: not yet.
    ADD COLUMN hidden_released_at TIMESTAMPTZ,
    -- The repository students start from, and paths in it they must not change.
    ADD COLUMN starter_repo TEXT CHECK (length(starter_repo) <= 2048),
    ADD COLUMN starter_ref TEXT CHECK (length(starter_ref) <= 256),
    ADD COLUMN protected_paths TEXT[] NOT NULL DEFAULT '{}',
    -- At most this many graded runs per student in any period of that many hours.
    ADD COLUMN graded_run_limit INTEGER CHECK (graded_run_limit BETWEEN 1 AND 1000),
    ADD COLUMN graded_run_period_hours INTEGER NOT NULL DEFAULT 24
        CHECK (graded_run_period_hours BETWEEN 1 AND 8760),
    ADD CONSTRAINT assignments_one_hidden_source
        CHECK (hidden_tests_archive IS NULL OR hidden_tests_repo IS NULL),
    ADD CONSTRAINT assignments_starter_ref_needs_repo
        CHECK (starter_ref IS NULL OR starter_repo IS NOT NULL);

ALTER TABLE builds
    -- Whether this build spends one of the student's graded runs (false: over the limit,
    -- so it ran the visible tests only and is not graded; ungraded_reason says why).
    ADD COLUMN graded_run BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN ungraded_reason TEXT CHECK (length(ungraded_reason) <= 1024),
    -- The receipt: the image the tests ran in and the hidden tests used.
    ADD COLUMN image_digest TEXT CHECK (length(image_digest) <= 256),
    ADD COLUMN hidden_tests_sha256 TEXT CHECK (hidden_tests_sha256 ~ '^[0-9a-f]{64}$'),
    -- The part of the counts and the score that is the hidden tests', withheld from the
    -- student until the hidden tests are released; visible_score is what they see until then.
    ADD COLUMN hidden_passed INTEGER NOT NULL DEFAULT 0 CHECK (hidden_passed >= 0),
    ADD COLUMN hidden_failed INTEGER NOT NULL DEFAULT 0 CHECK (hidden_failed >= 0),
    ADD COLUMN hidden_skipped INTEGER NOT NULL DEFAULT 0 CHECK (hidden_skipped >= 0),
    ADD COLUMN visible_score NUMERIC(16, 6),
    -- Protected paths this commit changed, added or removed against the starter.
    ADD COLUMN protected_edits TEXT[] NOT NULL DEFAULT '{}';

-- Counting a student's graded runs in a period.
CREATE INDEX builds_graded_runs_idx ON builds (assignment_id, repository_id, received_at)
    WHERE graded_run;

-- The hidden tests' output is stored with the rest, on streams of its own.
ALTER TABLE log_chunks DROP CONSTRAINT log_chunks_stream_check;
ALTER TABLE log_chunks ADD CONSTRAINT log_chunks_stream_check CHECK (stream IN
    ('stdout', 'stderr', 'system', 'hidden_stdout', 'hidden_stderr', 'hidden_system'));
