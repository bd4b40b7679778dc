//! `lectern admin redeliver`: pushes whose webhook never arrived, found by comparing each
//! linked repository's branch heads on GitHub with what Lectern built, and queued.

use diesel_async::AsyncPgConnection;

use crate::app::App;
use crate::forge::github::sync;

/// Queues the missed pushes of the course `course` (or every course).
pub async fn redeliver(
    app: &App,
    conn: &mut AsyncPgConnection,
    course: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let repositories = super::linked_repositories(conn, course).await?;
    let mut lines = Vec::new();
    let (mut missed, mut failed) = (0, 0);
    for repository in &repositories {
        let heads = if dry_run {
            sync::missed(app, repository).await
        } else {
            sync::repository(app, repository).await
        };
        match heads {
            Ok(heads) => {
                for head in &heads {
                    lines.push(format!(
                        "{} {} {} ({})",
                        super::did(dry_run, "queue", "queued"),
                        repository.full_name,
                        head.name,
                        &head.commit.sha[..head.commit.sha.len().min(7)]
                    ));
                }
                missed += heads.len();
            }
            Err(err) => {
                failed += 1;
                lines.push(format!("✗ {}: {err}", repository.full_name));
            }
        }
    }
    lines.push(format!(
        "{missed} missed push(es) in {}; {failed} could not be checked",
        super::repositories(repositories.len())
    ));
    Ok(lines)
}
