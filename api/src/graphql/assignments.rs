//! Assignments: what runs, with which limits, for how many points, due when.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};

use super::context::{db, parse_id, signed_in};
use super::repositories::RepositoryNode;
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::{GradePolicy, ImageSource, LatePolicy, Role};
use crate::db::models::{
    Assignment, AssignmentChanges, Extension, Membership, NewAssignment, Repository,
};
use crate::error::{AppError, GqlResult};
use crate::validate;

#[derive(Default)]
pub struct AssignmentQuery;

#[Object]
impl AssignmentQuery {
    /// An assignment by id, in a course the viewer belongs to.
    async fn assignment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<AssignmentNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&id)?, Need::Member).await?;
        Ok(AssignmentNode { assignment, access })
    }
}

/// A new assignment. Limits default to 10 minutes, 512 MiB and one CPU.
#[derive(InputObject)]
struct CreateAssignmentInput {
    course_id: ID,
    /// URL identifier within the course, e.g. `hw1`.
    slug: String,
    title: String,
    #[graphql(default)]
    description: String,
    /// The image the tests run in, e.g. `localhost/lectern-python:3.11`.
    image: String,
    /// The shell command that runs the tests, e.g. `python3 -m pytest -q`.
    test_command: String,
    #[graphql(default = 600)]
    timeout_seconds: i32,
    #[graphql(default = 512)]
    memory_mb: i32,
    #[graphql(default = 1000)]
    cpu_millis: i32,
    /// Points the assignment is worth (up to two decimals).
    points: Option<BigDecimal>,
    due_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    allow_dockerfile: bool,
    /// Branch patterns (`*` wildcards) that trigger builds; empty for every branch.
    #[graphql(default)]
    allowed_branches: Vec<String>,
    hidden_tests_repo: Option<String>,
    hidden_tests_ref: Option<String>,
    /// Where the tests write a JUnit XML report, relative to the checkout.
    report_path: Option<String>,
    /// Points per test by name pattern; empty spreads `points` evenly over the tests.
    #[graphql(default)]
    test_points: Vec<PointsRule>,
    /// What becomes of work received after the deadline (default: graded, marked late).
    #[graphql(default_with = "LatePolicy::Accept")]
    late_policy: LatePolicy,
    /// Percent taken off per started day late, under the PENALTY policy.
    late_penalty_percent: Option<BigDecimal>,
    /// Which graded build counts (default: the latest).
    #[graphql(default_with = "GradePolicy::Latest")]
    grade_policy: GradePolicy,
    /// Where the hidden tests go, relative to the checkout (replacing what is there).
    #[graphql(default_with = "String::from(\"hidden_tests\")")]
    hidden_tests_path: String,
    /// The command that runs the hidden tests; without it, the test command.
    hidden_tests_command: Option<String>,
    /// The repository students start from (https://), for checking protected paths.
    starter_repo: Option<String>,
    starter_ref: Option<String>,
    /// Paths students must leave as the starter has them (`*` wildcards; a directory
    /// covers what is in it). Builds that change them are flagged.
    #[graphql(default)]
    protected_paths: Vec<String>,
    /// At most this many graded runs per student in any `gradedRunPeriodHours`.
    graded_run_limit: Option<i32>,
    #[graphql(default = 24)]
    graded_run_period_hours: i32,
    /// On Kubernetes: the assignment's image (default), or an image built per build.
    #[graphql(default_with = "ImageSource::Assignment")]
    image_source: ImageSource,
}

/// Points for the tests whose name matches `pattern` (`*` any text, `?` one character),
/// matched against `suite.name` and against the name alone; the first matching rule counts.
#[derive(Clone, SimpleObject, InputObject)]
#[graphql(input_name = "PointsRuleInput")]
pub struct PointsRule {
    pattern: String,
    points: BigDecimal,
}

