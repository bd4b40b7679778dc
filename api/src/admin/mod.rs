//! `lectern admin …`: commands for the people who run Lectern. Each returns the lines it
//! prints; those that change something take a dry run, which says what they would do and
//! changes nothing.

pub mod admins;
pub mod builds;
pub mod check;
pub mod courses;
pub mod pushes;
pub mod settings;
pub mod webhooks;

use diesel_async::AsyncPgConnection;

use crate::db::models::{Course, Repository};

/// `would …` in a dry run, the past tense otherwise.
fn did(dry_run: bool, would: &str, done: &str) -> String {
    if dry_run {
        format!("would {would}")
    } else {
        done.to_owned()
    }
}

/// "1 repository", "2 repositories".
fn repositories(n: usize) -> String {
    format!("{n} repositor{}", if n == 1 { "y" } else { "ies" })
}

/// The linked repositories of the course `slug`, or of every course.
async fn linked_repositories(
    conn: &mut AsyncPgConnection,
    course: Option<&str>,
) -> anyhow::Result<Vec<Repository>> {
    let all = Repository::list_linked(conn).await?;
    Ok(match course {
        None => all,
        Some(slug) => {
            let course = Course::find_by_slug(conn, slug)
                .await
                .map_err(|_| anyhow::anyhow!("there is no course `{slug}`"))?;
            all.into_iter()
                .filter(|r| r.course_id == course.id)
                .collect()
        }
    })
}
