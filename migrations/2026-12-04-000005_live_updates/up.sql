-- Live updates: every change of a build's state is announced with its ids (never its
-- content), so each server's hub can tell its subscribers to re-read what changed.
CREATE FUNCTION lectern_notify_build_updated() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('lectern_build_updated',
        NEW.id::text || ':' || NEW.repository_id::text || ':' || NEW.course_id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER builds_notify_updated
    AFTER INSERT OR UPDATE OF status, log_truncated, tests_passed, tests_failed, tests_skipped, score,
        cancel_requested_at
    ON builds FOR EACH ROW EXECUTE FUNCTION lectern_notify_build_updated();