/// A late penalty: a percentage with at most two decimals.
fn penalty(value: &BigDecimal) -> Result<BigDecimal, AppError> {
    let hundred = BigDecimal::from(100);
    if value.sign() == bigdecimal::num_bigint::Sign::Minus || value > &hundred {
        return Err(AppError::invalid(
            "latePenaltyPercent",
            "must be between 0 and 100",
        ));
    }
    if value.fractional_digit_count() > 2 && &value.with_scale(2) != value {
        return Err(AppError::invalid(
            "latePenaltyPercent",
            "use at most two decimals",
        ));
    }
    Ok(value.with_scale(2))
}

/// Checked rules, in the form an assignment stores them.
fn points_rules(rules: &[PointsRule]) -> Result<serde_json::Value, AppError> {
    if rules.len() > 200 {
        return Err(AppError::invalid("testPoints", "at most 200 rules"));
    }
    let checked = rules
        .iter()
        .map(|rule| {
            let pattern = validate::text("testPoints", &rule.pattern, 1, 256)?;
            let points = points(&rule.points).map_err(|_| {
                AppError::invalid(
                    "testPoints",
                    "points must be between 0 and 99999999.99, with at most two decimals",
                )
            })?;
            Ok(crate::grading::points::Rule { pattern, points })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(crate::grading::points::rules_to_json(&checked))
}

/// Changes to an assignment: omitted fields stay; `null` clears an optional one.
#[derive(InputObject)]
struct UpdateAssignmentInput {
    slug: Option<String>,
    title: Option<String>,
    description: Option<String>,
    image: Option<String>,
    test_command: Option<String>,
    timeout_seconds: Option<i32>,
    memory_mb: Option<i32>,
    cpu_millis: Option<i32>,
    points: Option<BigDecimal>,
    due_at: MaybeUndefined<DateTime<Utc>>,
    allow_dockerfile: Option<bool>,
    allowed_branches: Option<Vec<String>>,
    hidden_tests_repo: MaybeUndefined<String>,
    hidden_tests_ref: MaybeUndefined<String>,
    report_path: MaybeUndefined<String>,
    /// Replaces the points rules; `[]` spreads the points evenly.
    test_points: Option<Vec<PointsRule>>,
    late_policy: Option<LatePolicy>,
    late_penalty_percent: Option<BigDecimal>,
    grade_policy: Option<GradePolicy>,
    hidden_tests_path: Option<String>,
    hidden_tests_command: MaybeUndefined<String>,
    /// When students see the hidden tests' results; `null` withholds them again.
    hidden_tests_released_at: MaybeUndefined<DateTime<Utc>>,
    starter_repo: MaybeUndefined<String>,
    starter_ref: MaybeUndefined<String>,
    protected_paths: Option<Vec<String>>,
    /// `null` removes the limit.
    graded_run_limit: MaybeUndefined<i32>,
    graded_run_period_hours: Option<i32>,
    image_source: Option<ImageSource>,
}

const TIMEOUT_RANGE: std::ops::RangeInclusive<i32> = 1..=86_400;
const MEMORY_RANGE: std::ops::RangeInclusive<i32> = 16..=65_536;
const CPU_RANGE: std::ops::RangeInclusive<i32> = 100..=64_000;

fn points(value: &BigDecimal) -> Result<BigDecimal, AppError> {
    let max = BigDecimal::from(100_000_000);
    if value.sign() == bigdecimal::num_bigint::Sign::Minus || *value >= max {
        return Err(AppError::invalid(
            "points",
            "must be between 0 and 99999999.99",
        ));
    }
    if value.fractional_digit_count() > 2 && &value.with_scale(2) != value {
        return Err(AppError::invalid("points", "use at most two decimals"));
    }
    Ok(value.with_scale(2))
}

fn branches(patterns: &[String]) -> Result<Vec<Option<String>>, AppError> {
    if patterns.len() > 50 {
        return Err(AppError::invalid("allowedBranches", "at most 50 patterns"));
    }
    patterns
        .iter()
        .map(|p| validate::branch_pattern("allowedBranches", p).map(Some))
        .collect()
}

/// A repository Lectern fetches from (hidden tests, starter code): https://, or in
/// development mode also a local path.
fn git_url(field: &'static str, value: &str, dev_mode: bool) -> Result<String, AppError> {
    let value = validate::text(field, value, 1, 2048)?;
    crate::builds::checkout::check_url(&value, dev_mode)
        .map_err(|e| AppError::invalid(field, format!("{e}; use an https:// git URL")))?;
    Ok(value)
}

/// A path inside the checkout (no leading `/`, no `..`).
fn inside_path(field: &'static str, value: &str) -> Result<String, AppError> {
    let value = validate::text(field, value, 1, 1024)?;
    if value.starts_with('/') || value.split('/').any(|part| part == "..") {
        return Err(AppError::invalid(
            field,
            "must be a path inside the checkout, without `..`",
        ));
    }
    Ok(value)
}

fn protected_paths(patterns: &[String]) -> Result<Vec<Option<String>>, AppError> {
    if patterns.len() > 100 {
        return Err(AppError::invalid("protectedPaths", "at most 100 patterns"));
    }
    patterns
        .iter()
        .map(|p| inside_path("protectedPaths", p).map(Some))
        .collect()
}

const GRADED_RUNS_RANGE: std::ops::RangeInclusive<i32> = 1..=1000;
const PERIOD_RANGE: std::ops::RangeInclusive<i32> = 1..=8760;

fn report_path(value: &str) -> Result<String, AppError> {
    inside_path("reportPath", value)
}

fn optional<T>(
    value: Option<String>,
    check: impl Fn(&str) -> Result<T, AppError>,
) -> Result<Option<T>, AppError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| check(&v))
        .transpose()
}

