-- Lectern's whole domain: people, courses, assignments, repositories, builds and their
-- output, webhook deliveries, the background job queue and sessions.
-- Enumerations are TEXT with CHECK constraints: readable in psql, cheap to extend in a
-- later migration (drop and re-add the constraint), mapped to Rust enums in db/enums.rs.

CREATE FUNCTION lectern_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL only for users made by the development sign-in or by an operator before first sign-in.
    github_id               BIGINT UNIQUE,
    login                   TEXT NOT NULL CHECK (login ~ '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$'),
    name                    TEXT CHECK (length(name) <= 256),
    email                   TEXT CHECK (length(email) <= 320),
    avatar_url              TEXT CHECK (length(avatar_url) <= 2048),
    -- AEAD ciphertext (nonce || ciphertext || tag) of the user's GitHub token; never plaintext.
    github_token_encrypted  BYTEA,
    github_token_scopes     TEXT,
    is_admin                BOOLEAN NOT NULL DEFAULT false,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at            TIMESTAMPTZ
);
-- GitHub logins are unique regardless of case.
CREATE UNIQUE INDEX users_login_key ON users (lower(login));
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();

CREATE TABLE sessions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the cookie's random token: a database leak yields no usable session.
    token_hash      BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    user_agent      TEXT CHECK (length(user_agent) <= 512),
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE courses (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    name            TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    term            TEXT NOT NULL DEFAULT '' CHECK (length(term) <= 100),
    archived_at     TIMESTAMPTZ,
    created_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER courses_touch BEFORE UPDATE ON courses
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();

CREATE TABLE invites (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id       BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('instructor', 'ta', 'student')),
    code            TEXT NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{8,64}$'),
    expires_at      TIMESTAMPTZ,
    max_uses        INTEGER CHECK (max_uses > 0),
    uses            INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at      TIMESTAMPTZ,
    created_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX invites_course_idx ON invites (course_id, created_at DESC);

CREATE TABLE memberships (
    course_id       BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('instructor', 'ta', 'student')),
    invite_id       BIGINT REFERENCES invites (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (course_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id, course_id);
CREATE INDEX memberships_course_role_idx ON memberships (course_id, role);
CREATE TRIGGER memberships_touch BEFORE UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();

CREATE TABLE assignments (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id           BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    slug                TEXT NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    title               TEXT NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description         TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    -- Base image the tests run in, e.g. localhost/lectern-python:3.11 or ghcr.io/org/img@sha256:…
    image               TEXT NOT NULL CHECK (length(image) BETWEEN 1 AND 512),
    test_command        TEXT NOT NULL CHECK (length(btrim(test_command)) BETWEEN 1 AND 4096),
    timeout_seconds     INTEGER NOT NULL DEFAULT 600 CHECK (timeout_seconds BETWEEN 1 AND 86400),
    memory_mb           INTEGER NOT NULL DEFAULT 512 CHECK (memory_mb BETWEEN 16 AND 65536),
    cpu_millis          INTEGER NOT NULL DEFAULT 1000 CHECK (cpu_millis BETWEEN 100 AND 64000),
    points              NUMERIC(10, 2) NOT NULL DEFAULT 100 CHECK (points >= 0),
    due_at              TIMESTAMPTZ,
    -- Whether a student's own Dockerfile may build the test image (else base image + checkout).
    allow_dockerfile    BOOLEAN NOT NULL DEFAULT false,
    -- Branch name patterns that trigger builds; empty means every branch.
    allowed_branches    TEXT[] NOT NULL DEFAULT '{}',
    -- Hidden tests: a git repository and ref the instructor names (its own issue adds archives).
    hidden_tests_repo   TEXT CHECK (length(hidden_tests_repo) <= 2048),
    hidden_tests_ref    TEXT CHECK (length(hidden_tests_ref) <= 256),
    -- Where the test runner writes a JUnit XML report inside the sandbox, when it does.
    report_path         TEXT CHECK (length(report_path) <= 1024),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (course_id, slug),
    CHECK (hidden_tests_ref IS NULL OR hidden_tests_repo IS NOT NULL)
);
CREATE INDEX assignments_course_due_idx ON assignments (course_id, due_at);
CREATE TRIGGER assignments_touch BEFORE UPDATE ON assignments
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();

CREATE TABLE repositories (
    id                          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id                   BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    assignment_id               BIGINT NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    owner_id                    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- GitHub's numeric id survives renames and transfers; webhooks are matched on it.
    github_repo_id              BIGINT NOT NULL UNIQUE,
    full_name                   TEXT NOT NULL CHECK (full_name ~ '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'),
    clone_url                   TEXT NOT NULL CHECK (length(clone_url) <= 2048),
    default_branch              TEXT NOT NULL DEFAULT 'main' CHECK (length(default_branch) BETWEEN 1 AND 255),
    private                     BOOLEAN NOT NULL DEFAULT false,
    webhook_id                  BIGINT,
    -- AEAD ciphertext of the per-repository webhook secret.
    webhook_secret_encrypted    BYTEA,
    webhook_status              TEXT NOT NULL DEFAULT 'pending'
                                CHECK (webhook_status IN ('pending', 'active', 'missing', 'failed')),
    webhook_checked_at          TIMESTAMPTZ,
    -- The number the next build of this repository gets (builds are numbered per repository).
    next_build_number           INTEGER NOT NULL DEFAULT 1 CHECK (next_build_number >= 1),
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- One repository per student per assignment.
    UNIQUE (assignment_id, owner_id)
);
CREATE INDEX repositories_course_idx ON repositories (course_id);
CREATE INDEX repositories_owner_idx ON repositories (owner_id);
CREATE TRIGGER repositories_touch BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION lectern_touch_updated_at();

CREATE TABLE builds (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id       BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    -- Denormalised from the repository so course- and assignment-wide views need no join.
    course_id           BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    assignment_id       BIGINT NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    number              INTEGER NOT NULL CHECK (number >= 1),
    trigger             TEXT NOT NULL CHECK (trigger IN ('push', 'pull_request', 'retry', 'manual')),
    branch              TEXT CHECK (length(branch) BETWEEN 1 AND 255),
    pr_number           INTEGER CHECK (pr_number >= 1),
    commit_sha          TEXT NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    commit_message      TEXT NOT NULL DEFAULT '',
    commit_author       TEXT,
    -- The Lectern user who caused the build (pusher, or who retried it), when known.
    triggered_by        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    status              TEXT NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'passed', 'failed', 'errored', 'timed_out', 'cancelled')),
    -- Why a build errored, was cancelled or superseded; shown to people.
    status_reason       TEXT CHECK (length(status_reason) <= 2000),
    attempt             INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    retry_of            BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    delivery_id         TEXT,
    -- When Lectern received the push: deadlines use this, never the commit's own date.
    received_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    queued_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at          TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ,
    -- The worker holding the build and until when its lease runs; renewed while it runs.
    worker_id           TEXT,
    lease_expires_at    TIMESTAMPTZ,
    executor            TEXT CHECK (executor IN ('kubernetes', 'docker', 'local')),
    exit_code           INTEGER,
    cancel_requested_at TIMESTAMPTZ,
    cancel_requested_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    log_bytes           BIGINT NOT NULL DEFAULT 0 CHECK (log_bytes >= 0),
    log_truncated       BOOLEAN NOT NULL DEFAULT false,
    tests_passed        INTEGER CHECK (tests_passed >= 0),
    tests_failed        INTEGER CHECK (tests_failed >= 0),
    tests_skipped       INTEGER CHECK (tests_skipped >= 0),
    score               NUMERIC(10, 2),
    max_score           NUMERIC(10, 2) CHECK (max_score >= 0),
    late                BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repository_id, number),
    CHECK (trigger <> 'pull_request' OR pr_number IS NOT NULL),
    CHECK (retry_of IS NULL OR attempt > 1),
    CHECK ((status IN ('queued', 'running')) = (finished_at IS NULL)),
    CHECK (status <> 'running' OR started_at IS NOT NULL),
    CHECK (finished_at IS NULL OR finished_at >= queued_at)
);
-- Repository page: newest first, optionally by branch or status.
CREATE INDEX builds_repository_idx ON builds (repository_id, number DESC);
CREATE INDEX builds_repository_branch_idx ON builds (repository_id, branch, number DESC);
-- Course activity feed and grade matrix.
CREATE INDEX builds_course_idx ON builds (course_id, queued_at DESC);
CREATE INDEX builds_assignment_idx ON builds (assignment_id, repository_id, queued_at DESC);
-- The queue: oldest queued first; running builds by lease for recovery.
CREATE INDEX builds_queued_idx ON builds (queued_at, id) WHERE status = 'queued';
CREATE INDEX builds_running_idx ON builds (lease_expires_at) WHERE status = 'running';
CREATE INDEX builds_status_idx ON builds (status, course_id);
CREATE INDEX builds_retry_of_idx ON builds (retry_of) WHERE retry_of IS NOT NULL;

