DROP TRIGGER builds_notify_updated ON builds;
DROP FUNCTION lectern_notify_build_updated();
