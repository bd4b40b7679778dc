//! Authorization: the one place that decides what a person may see and do in a course.
//! Every resolver that touches course data goes through these functions.
//!
//! Rules: a non-member learns nothing about a course (NOT_FOUND, as if it did not exist); a
//! member without the needed role is told FORBIDDEN; platform administrators act as
//! instructors everywhere; an archived course is read-only.

use diesel_async::AsyncPgConnection;

use crate::auth::CurrentUser;
use crate::db::enums::Role;
use crate::db::models::course::CourseKey;
use crate::db::models::{Assignment, Build, Course, CourseWithRole, Invite, Repository};
use crate::error::{AppError, AppResult};

/// What a request needs to be allowed to do in a course.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// See the course (any member).
    Member,
    /// See everything in it: TAs and instructors.
    Staff,
    /// Change it: instructors only.
    Instructor,
}

/// A course, and what the viewer may do in it.
#[derive(Clone, Debug)]
pub struct CourseAccess {
    pub course: Course,
    /// The viewer's role; `None` for an administrator who is not a member.
    pub role: Option<Role>,
    pub admin: bool,
}

impl CourseAccess {
    /// Whether the viewer meets `need`.
    pub fn allows(&self, need: Need) -> bool {
        if self.admin {
            return true;
        }
        match (need, self.role) {
            (_, None) => false,
            (Need::Member, Some(_)) => true,
            (Need::Staff, Some(role)) => role >= Role::Ta,
            (Need::Instructor, Some(role)) => role == Role::Instructor,
        }
    }

    pub fn is_staff(&self) -> bool {
        self.allows(Need::Staff)
    }

    /// Refuses changes to an archived course.
    pub fn ensure_writable(&self) -> AppResult<()> {
        if self.course.is_archived() {
            Err(AppError::BadRequest(
                "this course is archived; restore it before changing it".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// The viewer's access to a course, checked against `need`.
pub async fn course(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    course_id: i64,
    need: Need,
) -> AppResult<CourseAccess> {
    check(conn, viewer, CourseKey::Id(course_id), need).await
}

/// Like [`course`], by slug.
pub async fn course_by_slug(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    slug: &str,
    need: Need,
) -> AppResult<CourseAccess> {
    check(conn, viewer, CourseKey::Slug(slug), need).await
}

/// An assignment and the viewer's access to its course.
pub async fn assignment(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    assignment_id: i64,
    need: Need,
) -> AppResult<(Assignment, CourseAccess)> {
    let assignment = Assignment::find(conn, assignment_id).await?;
    let access = course(conn, viewer, assignment.course_id, need).await?;
    Ok((assignment, access))
}

/// An invite and the viewer's access to its course.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    invite_id: i64,
    need: Need,
) -> AppResult<(Invite, CourseAccess)> {
    let invite = Invite::find(conn, invite_id).await?;
    let access = course(conn, viewer, invite.course_id, need).await?;
    Ok((invite, access))
}

/// A repository and the viewer's access to its course. Its owner may do with it what staff
/// may see and instructors may change; other students are FORBIDDEN. `Need::Staff` (e.g.
/// webhook deliveries) is for staff alone.
pub async fn repository(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    repository_id: i64,
    need: Need,
) -> AppResult<(Repository, CourseAccess)> {
    let repository = Repository::find(conn, repository_id).await?;
    let access = course(conn, viewer, repository.course_id, Need::Member).await?;
    let owner = repository.owner_id == viewer.user.id;
    let allowed = match need {
        Need::Member => owner || access.is_staff(),
        Need::Staff => access.is_staff(),
        Need::Instructor => owner || access.allows(Need::Instructor),
    };
    if !allowed {
        return Err(AppError::Forbidden);
    }
    Ok((repository, access))
}

/// Whether `viewer` may see the hidden tests (names, output, points) of each of
/// `assignment_ids`, in one query: staff of the course (and administrators) always;
/// anyone else once the instructor released them. Ids that name no assignment are left out.
pub async fn sees_hidden_tests(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    assignment_ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, bool>> {
    let now = chrono::Utc::now();
    let rows = Assignment::hidden_release(conn, assignment_ids, viewer.user.id).await?;
    Ok(rows
        .into_iter()
        .map(|(id, released_at, role)| (id, sees_hidden(viewer.is_admin, role, released_at, now)))
        .collect())
}

/// Whether someone with `role` in the course (an administrator when `admin`) sees an
/// assignment's hidden tests at `now`, given when they are released: staff always, others
/// once released.
pub fn sees_hidden(
    admin: bool,
    role: Option<Role>,
    released_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    admin || role.is_some_and(|r| r >= Role::Ta) || released_at.is_some_and(|at| at <= now)
}

/// Like [`sees_hidden_tests`], for one assignment.
pub async fn sees_hidden_test(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    assignment_id: i64,
) -> AppResult<bool> {
    Ok(sees_hidden_tests(conn, viewer, &[assignment_id])
        .await?
        .get(&assignment_id)
        .copied()
        .unwrap_or(false))
}

/// A build the viewer may see (its repository's owner, or the course's staff), its
/// repository, and whether the viewer may see its hidden tests.
pub async fn build(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    build_id: i64,
) -> AppResult<(Build, Repository, bool)> {
    let build = Build::find(conn, build_id).await?;
    let (repository, _) = repository(conn, viewer, build.repository_id, Need::Member).await?;
    let sees_hidden = sees_hidden_test(conn, viewer, build.assignment_id).await?;
    Ok((build, repository, sees_hidden))
}

/// The course and the viewer's role in it, read together, checked against `need`.
async fn check(
    conn: &mut AsyncPgConnection,
    viewer: &CurrentUser,
    key: CourseKey<'_>,
    need: Need,
) -> AppResult<CourseAccess> {
    let CourseWithRole { course, role } = Course::find_with_role(conn, key, viewer.user.id).await?;
    let access = CourseAccess {
        course,
        role,
        admin: viewer.is_admin,
    };
    if access.role.is_none() && !access.admin {
        return Err(AppError::NotFound);
    }
    if !access.allows(need) {
        return Err(AppError::Forbidden);
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn access(role: Option<Role>, admin: bool) -> CourseAccess {
        let course = Course {
            id: 1,
            slug: "c".into(),
            name: "C".into(),
            term: String::new(),
            archived_at: None,
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        CourseAccess {
            course,
            role,
            admin,
        }
    }

    #[test]
    fn roles_grant_what_the_table_says() {
        let table = [
            (Some(Role::Student), [true, false, false]),
            (Some(Role::Ta), [true, true, false]),
            (Some(Role::Instructor), [true, true, true]),
            (None, [false, false, false]),
        ];
        for (role, expected) in table {
            let a = access(role, false);
            let got = [
                a.allows(Need::Member),
                a.allows(Need::Staff),
                a.allows(Need::Instructor),
            ];
            assert_eq!(got, expected, "{role:?}");
        }
        let admin = access(None, true);
        assert!(admin.allows(Need::Instructor));
    }

    #[test]
    fn archived_courses_are_read_only() {
        let mut a = access(Some(Role::Instructor), false);
        assert!(a.ensure_writable().is_ok());
        a.course.archived_at = Some(Utc::now());
        assert!(a.ensure_writable().is_err());
    }
}
