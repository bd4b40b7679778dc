//! The grade matrix: every student of a course against every assignment, with the build
//! that grades each pair. Two statements whatever the class size: the assignments, and one
//! for the students with every cell.

use std::collections::HashMap;

use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Assignment;
use crate::db::enums::BuildStatus;

/// One student's standing on one assignment.
#[derive(Clone, Debug)]
pub struct Cell {
    pub repository_id: i64,
    /// The grading build: of the repository's default branch, the latest or the best graded
    /// build as the assignment's policy says, a late one only if the late policy grades it.
    pub graded_build_id: Option<i64>,
    pub graded_status: Option<BuildStatus>,
    pub score: Option<BigDecimal>,
    pub max_score: Option<BigDecimal>,
    pub late: bool,
    /// The newest build of any branch, whatever its state (running, errored, …).
    pub latest_build_id: Option<i64>,
    pub latest_status: Option<BuildStatus>,
}

/// A student, by login, and one of their linked repositories with its builds (none when
/// they linked nothing): one row of the matrix's statement.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    login: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    assignment_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    repository_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    graded_build_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    graded_status: Option<BuildStatus>,
    #[diesel(sql_type = Nullable<Numeric>)]
    score: Option<BigDecimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    max_score: Option<BigDecimal>,
    #[diesel(sql_type = Nullable<Bool>)]
    late: Option<bool>,
    #[diesel(sql_type = Nullable<BigInt>)]
    latest_build_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    latest_status: Option<BuildStatus>,
}

/// A student as the matrix names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Student {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A course's grades.
#[derive(Clone, Debug)]
pub struct GradeMatrix {
    /// By due date, as the course lists them.
    pub assignments: Vec<Assignment>,
    /// By login.
    pub students: Vec<Student>,
    cells: HashMap<(i64, i64), Cell>,
}

impl GradeMatrix {
    /// Two statements: the assignments, then every student with each linked repository's
    /// grading build and newest build (two index probes per repository).
    pub async fn load(conn: &mut AsyncPgConnection, course_id: i64) -> QueryResult<Self> {
        let assignments = Assignment::list(conn, course_id).await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT u.id AS user_id, u.login, u.name, u.email,
                    r.assignment_id, r.id AS repository_id,
                    g.id AS graded_build_id, g.status AS graded_status, g.score, g.max_score, g.late,
                    l.id AS latest_build_id, l.status AS latest_status
             FROM memberships m
             JOIN users u ON u.id = m.user_id
             LEFT JOIN repositories r
                    ON r.course_id = m.course_id AND r.owner_id = m.user_id AND r.unlinked_at IS NULL
             LEFT JOIN assignments a ON a.id = r.assignment_id
             LEFT JOIN LATERAL (
                 -- The assignment's policy picks one branch; the other is never run.
                 (SELECT b.id, b.status, b.score, b.max_score, b.late FROM builds b
                  WHERE a.grade_policy = 'latest' AND b.repository_id = r.id
                    AND b.finished_at IS NOT NULL AND b.score IS NOT NULL
                    AND b.pr_number IS NULL AND b.branch = r.default_branch
                    AND NOT (b.late AND a.late_policy = 'refuse')
                  ORDER BY b.finished_at DESC LIMIT 1)
                 UNION ALL
                 (SELECT b.id, b.status, b.score, b.max_score, b.late FROM builds b
                  WHERE a.grade_policy = 'best' AND b.repository_id = r.id
                    AND b.finished_at IS NOT NULL AND b.score IS NOT NULL
                    AND b.pr_number IS NULL AND b.branch = r.default_branch
                    AND NOT (b.late AND a.late_policy = 'refuse')
                  ORDER BY b.score DESC, b.finished_at DESC LIMIT 1)) g ON true
             LEFT JOIN LATERAL (
                 SELECT b.id, b.status FROM builds b WHERE b.repository_id = r.id
                 ORDER BY b.number DESC LIMIT 1) l ON true
             WHERE m.course_id = $1 AND m.role = 'student'
             ORDER BY u.login, u.id",
        )
        .bind::<BigInt, _>(course_id)
        .load(conn)
        .await?;
        let mut students: Vec<Student> = Vec::new();
        let mut cells = HashMap::new();
        for row in rows {
            if students.last().is_none_or(|s| s.id != row.user_id) {
                students.push(Student {
                    id: row.user_id,
                    login: row.login,
                    name: row.name,
                    email: row.email,
                });
            }
            if let (Some(assignment), Some(repository_id)) = (row.assignment_id, row.repository_id)
            {
                cells.insert(
                    (row.user_id, assignment),
                    Cell {
                        repository_id,
                        graded_build_id: row.graded_build_id,
                        graded_status: row.graded_status,
                        score: row.score,
                        max_score: row.max_score,
                        late: row.late.unwrap_or(false),
                        latest_build_id: row.latest_build_id,
                        latest_status: row.latest_status,
                    },
                );
            }
        }
        Ok(Self {
            assignments,
            students,
            cells,
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
