//! Courses: the unit of membership, assignments and grades.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::enums::Role;
use crate::db::schema::{assignments, courses, memberships};

/// A course.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = courses, check_for_backend(diesel::pg::Pg))]
pub struct Course {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub term: String,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A course together with the viewer's role in it (`None` for an administrator who is not
/// a member).
#[derive(Clone, Debug)]
pub struct CourseWithRole {
    pub course: Course,
    pub role: Option<Role>,
}

/// How a course is named in a request.
#[derive(Clone, Copy, Debug)]
pub enum CourseKey<'a> {
    Id(i64),
    Slug(&'a str),
}

/// How many people of each role and how many assignments a course has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct CourseCounts {
    pub instructors: i64,
    pub tas: i64,
    pub students: i64,
    pub assignments: i64,
}

impl Course {
    /// The course's Slack webhook URL, sealed, when it has one.
    pub async fn slack_webhook(
        conn: &mut AsyncPgConnection,
        id: i64,
    ) -> QueryResult<Option<Vec<u8>>> {
        courses::table
            .find(id)
            .select(courses::slack_webhook)
            .first(conn)
            .await
    }

    /// The course's Slack settings: the webhook's hint (when set), and when it is posted to.
    pub async fn slack_settings(
        conn: &mut AsyncPgConnection,
        id: i64,
    ) -> QueryResult<(Option<String>, crate::db::enums::NotifyWhen)> {
        courses::table
            .find(id)
            .select((courses::slack_webhook_hint, courses::slack_when))
            .first(conn)
            .await
    }

