//! Assignments: what to run, with which limits, for how many points, due when.

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::{GradePolicy, ImageSource, LatePolicy};
use crate::db::schema::assignments;

/// An assignment of a course.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = assignments, check_for_backend(diesel::pg::Pg))]
pub struct Assignment {
    pub id: i64,
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub image: String,
    pub test_command: String,
    pub timeout_seconds: i32,
    pub memory_mb: i32,
    pub cpu_millis: i32,
    pub points: BigDecimal,
    pub due_at: Option<DateTime<Utc>>,
    pub allow_dockerfile: bool,
    pub allowed_branches: Vec<Option<String>>,
    pub hidden_tests_repo: Option<String>,
    pub hidden_tests_ref: Option<String>,
    pub report_path: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Points per test by name pattern (`[{"pattern": …, "points": …}]`; see
    /// [`crate::grading::points`]); empty spreads the points evenly.
    pub test_points: serde_json::Value,
    pub late_policy: LatePolicy,
    /// Taken off a late build's score per started day, under [`LatePolicy::Penalty`].
    pub late_penalty_percent: BigDecimal,
    pub grade_policy: GradePolicy,
    /// Whether the hidden tests are an uploaded archive (in place of `hidden_tests_repo`).
    /// The archive (up to 16 MB) stays in the database until a build asks for it
    /// ([`Assignment::hidden_archive`]): an assignment is read on most requests.
    #[diesel(select_expression = assignments::hidden_tests_archive.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<assignments::hidden_tests_archive>)]
    pub hidden_tests_uploaded: bool,
    /// Where the hidden tests go, relative to the checkout.
    pub hidden_tests_path: String,
    /// What runs them; `None`: the test command.
    pub hidden_tests_command: Option<String>,
    /// From when students see the hidden tests' names, output and points.
    pub hidden_released_at: Option<DateTime<Utc>>,
    /// The repository students start from: protected paths are compared with it.
    pub starter_repo: Option<String>,
    pub starter_ref: Option<String>,
    /// Path patterns students must leave as the starter has them.
    pub protected_paths: Vec<Option<String>>,
    /// Graded runs a student may have in any `graded_run_period_hours`; `None`: no limit.
    pub graded_run_limit: Option<i32>,
    pub graded_run_period_hours: i32,
    /// On Kubernetes: the assignment's image, or an image built per build.
    pub image_source: ImageSource,
}

/// A new assignment, validated by the caller.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = assignments)]
pub struct NewAssignment {
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub image: String,
    pub test_command: String,
    pub timeout_seconds: i32,
    pub memory_mb: i32,
    pub cpu_millis: i32,
    pub points: BigDecimal,
    pub due_at: Option<DateTime<Utc>>,
    pub allow_dockerfile: bool,
    pub allowed_branches: Vec<Option<String>>,
    pub hidden_tests_repo: Option<String>,
    pub hidden_tests_ref: Option<String>,
    pub report_path: Option<String>,
    pub test_points: serde_json::Value,
    pub late_policy: LatePolicy,
    pub late_penalty_percent: BigDecimal,
    pub grade_policy: GradePolicy,
    pub hidden_tests_path: String,
    pub hidden_tests_command: Option<String>,
    pub starter_repo: Option<String>,
    pub starter_ref: Option<String>,
    pub protected_paths: Vec<Option<String>>,
    pub graded_run_limit: Option<i32>,
    pub graded_run_period_hours: i32,
    pub image_source: ImageSource,
}

/// Changes to an assignment: `None` keeps a value; `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = assignments)]
pub struct AssignmentChanges {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub test_command: Option<String>,
    pub timeout_seconds: Option<i32>,
    pub memory_mb: Option<i32>,
    pub cpu_millis: Option<i32>,
    pub points: Option<BigDecimal>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub allow_dockerfile: Option<bool>,
    pub allowed_branches: Option<Vec<Option<String>>>,
    pub hidden_tests_repo: Option<Option<String>>,
    pub hidden_tests_ref: Option<Option<String>>,
    pub report_path: Option<Option<String>>,
    pub test_points: Option<serde_json::Value>,
    pub late_policy: Option<LatePolicy>,
    pub late_penalty_percent: Option<BigDecimal>,
    pub grade_policy: Option<GradePolicy>,
    pub hidden_tests_archive: Option<Option<Vec<u8>>>,
    pub hidden_tests_path: Option<String>,
    pub hidden_tests_command: Option<Option<String>>,
    pub hidden_released_at: Option<Option<DateTime<Utc>>>,
    pub starter_repo: Option<Option<String>>,
    pub starter_ref: Option<Option<String>>,
    pub protected_paths: Option<Vec<Option<String>>>,
    pub graded_run_limit: Option<Option<i32>>,
    pub graded_run_period_hours: Option<i32>,
    pub image_source: Option<ImageSource>,
}

impl AssignmentChanges {
    fn is_empty(&self) -> bool {
        let Self {
            slug,
            title,
            description,
            image,
            test_command,
            timeout_seconds,
            memory_mb,
            cpu_millis,
            points,
            due_at,
            allow_dockerfile,
            allowed_branches,
            hidden_tests_repo,
            hidden_tests_ref,
            report_path,
            test_points,
            late_policy,
            late_penalty_percent,
            grade_policy,
            hidden_tests_archive,
            hidden_tests_path,
            hidden_tests_command,
            hidden_released_at,
            starter_repo,
            starter_ref,
            protected_paths,
            graded_run_limit,
            graded_run_period_hours,
            image_source,
        } = self;
        slug.is_none()
            && title.is_none()
            && description.is_none()
            && image.is_none()
            && test_command.is_none()
            && timeout_seconds.is_none()
            && memory_mb.is_none()
            && cpu_millis.is_none()
            && points.is_none()
            && due_at.is_none()
            && allow_dockerfile.is_none()
            && allowed_branches.is_none()
            && hidden_tests_repo.is_none()
            && hidden_tests_ref.is_none()
            && report_path.is_none()
            && test_points.is_none()
            && late_policy.is_none()
            && late_penalty_percent.is_none()
            && grade_policy.is_none()
            && hidden_tests_archive.is_none()
            && hidden_tests_path.is_none()
            && hidden_tests_command.is_none()
            && hidden_released_at.is_none()
            && starter_repo.is_none()
            && starter_ref.is_none()
            && protected_paths.is_none()
            && graded_run_limit.is_none()
            && graded_run_period_hours.is_none()
            && image_source.is_none()
    }
}

impl Assignment {
    /// For each of `ids`: when its hidden tests are released, and `user_id`'s role in its
    /// course, in one query.
    pub async fn hidden_release(
        conn: &mut AsyncPgConnection,
        ids: &[i64],
        user_id: i64,
    ) -> QueryResult<Vec<(i64, Option<DateTime<Utc>>, Option<crate::db::enums::Role>)>> {
        use crate::db::schema::memberships;
        assignments::table
            .left_join(
                memberships::table.on(memberships::course_id
                    .eq(assignments::course_id)
                    .and(memberships::user_id.eq(user_id))),
            )
            .filter(assignments::id.eq_any(ids))
            .select((
                assignments::id,
                assignments::hidden_released_at,
                memberships::role.nullable(),
            ))
            .load(conn)
            .await
    }