fn patch<T>(
    value: MaybeUndefined<String>,
    check: impl Fn(&str) -> Result<T, AppError>,
) -> Result<Option<Option<T>>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) if v.trim().is_empty() => Ok(Some(None)),
        MaybeUndefined::Value(v) => Ok(Some(Some(check(&v)?))),
    }
}

/// Refuses a ref without its repository, and hidden tests from two sources at once.
fn sources_agree(
    hidden_repo: bool,
    hidden_ref: bool,
    hidden_archive: bool,
    starter_repo: bool,
    starter_ref: bool,
) -> Result<(), AppError> {
    if hidden_ref && !hidden_repo {
        return Err(AppError::invalid(
            "hiddenTestsRef",
            "name the hidden tests' repository too",
        ));
    }
    if hidden_repo && hidden_archive {
        return Err(AppError::invalid(
            "hiddenTestsRepo",
            "the hidden tests are an uploaded archive; remove it first (DELETE /assignments/{id}/hidden-tests)",
        ));
    }
    if starter_ref && !starter_repo {
        return Err(AppError::invalid(
            "starterRef",
            "name the starter repository too",
        ));
    }
    Ok(())
}

#[derive(Default)]
pub struct AssignmentMutation;

#[Object]
impl AssignmentMutation {
    /// Adds an assignment to a course. Instructors only.
    async fn create_assignment(
        &self,
        ctx: &Context<'_>,
        input: CreateAssignmentInput,
    ) -> GqlResult<AssignmentNode> {
        let me = signed_in(ctx)?;
        let dev_mode = super::context::app(ctx)?.config.dev_mode;
        let mut conn = db(ctx).await?;
        let access =
            access::course(&mut conn, me, parse_id(&input.course_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let new = NewAssignment {
            course_id: access.course.id,
            slug: validate::slug("slug", &input.slug)?,
            title: validate::text("title", &input.title, 1, 200)?,
            description: validate::text("description", &input.description, 0, 20_000)?,
            image: validate::image("image", &input.image)?,
            test_command: validate::text("testCommand", &input.test_command, 1, 4096)?,
            timeout_seconds: validate::int_in(
                "timeoutSeconds",
                input.timeout_seconds,
                TIMEOUT_RANGE,
                "seconds",
            )?,
            memory_mb: validate::int_in("memoryMb", input.memory_mb, MEMORY_RANGE, "MiB")?,
            cpu_millis: validate::int_in("cpuMillis", input.cpu_millis, CPU_RANGE, "millicores")?,
            points: points(&input.points.unwrap_or_else(|| BigDecimal::from(100)))?,
            due_at: input.due_at,
            allow_dockerfile: input.allow_dockerfile,
            allowed_branches: branches(&input.allowed_branches)?,
            hidden_tests_repo: optional(input.hidden_tests_repo, |u| {
                git_url("hiddenTestsRepo", u, dev_mode)
            })?,
            hidden_tests_ref: optional(input.hidden_tests_ref, |r| {
                validate::text("hiddenTestsRef", r, 1, 256)
            })?,
            report_path: optional(input.report_path, report_path)?,
            test_points: points_rules(&input.test_points)?,
            late_policy: input.late_policy,
            late_penalty_percent: penalty(&input.late_penalty_percent.unwrap_or_default())?,
            grade_policy: input.grade_policy,
            hidden_tests_path: inside_path("hiddenTestsPath", &input.hidden_tests_path)?,
            hidden_tests_command: optional(input.hidden_tests_command, |c| {
                validate::text("hiddenTestsCommand", c, 1, 4096)
            })?,
            starter_repo: optional(input.starter_repo, |u| git_url("starterRepo", u, dev_mode))?,
            starter_ref: optional(input.starter_ref, |r| {
                validate::text("starterRef", r, 1, 256)
            })?,
            protected_paths: protected_paths(&input.protected_paths)?,
            graded_run_limit: input
                .graded_run_limit
                .map(|n| validate::int_in("gradedRunLimit", n, GRADED_RUNS_RANGE, "runs"))
                .transpose()?,
            graded_run_period_hours: validate::int_in(
                "gradedRunPeriodHours",
                input.graded_run_period_hours,
                PERIOD_RANGE,
                "hours",
            )?,
            image_source: input.image_source,
        };
        sources_agree(
            new.hidden_tests_repo.is_some(),
            new.hidden_tests_ref.is_some(),
            false,
            new.starter_repo.is_some(),
            new.starter_ref.is_some(),
        )?;
        let assignment = Assignment::create(&mut conn, &new).await?;
        tracing::info!(
            course = access.course.id,
            assignment = assignment.id,
            "assignment created"
        );
        Ok(AssignmentNode { assignment, access })
    }

    /// Gives a student their own deadline for an assignment (replacing one given before).
    /// Instructors only. Their builds are judged late against it from then on.
    async fn grant_extension(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        user_id: ID,
        due_at: DateTime<Utc>,
    ) -> GqlResult<ExtensionNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&assignment_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let user = parse_id(&user_id)?;
        if Membership::role_of(&mut conn, assignment.course_id, user).await? != Some(Role::Student)
        {
            return Err(AppError::invalid("userId", "not a student of this course").into());
        }
        let extension =
            Extension::grant(&mut conn, assignment.id, user, due_at, me.user.id).await?;
        tracing::info!(
            assignment = assignment.id,
            student = user,
            by = me.user.id,
            "extension granted"
        );
        Ok(ExtensionNode(extension))
    }

    /// Takes a student's extension back; whether there was one. Instructors only.
    async fn revoke_extension(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        user_id: ID,
    ) -> GqlResult<bool> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&assignment_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        Ok(Extension::revoke(&mut conn, assignment.id, parse_id(&user_id)?).await?)
    }

