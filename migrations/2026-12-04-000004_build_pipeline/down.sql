DROP TRIGGER builds_notify_cancel ON builds;
DROP FUNCTION lectern_notify_build_cancel();
DROP TRIGGER builds_notify_insert ON builds;
DROP FUNCTION lectern_notify_builds();
DROP INDEX builds_queued_branch_idx;
ALTER TABLE builds DROP COLUMN superseded_by;
ALTER TABLE builds DROP COLUMN recoveries;
