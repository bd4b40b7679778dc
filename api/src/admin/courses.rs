//! `lectern admin create-course`: a course and its first instructor, for installations
//! where only administrators create courses, or before the instructor has ever signed in.

use diesel::OptionalExtension as _;
use diesel_async::AsyncPgConnection;

use crate::db::models::user::is_valid_login;
use crate::db::models::{Course, User};
use crate::validate;

/// What to create.
pub struct NewCourse<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub term: &'a str,
    /// The GitHub login of the first instructor.
    pub instructor: &'a str,
}

/// Creates the course with `instructor` as its instructor; an instructor who never signed
/// in gets an account that their first GitHub sign-in claims.
pub async fn create(
    conn: &mut AsyncPgConnection,
    new: &NewCourse<'_>,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let slug = validate::slug("slug", new.slug).map_err(|e| anyhow::anyhow!("--slug: {e}"))?;
    let name =
        validate::text("name", new.name, 1, 200).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let term =
        validate::text("term", new.term, 0, 100).map_err(|e| anyhow::anyhow!("--term: {e}"))?;
    if !is_valid_login(new.instructor) {
        anyhow::bail!(
            "--instructor: `{}` is not a GitHub login (1 to 39 letters, digits and inner hyphens)",
            new.instructor
        );
    }
    if Course::find_by_slug(conn, &slug)
        .await
        .optional()?
        .is_some()
    {
        anyhow::bail!("a course `{slug}` exists already; choose another --slug");
    }
    let mut lines = Vec::new();
    let existing = User::find_by_login(conn, new.instructor).await?;
    if existing.is_none() {
        lines.push(format!(
            "{} an account for {} (their first GitHub sign-in claims it)",
            super::did(dry_run, "create", "created"),
            new.instructor
        ));
    }
    if dry_run {
        lines.push(format!(
            "would create the course `{slug}` ({name}) with {} as its instructor",
            new.instructor
        ));
        return Ok(lines);
    }
    let instructor = match existing {
        Some(user) => user,
        None => User::find_or_create_local(conn, new.instructor, None).await?,
    };
    let course = Course::create(conn, instructor.id, &slug, &name, &term).await?;
    lines.push(format!(
        "created the course `{}` ({}) with {} as its instructor",
        course.slug, course.name, instructor.login
    ));
    Ok(lines)
}
