-- The build pipeline: recovery bookkeeping, and notifications that wake workers and
-- cancel running builds whichever server holds them.

-- How many times a build was put back in the queue because the server running it died.
ALTER TABLE builds ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0 CHECK (recoveries >= 0);
-- A build that superseded this queued one (a newer push to the same branch).
ALTER TABLE builds ADD COLUMN superseded_by BIGINT REFERENCES builds (id) ON DELETE SET NULL;

-- Queued builds of a repository's branch, for superseding.
CREATE INDEX builds_queued_branch_idx ON builds (repository_id, branch) WHERE status = 'queued';

-- Wakes workers when builds are queued (once per statement; delivered at commit).
CREATE FUNCTION lectern_notify_builds() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('lectern_builds', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER builds_notify_insert AFTER INSERT ON builds
    FOR EACH STATEMENT EXECUTE FUNCTION lectern_notify_builds();

-- Tells the server running a build that someone asked to cancel it.
CREATE FUNCTION lectern_notify_build_cancel() RETURNS trigger AS $$
BEGIN
    IF NEW.cancel_requested_at IS NOT NULL AND OLD.cancel_requested_at IS NULL THEN
        PERFORM pg_notify('lectern_build_cancel', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER builds_notify_cancel AFTER UPDATE OF cancel_requested_at ON builds
    FOR EACH ROW EXECUTE FUNCTION lectern_notify_build_cancel();
