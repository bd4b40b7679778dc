DELETE FROM repositories WHERE unlinked_at IS NOT NULL;
DROP INDEX repositories_assignment_id_owner_id_key;
ALTER TABLE repositories ADD CONSTRAINT repositories_assignment_id_owner_id_key UNIQUE (assignment_id, owner_id);
DROP INDEX repositories_github_repo_id_key;
ALTER TABLE repositories ADD CONSTRAINT repositories_github_repo_id_key UNIQUE (github_repo_id);
ALTER TABLE repositories DROP COLUMN unlinked_at;