    /// Changes an assignment. Instructors only.
    async fn update_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAssignmentInput,
    ) -> GqlResult<AssignmentNode> {
        let me = signed_in(ctx)?;
        let dev_mode = super::context::app(ctx)?.config.dev_mode;
        let mut conn = db(ctx).await?;
        let (current, access) =
            access::assignment(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let changes = AssignmentChanges {
            slug: input.slug.map(|s| validate::slug("slug", &s)).transpose()?,
            title: input
                .title
                .map(|t| validate::text("title", &t, 1, 200))
                .transpose()?,
            description: input
                .description
                .map(|d| validate::text("description", &d, 0, 20_000))
                .transpose()?,
            image: input
                .image
                .map(|i| validate::image("image", &i))
                .transpose()?,
            test_command: input
                .test_command
                .map(|c| validate::text("testCommand", &c, 1, 4096))
                .transpose()?,
            timeout_seconds: input
                .timeout_seconds
                .map(|t| validate::int_in("timeoutSeconds", t, TIMEOUT_RANGE, "seconds"))
                .transpose()?,
            memory_mb: input
                .memory_mb
                .map(|m| validate::int_in("memoryMb", m, MEMORY_RANGE, "MiB"))
                .transpose()?,
            cpu_millis: input
                .cpu_millis
                .map(|c| validate::int_in("cpuMillis", c, CPU_RANGE, "millicores"))
                .transpose()?,
            points: input.points.as_ref().map(points).transpose()?,
            due_at: match input.due_at {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(at) => Some(Some(at)),
            },
            allow_dockerfile: input.allow_dockerfile,
            allowed_branches: input
                .allowed_branches
                .as_deref()
                .map(branches)
                .transpose()?,
            hidden_tests_repo: patch(input.hidden_tests_repo, |u| {
                git_url("hiddenTestsRepo", u, dev_mode)
            })?,
            hidden_tests_ref: patch(input.hidden_tests_ref, |r| {
                validate::text("hiddenTestsRef", r, 1, 256)
            })?,
            hidden_tests_archive: None,
            hidden_tests_path: input
                .hidden_tests_path
                .map(|p| inside_path("hiddenTestsPath", &p))
                .transpose()?,
            hidden_tests_command: patch(input.hidden_tests_command, |c| {
                validate::text("hiddenTestsCommand", c, 1, 4096)
            })?,
            hidden_released_at: match input.hidden_tests_released_at {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(at) => Some(Some(at)),
            },
            starter_repo: patch(input.starter_repo, |u| git_url("starterRepo", u, dev_mode))?,
            starter_ref: patch(input.starter_ref, |r| {
                validate::text("starterRef", r, 1, 256)
            })?,
            protected_paths: input
                .protected_paths
                .as_deref()
                .map(protected_paths)
                .transpose()?,
            graded_run_limit: match input.graded_run_limit {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(n) => Some(Some(validate::int_in(
                    "gradedRunLimit",
                    n,
                    GRADED_RUNS_RANGE,
                    "runs",
                )?)),
            },
            graded_run_period_hours: input
                .graded_run_period_hours
                .map(|h| validate::int_in("gradedRunPeriodHours", h, PERIOD_RANGE, "hours"))
                .transpose()?,
            image_source: input.image_source,
            report_path: patch(input.report_path, report_path)?,
            test_points: input.test_points.as_deref().map(points_rules).transpose()?,
            late_policy: input.late_policy,
            late_penalty_percent: input
                .late_penalty_percent
                .as_ref()
                .map(penalty)
                .transpose()?,
            grade_policy: input.grade_policy,
        };
        fn after<T>(change: &Option<Option<T>>, current: &Option<T>) -> bool {
            match change {
                Some(value) => value.is_some(),
                None => current.is_some(),
            }
        }
        sources_agree(
            after(&changes.hidden_tests_repo, &current.hidden_tests_repo),
            after(&changes.hidden_tests_ref, &current.hidden_tests_ref),
            current.hidden_tests_uploaded,
            after(&changes.starter_repo, &current.starter_repo),
            after(&changes.starter_ref, &current.starter_ref),
        )?;
        let assignment = Assignment::update(&mut conn, current.id, &changes).await?;
        Ok(AssignmentNode { assignment, access })
    }

    /// Shows the hidden tests' names, output and points to students from `at` (now
    /// without it). Instructors only.
    async fn release_hidden_tests(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        at: Option<DateTime<Utc>>,
    ) -> GqlResult<AssignmentNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (current, access) =
            access::assignment(&mut conn, me, parse_id(&assignment_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let changes = AssignmentChanges {
            hidden_released_at: Some(Some(at.unwrap_or_else(Utc::now))),
            ..AssignmentChanges::default()
        };
        let assignment = Assignment::update(&mut conn, current.id, &changes).await?;
        tracing::info!(
            assignment = assignment.id,
            by = me.user.id,
            "hidden tests released"
        );
        Ok(AssignmentNode { assignment, access })
    }

    /// Deletes an assignment with its repositories and builds. Instructors only.
    async fn delete_assignment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        Assignment::delete(&mut conn, assignment.id).await?;
        Ok(id)
    }
}

