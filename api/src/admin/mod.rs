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

use diesel::OptionalExtension as _;
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

/// The course `slug`, or an error saying there is none.
async fn course(conn: &mut AsyncPgConnection, slug: &str) -> anyhow::Result<Course> {
    Course::find_by_slug(conn, slug)
        .await
        .optional()?
        .ok_or_else(|| anyhow::anyhow!("there is no course `{slug}`"))
}

/// The linked repositories of the course `slug`, or of every course.
async fn linked_repositories(
    conn: &mut AsyncPgConnection,
    slug: Option<&str>,
) -> anyhow::Result<Vec<Repository>> {
    let course_id = match slug {
        Some(slug) => Some(course(conn, slug).await?.id),
        None => None,
    };
    Ok(Repository::list_linked(conn, course_id).await?)
}
