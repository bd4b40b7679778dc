//! The grade matrix: every student of a course against every assignment, with the build
//! that grades each pair. Three statements whatever the class size: the assignments, the
//! students, and one for every cell.

use std::collections::HashMap;

use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{Assignment, Member, Membership, User};
use crate::db::enums::{BuildStatus, Role};

/// One student's standing on one assignment.
#[derive(Clone, Debug, QueryableByName)]
pub struct Cell {
    #[diesel(sql_type = BigInt)]
    pub owner_id: i64,
    #[diesel(sql_type = BigInt)]
    pub assignment_id: i64,
    #[diesel(sql_type = BigInt)]
    pub repository_id: i64,
    /// The grading build: the latest graded build of the repository's default branch.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub graded_build_id: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    pub graded_status: Option<BuildStatus>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub score: Option<BigDecimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub max_score: Option<BigDecimal>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub late: Option<bool>,
    /// The newest build of any branch, whatever its state (running, errored, …).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub latest_build_id: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    pub latest_status: Option<BuildStatus>,
}

/// A course's grades.
#[derive(Clone, Debug)]
pub struct GradeMatrix {
    /// By due date, as the course lists them.
    pub assignments: Vec<Assignment>,
    /// By login.
    pub students: Vec<User>,
    cells: HashMap<(i64, i64), Cell>,
}

impl GradeMatrix {
    pub async fn load(conn: &mut AsyncPgConnection, course_id: i64) -> QueryResult<Self> {
        let assignments = Assignment::list(conn, course_id).await?;
        let mut students: Vec<User> = Membership::list(conn, course_id, Some(Role::Student))
            .await?
            .into_iter()
            .map(|Member { user, .. }| user)
            .collect();
        students.sort_by(|a, b| a.login.cmp(&b.login));
        // Per linked repository, two index probes: its latest graded build of the default
        // branch (pull requests aside) and its newest build of any kind.
        let cells: Vec<Cell> = diesel::sql_query(
            "SELECT r.owner_id, r.assignment_id, r.id AS repository_id,
                    g.id AS graded_build_id, g.status AS graded_status, g.score, g.max_score, g.late,
                    l.id AS latest_build_id, l.status AS latest_status
             FROM repositories r
             JOIN memberships m ON m.course_id = r.course_id AND m.user_id = r.owner_id AND m.role = 'student'
             LEFT JOIN LATERAL (
                 SELECT b.id, b.status, b.score, b.max_score, b.late FROM builds b
                 WHERE b.repository_id = r.id AND b.finished_at IS NOT NULL AND b.score IS NOT NULL
                   AND b.pr_number IS NULL AND b.branch = r.default_branch
                 ORDER BY b.finished_at DESC LIMIT 1) g ON true
             LEFT JOIN LATERAL (
                 SELECT b.id, b.status FROM builds b WHERE b.repository_id = r.id
                 ORDER BY b.number DESC LIMIT 1) l ON true
             WHERE r.course_id = $1 AND r.unlinked_at IS NULL",
        )
        .bind::<BigInt, _>(course_id)
        .load(conn)
        .await?;
        Ok(Self {
            assignments,
            students,
            cells: cells
                .into_iter()
                .map(|c| ((c.owner_id, c.assignment_id), c))
                .collect(),
        })
    }

    /// The cell of `student` and `assignment`; `None` when no repository is linked.
    pub fn cell(&self, student: i64, assignment: i64) -> Option<&Cell> {
        self.cells.get(&(student, assignment))
    }

    /// A student's total over the assignments graded so far.
    pub fn total(&self, student: i64) -> BigDecimal {
        self.assignments
            .iter()
            .filter_map(|a| self.cell(student, a.id)?.score.clone())
            .sum()
    }
}
