DROP INDEX builds_best_idx;