    /// Sets the course's Slack webhook (`webhook`: sealed, and its hint; `None` removes it)
    /// and when it is posted to.
    pub async fn set_slack(
        conn: &mut AsyncPgConnection,
        id: i64,
        webhook: Option<Option<(Vec<u8>, String)>>,
        when: crate::db::enums::NotifyWhen,
    ) -> QueryResult<()> {
        match webhook {
            Some(webhook) => {
                let (sealed, hint) = webhook.unzip();
                diesel::update(courses::table.find(id))
                    .set((
                        courses::slack_webhook.eq(sealed),
                        courses::slack_webhook_hint.eq(hint),
                        courses::slack_when.eq(when),
                    ))
                    .execute(conn)
                    .await?;
            }
            None => {
                diesel::update(courses::table.find(id))
                    .set(courses::slack_when.eq(when))
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Course> {
        courses::table
            .find(id)
            .select(Course::as_select())
            .first(conn)
            .await
    }

    /// A course, by id or slug, with `user_id`'s role in it (`None`: not a member), in one
    /// query: what every access check needs.
    pub async fn find_with_role(
        conn: &mut AsyncPgConnection,
        key: CourseKey<'_>,
        user_id: i64,
    ) -> QueryResult<CourseWithRole> {
        let mut query = courses::table
            .left_join(
                memberships::table.on(memberships::course_id
                    .eq(courses::id)
                    .and(memberships::user_id.eq(user_id))),
            )
            .select((Course::as_select(), memberships::role.nullable()))
            .into_boxed();
        query = match key {
            CourseKey::Id(id) => query.filter(courses::id.eq(id)),
            CourseKey::Slug(slug) => query.filter(courses::slug.eq(slug.to_owned())),
        };
        let (course, role) = query.first::<(Course, Option<Role>)>(conn).await?;
        Ok(CourseWithRole { course, role })
    }

    pub async fn find_by_slug(conn: &mut AsyncPgConnection, slug: &str) -> QueryResult<Course> {
        courses::table
            .filter(courses::slug.eq(slug))
            .select(Course::as_select())
            .first(conn)
            .await
    }

    /// Creates a course with `creator` as its first instructor, atomically.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        creator: i64,
        slug: &str,
        name: &str,
        term: &str,
    ) -> QueryResult<Course> {
        let (slug, name, term) = (slug.to_owned(), name.to_owned(), term.to_owned());
        conn.transaction(async move |conn| {
            let course = diesel::insert_into(courses::table)
                .values((
                    courses::slug.eq(&slug),
                    courses::name.eq(&name),
                    courses::term.eq(&term),
                    courses::created_by.eq(creator),
                ))
                .returning(Course::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::course_id.eq(course.id),
                    memberships::user_id.eq(creator),
                    memberships::role.eq(Role::Instructor),
                ))
                .execute(conn)
                .await?;
            Ok(course)
        })
        .await
    }

    /// The courses `user_id` belongs to, with their role, newest first.
    pub async fn list_for_user(
        conn: &mut AsyncPgConnection,
        user_id: i64,
        include_archived: bool,
    ) -> QueryResult<Vec<CourseWithRole>> {
        let mut query = courses::table
            .inner_join(memberships::table)
            .filter(memberships::user_id.eq(user_id))
            .select((Course::as_select(), memberships::role))
            .order((courses::created_at.desc(), courses::id.desc()))
            .into_boxed();
        if !include_archived {
            query = query.filter(courses::archived_at.is_null());
        }
        let rows: Vec<(Course, Role)> = query.load(conn).await?;
        Ok(rows
            .into_iter()
            .map(|(course, role)| CourseWithRole {
                course,
                role: Some(role),
            })
            .collect())
    }

    /// Changes name and/or term; `None` leaves a value as it is.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: i64,
        name: Option<&str>,
        term: Option<&str>,
    ) -> QueryResult<Course> {
        #[derive(AsChangeset)]
        #[diesel(table_name = courses)]
        struct Changes<'a> {
            name: Option<&'a str>,
            term: Option<&'a str>,
        }
        if name.is_none() && term.is_none() {
            return Self::find(conn, id).await;
        }
        diesel::update(courses::table.find(id))
            .set(Changes { name, term })
            .returning(Course::as_returning())
            .get_result(conn)
            .await
    }

    /// Archives (read-only from then on) or restores a course.
    pub async fn set_archived(
        conn: &mut AsyncPgConnection,
        id: i64,
        archived: bool,
    ) -> QueryResult<Course> {
        let archived_at = archived.then(Utc::now);
        diesel::update(courses::table.find(id))
            .set(courses::archived_at.eq(archived_at))
            .returning(Course::as_returning())
            .get_result(conn)
            .await
    }

    /// Deletes a course and everything in it.
    pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
        diesel::delete(courses::table.find(id)).execute(conn).await
    }

    /// People per role and assignments in each of `ids`, in two queries whatever their number.
    pub async fn counts_many(
        conn: &mut AsyncPgConnection,
        ids: &[i64],
    ) -> QueryResult<std::collections::HashMap<i64, CourseCounts>> {
        let per_role: Vec<(i64, Role, i64)> = memberships::table
            .filter(memberships::course_id.eq_any(ids))
            .group_by((memberships::course_id, memberships::role))
            .select((
                memberships::course_id,
                memberships::role,
                diesel::dsl::count_star(),
            ))
            .load(conn)
            .await?;
        let per_course: Vec<(i64, i64)> = assignments::table
            .filter(assignments::course_id.eq_any(ids))
            .group_by(assignments::course_id)
            .select((assignments::course_id, diesel::dsl::count_star()))
            .load(conn)
            .await?;
        let mut counts: std::collections::HashMap<i64, CourseCounts> = ids
            .iter()
            .map(|id| (*id, CourseCounts::default()))
            .collect();
        for (course, role, n) in per_role {
            let entry = counts.entry(course).or_default();
            match role {
                Role::Instructor => entry.instructors = n,
                Role::Ta => entry.tas = n,
                Role::Student => entry.students = n,
            }
        }
        for (course, n) in per_course {
            counts.entry(course).or_default().assignments = n;
        }
        Ok(counts)
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}
