-- Unlinking a repository keeps its builds and grades: the row stays, marked unlinked, and
-- no longer holds the GitHub repository or the student's slot for the assignment.
ALTER TABLE repositories ADD COLUMN unlinked_at TIMESTAMPTZ;
ALTER TABLE repositories DROP CONSTRAINT repositories_github_repo_id_key;
CREATE UNIQUE INDEX repositories_github_repo_id_key ON repositories (github_repo_id)
    WHERE unlinked_at IS NULL;
ALTER TABLE repositories DROP CONSTRAINT repositories_assignment_id_owner_id_key;
CREATE UNIQUE INDEX repositories_assignment_id_owner_id_key ON repositories (assignment_id, owner_id)
    WHERE unlinked_at IS NULL;
