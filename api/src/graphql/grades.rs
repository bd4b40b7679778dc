//! Grades: the course's grade matrix (staff only) and a build's per-test results.

use async_graphql::{Context, ID, Object, SimpleObject};
use bigdecimal::BigDecimal;

use super::assignments::AssignmentNode;
use super::builds::BuildNode;
use super::context::{db, parse_id, signed_in};
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::{BuildStatus, TestOutcome};
use crate::db::models::grade::{Cell, Student};
use crate::db::models::{Build, GradeMatrix, TestResult};
use crate::error::GqlResult;

#[derive(Default)]
pub struct GradeMutation;

#[Object]
impl GradeMutation {
    /// Runs every student's grading build of an assignment again (after a fix to its tests
    /// or points): each is retried as it was (same commit, same time of arrival, so the same
    /// lateness). Instructors only. Each new build's `retriedBuild` holds the old score.
    async fn regrade_assignment(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
    ) -> GqlResult<Vec<BuildNode>> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&assignment_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let matrix = GradeMatrix::load(&mut conn, assignment.course_id).await?;
        let grading: Vec<i64> = matrix
            .students
            .iter()
            .filter_map(|s| matrix.cell(s.id, assignment.id)?.graded_build_id)
            .collect();
        let mut queued = Vec::new();
        for build in Build::find_many(&mut conn, &grading).await? {
            queued.push(BuildNode(build.retry(&mut conn, me.user.id).await?));
        }
        tracing::info!(
            assignment = assignment.id,
            builds = queued.len(),
            by = me.user.id,
            "assignment regraded"
        );
        Ok(queued)
    }
}

/// Most builds one regrade summary looks at.
const MAX_SUMMARY_BUILDS: usize = 5000;

#[derive(Default)]
pub struct GradeQuery;

#[Object]
impl GradeQuery {
    /// What a regrade changed, as far as its builds have finished: `buildIds` are the
    /// builds `regradeAssignment` returned. Staff of their course only.
    async fn regrade_summary(
        &self,
        ctx: &Context<'_>,
        build_ids: Vec<ID>,
    ) -> GqlResult<RegradeSummary> {
        let me = signed_in(ctx)?;
        if build_ids.len() > MAX_SUMMARY_BUILDS {
            return Err(crate::error::AppError::invalid("buildIds", "at most 5000 builds").into());
        }
        let ids = build_ids
            .iter()
            .map(parse_id)
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = db(ctx).await?;
        let builds = Build::find_many(&mut conn, &ids).await?;
        let mut courses: Vec<i64> = builds.iter().map(|b| b.course_id).collect();
        courses.sort_unstable();
        courses.dedup();
        for course in courses {
            access::course(&mut conn, me, course, Need::Staff).await?;
        }
        let before: std::collections::HashMap<i64, Build> = Build::find_many(
            &mut conn,
            &builds.iter().filter_map(|b| b.retry_of).collect::<Vec<_>>(),
        )
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
        let mut summary = RegradeSummary {
            pending: 0,
            unchanged: 0,
            changed: Vec::new(),
        };
        for build in builds {
            if !build.status.is_finished() {
                summary.pending += 1;
                continue;
            }
            let old = build.retry_of.and_then(|id| before.get(&id));
            let old_score = old.and_then(|b| b.score.clone());
            if old_score == build.score {
                summary.unchanged += 1;
            } else {
                summary.changed.push(ScoreChange {
                    before: old_score.map(|s| s.normalized()),
                    after: build.score.as_ref().map(BigDecimal::normalized),
                    build: BuildNode(build),
                });
            }
        }
        Ok(summary)
    }

    /// Every student against every assignment, with the build that grades each pair (the
    /// latest graded build of the repository's default branch). Staff only. Read in two
    /// statements whatever the class size.
    async fn grade_matrix(&self, ctx: &Context<'_>, course_id: ID) -> GqlResult<GradeMatrixNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Staff).await?;
        let matrix = GradeMatrix::load(&mut conn, access.course.id).await?;
        Ok(GradeMatrixNode { matrix, access })
    }
}

pub struct GradeMatrixNode {
    matrix: GradeMatrix,
    access: CourseAccess,
}