    /// The hidden tests uploaded for assignment `id`, as the gzipped tar they came as.
    pub async fn hidden_archive(
        conn: &mut AsyncPgConnection,
        id: i64,
    ) -> QueryResult<Option<Vec<u8>>> {
        assignments::table
            .find(id)
            .select(assignments::hidden_tests_archive)
            .first(conn)
            .await
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Assignment> {
        assignments::table
            .find(id)
            .select(Assignment::as_select())
            .first(conn)
            .await
    }

    pub async fn find_by_slug(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        slug: &str,
    ) -> QueryResult<Assignment> {
        assignments::table
            .filter(assignments::course_id.eq(course_id))
            .filter(assignments::slug.eq(slug))
            .select(Assignment::as_select())
            .first(conn)
            .await
    }

    /// The course's assignments, by due date (undated last), then title.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        course_id: i64,
    ) -> QueryResult<Vec<Assignment>> {
        assignments::table
            .filter(assignments::course_id.eq(course_id))
            .order((
                assignments::due_at.asc().nulls_last(),
                assignments::title.asc(),
                assignments::id.asc(),
            ))
            .select(Assignment::as_select())
            .load(conn)
            .await
    }

    pub async fn create(
        conn: &mut AsyncPgConnection,
        new: &NewAssignment,
    ) -> QueryResult<Assignment> {
        diesel::insert_into(assignments::table)
            .values(new)
            .returning(Assignment::as_returning())
            .get_result(conn)
            .await
    }

    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: i64,
        changes: &AssignmentChanges,
    ) -> QueryResult<Assignment> {
        if changes.is_empty() {
            return Self::find(conn, id).await;
        }
        diesel::update(assignments::table.find(id))
            .set(changes)
            .returning(Assignment::as_returning())
            .get_result(conn)
            .await
    }

    pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
        diesel::delete(assignments::table.find(id))
            .execute(conn)
            .await
    }

    /// The branch patterns that trigger builds (empty: every branch).
    pub fn branch_patterns(&self) -> Vec<String> {
        self.allowed_branches.iter().flatten().cloned().collect()
    }
}