/// An assignment as one viewer sees it: the hidden tests' source only for staff.
pub struct AssignmentNode {
    pub assignment: Assignment,
    pub access: CourseAccess,
}

#[Object(name = "Assignment")]
impl AssignmentNode {
    async fn id(&self) -> ID {
        ID(self.assignment.id.to_string())
    }
    async fn slug(&self) -> &str {
        &self.assignment.slug
    }
    async fn title(&self) -> &str {
        &self.assignment.title
    }
    async fn description(&self) -> &str {
        &self.assignment.description
    }
    async fn image(&self) -> &str {
        &self.assignment.image
    }
    async fn test_command(&self) -> &str {
        &self.assignment.test_command
    }
    async fn timeout_seconds(&self) -> i32 {
        self.assignment.timeout_seconds
    }
    async fn memory_mb(&self) -> i32 {
        self.assignment.memory_mb
    }
    async fn cpu_millis(&self) -> i32 {
        self.assignment.cpu_millis
    }
    async fn points(&self) -> &BigDecimal {
        &self.assignment.points
    }
    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.assignment.due_at
    }
    async fn allow_dockerfile(&self) -> bool {
        self.assignment.allow_dockerfile
    }
    async fn allowed_branches(&self) -> Vec<String> {
        self.assignment.branch_patterns()
    }
    /// Whether hidden tests run after the student's (their source is for staff only).
    async fn has_hidden_tests(&self) -> bool {
        crate::builds::hidden::Source::of(&self.assignment).is_some()
    }
    /// From when students see the hidden tests' names, output and points; null while
    /// they are withheld.
    async fn hidden_tests_released_at(&self) -> Option<DateTime<Utc>> {
        self.assignment.hidden_released_at
    }
    /// Whether the hidden tests are an uploaded archive. Staff only; null for students.
    async fn hidden_tests_uploaded(&self) -> Option<bool> {
        self.access
            .is_staff()
            .then_some(self.assignment.hidden_tests_uploaded)
    }
    /// Where the hidden tests go in the checkout. Staff only.
    async fn hidden_tests_path(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.hidden_tests_path.as_str())
    }
    /// The command that runs the hidden tests (null: the test command). Staff only.
    async fn hidden_tests_command(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.hidden_tests_command.as_deref())
            .flatten()
    }
    /// The repository students start from. Staff only.
    async fn starter_repo(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.starter_repo.as_deref())
            .flatten()
    }
    /// Staff only.
    async fn starter_ref(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.starter_ref.as_deref())
            .flatten()
    }
    /// Paths students must leave as the starter has them; builds that change them are
    /// flagged.
    async fn protected_paths(&self) -> Vec<&str> {
        self.assignment
            .protected_paths
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }
    /// Graded runs a student may have in any `gradedRunPeriodHours`; null: no limit.
    async fn graded_run_limit(&self) -> Option<i32> {
        self.assignment.graded_run_limit
    }
    async fn graded_run_period_hours(&self) -> i32 {
        self.assignment.graded_run_period_hours
    }
    /// On Kubernetes: the assignment's image, or an image built per build.
    async fn image_source(&self) -> ImageSource {
        self.assignment.image_source
    }
    /// The viewer's own graded runs against the limit, now; null without a limit.
    async fn my_graded_runs(&self, ctx: &Context<'_>) -> GqlResult<Option<GradedRuns>> {
        let Some(limit) = self.assignment.graded_run_limit else {
            return Ok(None);
        };
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let now = Utc::now();
        let period = chrono::TimeDelta::hours(i64::from(self.assignment.graded_run_period_hours));
        let runs = crate::db::models::Build::graded_runs(
            &mut conn,
            self.assignment.id,
            me.user.id,
            (now - period, now),
            None,
        )
        .await?;
        let allowance = crate::grading::allowance::at(limit, period, &runs, now);
        Ok(Some(GradedRuns {
            limit,
            used: allowance.used,
            left: allowance.left(),
            period_hours: self.assignment.graded_run_period_hours,
            next_at: allowance.next_at,
        }))
    }
    /// Staff only; null for students.
    async fn hidden_tests_repo(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.hidden_tests_repo.as_deref())
            .flatten()
    }
    /// Staff only; null for students.
    async fn hidden_tests_ref(&self) -> Option<&str> {
        self.access
            .is_staff()
            .then_some(self.assignment.hidden_tests_ref.as_deref())
            .flatten()
    }
    async fn report_path(&self) -> Option<&str> {
        self.assignment.report_path.as_deref()
    }
    /// What becomes of work received after the deadline.
    async fn late_policy(&self) -> LatePolicy {
        self.assignment.late_policy
    }
    /// Percent off per started day late, under the PENALTY policy.
    async fn late_penalty_percent(&self) -> BigDecimal {
        self.assignment.late_penalty_percent.normalized()
    }
    /// Which graded build counts.
    async fn grade_policy(&self) -> GradePolicy {
        self.assignment.grade_policy
    }
    /// Students' own deadlines. Staff only; empty for students.
    async fn extensions(&self, ctx: &Context<'_>) -> GqlResult<Vec<ExtensionNode>> {
        if !self.access.is_staff() {
            return Ok(Vec::new());
        }
        let mut conn = db(ctx).await?;
        Ok(Extension::list(&mut conn, self.assignment.id)
            .await?
            .into_iter()
            .map(ExtensionNode)
            .collect())
    }
    /// Points per test by name pattern; empty when the points are spread evenly.
    async fn test_points(&self) -> Vec<PointsRule> {
        crate::grading::points::rules_from_json(&self.assignment.test_points)
            .into_iter()
            .map(|r| PointsRule {
                pattern: r.pattern,
                points: r.points,
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.assignment.created_at
    }
    /// Linked repositories: all of them for staff, the viewer's own for a student.
    async fn repositories(&self, ctx: &Context<'_>) -> GqlResult<Vec<RepositoryNode>> {
        let me = signed_in(ctx)?;
        let access = &self.access;
        let mut conn = db(ctx).await?;
        let owner = (!access.is_staff()).then_some(me.user.id);
        Ok(
            Repository::list_for_assignment(&mut conn, self.assignment.id, owner)
                .await?
                .into_iter()
                .map(|repository| RepositoryNode {
                    repository,
                    access: access.clone(),
                })
                .collect(),
        )
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.assignment.updated_at
    }
}

/// Where a student stands against an assignment's limit on graded runs.
#[derive(SimpleObject)]
pub struct GradedRuns {
    pub limit: i32,
    /// Graded runs in the last `periodHours`.
    pub used: i32,
    pub left: i32,
    pub period_hours: i32,
    /// When the next graded run becomes available, when none is left.
    pub next_at: Option<DateTime<Utc>>,
}

/// One student's own deadline for an assignment.
pub struct ExtensionNode(Extension);

#[Object(name = "Extension")]
impl ExtensionNode {
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