#[Object(name = "GradeMatrix")]
impl GradeMatrixNode {
    /// The columns, by due date.
    async fn assignments(&self) -> Vec<AssignmentNode> {
        self.matrix
            .assignments
            .iter()
            .map(|assignment| AssignmentNode {
                assignment: assignment.clone(),
                access: self.access.clone(),
            })
            .collect()
    }
    /// One row per student, by login.
    async fn rows(&self) -> Vec<GradeRow> {
        self.matrix
            .students
            .iter()
            .map(|student| GradeRow {
                total: self.matrix.total(student.id).normalized(),
                cells: self
                    .matrix
                    .assignments
                    .iter()
                    .map(|a| GradeCell::from(a.id, self.matrix.cell(student.id, a.id)))
                    .collect(),
                student: StudentNode(student.clone()),
            })
            .collect()
    }
}

/// One student's grades.
#[derive(SimpleObject)]
pub struct GradeRow {
    student: StudentNode,
    /// Their cells, in the order of the matrix's assignments.
    cells: Vec<GradeCell>,
    /// The sum of their scores so far.
    total: BigDecimal,
}

/// One student on one assignment.
#[derive(SimpleObject)]
pub struct GradeCell {
    assignment_id: ID,
    /// Null when the student has not linked a repository for it.
    repository_id: Option<ID>,
    /// The build the grade comes from.
    graded_build_id: Option<ID>,
    score: Option<BigDecimal>,
    max_score: Option<BigDecimal>,
    late: bool,
    /// The newest build, of any branch, in whatever state.
    latest_build_id: Option<ID>,
    latest_status: Option<BuildStatus>,
    /// The grading build's status.
    graded_status: Option<BuildStatus>,
}

impl GradeCell {
    fn from(assignment: i64, cell: Option<&Cell>) -> Self {
        let id = |n: i64| ID(n.to_string());
        Self {
            assignment_id: id(assignment),
            repository_id: cell.map(|c| id(c.repository_id)),
            graded_build_id: cell.and_then(|c| c.graded_build_id).map(id),
            score: cell.and_then(|c| c.score.clone()).map(|s| s.normalized()),
            max_score: cell
                .and_then(|c| c.max_score.clone())
                .map(|s| s.normalized()),
            late: cell.is_some_and(|c| c.late),
            latest_build_id: cell.and_then(|c| c.latest_build_id).map(id),
            latest_status: cell.and_then(|c| c.latest_status),
            graded_status: cell.and_then(|c| c.graded_status),
        }
    }
}

/// A student as the matrix shows them (their email only in the CSV export).
pub struct StudentNode(Student);

#[Object(name = "Student")]
impl StudentNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn login(&self) -> &str {
        &self.0.login
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
}

/// One test of a build.
pub struct TestResultNode(pub TestResult);

#[Object(name = "TestResult")]
impl TestResultNode {
    /// Its place in the report (0 first).
    async fn position(&self) -> i32 {
        self.0.position
    }
    /// Where it lives (a module, class, package or file); may be empty.
    async fn suite(&self) -> &str {
        &self.0.suite
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn outcome(&self) -> TestOutcome {
        self.0.outcome
    }
    async fn duration_ms(&self) -> Option<i64> {
        self.0.duration_ms
    }
    /// Why it failed or was skipped, when the runner said.
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// Points earned.
    async fn points(&self) -> Option<BigDecimal> {
        self.0.points.as_ref().map(BigDecimal::normalized)
    }
    /// Points it is worth.
    async fn max_points(&self) -> Option<BigDecimal> {
        self.0.max_points.as_ref().map(BigDecimal::normalized)
    }
    /// One of the assignment's hidden tests (listed only to who may see them).
    async fn hidden(&self) -> bool {
        self.0.hidden
    }
}

/// A regrade's outcome so far.
#[derive(SimpleObject)]
pub struct RegradeSummary {
    /// Builds still queued or running.
    pub pending: i32,
    /// Finished builds whose score did not change.
    pub unchanged: i32,
    /// Finished builds whose score changed.
    pub changed: Vec<ScoreChange>,
}

/// One student's score before and after a regrade.
#[derive(SimpleObject)]
pub struct ScoreChange {
    pub build: BuildNode,
    pub before: Option<BigDecimal>,
    pub after: Option<BigDecimal>,
}