-- The build state machine, enforced where every writer passes.
CREATE FUNCTION lectern_check_build_transition() RETURNS trigger AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF (OLD.status = 'queued' AND NEW.status IN ('running', 'cancelled', 'errored'))
       OR (OLD.status = 'running' AND NEW.status IN
            ('queued', 'passed', 'failed', 'errored', 'timed_out', 'cancelled')) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'build %: impossible status transition % -> %', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER builds_transition BEFORE UPDATE OF status ON builds
    FOR EACH ROW EXECUTE FUNCTION lectern_check_build_transition();

CREATE TABLE log_chunks (
    build_id        BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL CHECK (seq >= 0),
    stream          TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    -- Raw bytes as the program wrote them: output need not be UTF-8.
    data            BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (build_id, seq)
);

CREATE TABLE test_results (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id        BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    -- Order in the report, so results read as the runner printed them.
    position        INTEGER NOT NULL CHECK (position >= 0),
    suite           TEXT NOT NULL DEFAULT '' CHECK (length(suite) <= 1024),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
    outcome         TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'skipped', 'errored')),
    duration_ms     BIGINT CHECK (duration_ms >= 0),
    message         TEXT,
    points          NUMERIC(10, 2),
    max_points      NUMERIC(10, 2) CHECK (max_points >= 0),
    -- From the instructor's hidden tests: redacted from students until released.
    hidden          BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (build_id, position)
);

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- GitHub's X-GitHub-Delivery: a redelivery of the same event is a no-op.
    delivery_id     TEXT NOT NULL UNIQUE CHECK (length(delivery_id) BETWEEN 1 AND 100),
    event           TEXT NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
    action          TEXT,
    github_repo_id  BIGINT,
    repository_id   BIGINT REFERENCES repositories (id) ON DELETE SET NULL,
    build_id        BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('queued', 'ignored', 'failed')),
    detail          TEXT CHECK (length(detail) <= 2000),
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_repository_idx ON webhook_deliveries (repository_id, received_at DESC);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);

-- Background work other than running builds: posting commit statuses, sending
-- notifications, registering webhooks. Claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    payload         JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- Optional idempotency key: a second job with the same key is not enqueued.
    dedupe_key      TEXT UNIQUE,
    priority        SMALLINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    INTEGER NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
    run_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    failed_at       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready_idx ON jobs (priority DESC, run_at, id) WHERE failed_at IS NULL;
