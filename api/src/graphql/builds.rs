//! Builds: one build with its stored log, and retrying or cancelling it. The owner of the
//! repository and the course's staff may see, retry and cancel a build; nobody else.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{db, parse_id, signed_in};
use super::grades::TestResultNode;
use crate::auth::{Need, access};
use crate::db::enums::{BuildStatus, BuildTrigger, ExecutorKind, LogStream};
use crate::db::models::{Build, LogChunk, TestResult};
use crate::error::{AppError, GqlResult};

/// Most log chunks one query returns.
const MAX_CHUNKS: i32 = 500;

#[derive(Default)]
pub struct BuildQuery;

#[Object]
impl BuildQuery {
    /// A build of a repository the viewer owns, or of a course they are staff of.
    async fn build(&self, ctx: &Context<'_>, id: ID) -> GqlResult<BuildNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let build = Build::find(&mut conn, parse_id(&id)?).await?;
        access::repository(&mut conn, me, build.repository_id, Need::Member).await?;
        Ok(BuildNode(build))
    }
}

#[derive(Default)]
pub struct BuildMutation;

#[Object]
impl BuildMutation {
    /// Queues a new build of the same commit (attempt + 1, linked to this one).
    async fn retry_build(&self, ctx: &Context<'_>, id: ID) -> GqlResult<BuildNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let build = Build::find(&mut conn, parse_id(&id)?).await?;
        let (repository, _) =
            access::repository(&mut conn, me, build.repository_id, Need::Member).await?;
        if repository.unlinked_at.is_some() {
            return Err(AppError::BadRequest(
                "this repository is unlinked; link it again to build it".into(),
            )
            .into());
        }
        let retry = build.retry(&mut conn, me.user.id).await?;
        tracing::info!(
            build = build.id,
            retry = retry.id,
            user = me.user.id,
            "build retried"
        );
        Ok(BuildNode(retry))
    }

    /// Stops a queued or running build (a running one within seconds). A finished build is
    /// returned as it is.
    async fn cancel_build(&self, ctx: &Context<'_>, id: ID) -> GqlResult<BuildNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let build = Build::find(&mut conn, parse_id(&id)?).await?;
        access::repository(&mut conn, me, build.repository_id, Need::Member).await?;
        let build =
            Build::request_cancel(&mut conn, build.id, Some(me.user.id), &me.user.login).await?;
        tracing::info!(build = build.id, status = %build.status, user = me.user.id, "build cancel requested");
        Ok(BuildNode(build))
    }
}

/// One run of an assignment's tests on one commit.
pub struct BuildNode(pub Build);

#[Object(name = "Build")]
impl BuildNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The repository it built (checked again: a build reached through a list is only as
    /// visible as its repository).
    async fn repository(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<super::repositories::RepositoryNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (repository, access) =
            access::repository(&mut conn, me, self.0.repository_id, Need::Member).await?;
        Ok(super::repositories::RepositoryNode { repository, access })
    }
    /// The build's number within its repository.
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn status(&self) -> BuildStatus {
        self.0.status
    }
    /// Why it errored, was cancelled or superseded, or was killed.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    async fn trigger(&self) -> BuildTrigger {
        self.0.trigger
    }
    async fn branch(&self) -> Option<&str> {
        self.0.branch.as_deref()
    }
    async fn pull_request(&self) -> Option<i32> {
        self.0.pr_number
    }
    async fn commit_sha(&self) -> &str {
        &self.0.commit_sha
    }
    async fn commit_message(&self) -> &str {
        &self.0.commit_message
    }
    async fn commit_author(&self) -> Option<&str> {
        self.0.commit_author.as_deref()
    }
    /// 1 for a first run; a retry counts up.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// The build this one retried.
    async fn retry_of(&self) -> Option<ID> {
        self.0.retry_of.map(|id| ID(id.to_string()))
    }
    /// The build this one retried, to compare with (a regrade's old score). Of the same
    /// repository, so as visible as this one.
    async fn retried_build(&self, ctx: &Context<'_>) -> GqlResult<Option<BuildNode>> {
        let Some(id) = self.0.retry_of else {
            return Ok(None);
        };
        let mut conn = db(ctx).await?;
        Ok(Some(BuildNode(Build::find(&mut conn, id).await?)))
    }
    /// The newer build of the same branch that replaced this one while it was queued.
    async fn superseded_by(&self) -> Option<ID> {
        self.0.superseded_by.map(|id| ID(id.to_string()))
    }
    /// When Lectern received the push (deadlines use this, not the commit's date).
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    async fn queued_at(&self) -> DateTime<Utc> {
        self.0.queued_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn executor(&self) -> Option<ExecutorKind> {
        self.0.executor
    }
    /// The test command's exit code, when it exited.
    async fn exit_code(&self) -> Option<i32> {
        self.0.exit_code
    }
    /// Whether someone asked to cancel it.
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested_at.is_some()
    }
    /// Its place in the queue (1 = next) while queued.
    async fn queue_position(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        if self.0.status != BuildStatus::Queued {
            return Ok(None);
        }
        let mut conn = db(ctx).await?;
        Ok(self.0.queue_position(&mut conn).await?)
    }
    /// Tests that passed, failed and were skipped, once a report was read (without the
    /// hidden tests, for a viewer who may not see them yet).
    async fn tests_passed(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> {
        self.count(ctx, self.0.tests_passed, self.0.hidden_passed)
            .await
    }
    async fn tests_failed(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> {
        self.count(ctx, self.0.tests_failed, self.0.hidden_failed)
            .await
    }
    async fn tests_skipped(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> {
        self.count(ctx, self.0.tests_skipped, self.0.hidden_skipped)
            .await
    }
    /// Whether the build ran hidden tests whose results the viewer may not see yet: its
    /// counts, score, tests and log then leave them out.
    async fn hidden_tests_withheld(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        self.withholds(ctx).await
    }
    /// The receipt's digest of the hidden tests the build ran (SHA-256 over their paths
    /// and contents), when it ran any.
    async fn hidden_tests_digest(&self) -> Option<&str> {
        self.0.hidden_tests_sha256.as_deref()
    }
    /// The receipt's image: the id (`sha256:…`) of the image the tests ran in, when the
    /// executor built one.
    async fn image_digest(&self) -> Option<&str> {
        self.0.image_digest.as_deref()
    }
    /// Files the assignment protects that this commit changed, added or removed against
    /// the starter code.
    async fn protected_edits(&self) -> Vec<&str> {
        self.0
            .protected_edits
            .iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }
    /// Whether it counts as one of the student's graded runs (false: over the
    /// assignment's limit; see `ungradedReason`).
    async fn graded_run(&self) -> bool {
        self.0.graded_run
    }
    /// Why it is not graded, when it is over the limit of graded runs.
    async fn ungraded_reason(&self) -> Option<&str> {
        self.0.ungraded_reason.as_deref()
    }
    /// The notifications sent about this build and what became of each (the course's
    /// staff; empty for anyone else).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<super::notifications::NotificationNode>> {
        super::notifications::of_build(ctx, self.0.id, self.0.course_id).await
    }
    /// Bytes of output stored.
    async fn log_bytes(&self) -> i64 {
        self.0.log_bytes
    }
    /// Whether output past the size limit was dropped.
    async fn log_truncated(&self) -> bool {
        self.0.log_truncated
    }
    /// The score the run earned (exact; up to six decimals), once graded. Without the
    /// hidden tests' points for a viewer who may not see them yet.
    async fn score(&self, ctx: &Context<'_>) -> GqlResult<Option<bigdecimal::BigDecimal>> {
        let score = if self.withholds(ctx).await? {
            &self.0.visible_score
        } else {
            &self.0.score
        };
        Ok(score.as_ref().map(bigdecimal::BigDecimal::normalized))
    }
    /// What the score is out of.
    async fn max_score(&self) -> Option<bigdecimal::BigDecimal> {
        self.0
            .max_score
            .as_ref()
            .map(bigdecimal::BigDecimal::normalized)
    }
    /// Whether Lectern received the push after the assignment's due date.
    async fn late(&self) -> bool {
        self.0.late
    }
    /// Started days past the deadline when the push was received; null when on time.
    async fn late_days(&self) -> Option<i32> {
        self.0.late_days
    }
    /// The score before the late penalty, when one was taken (not told while hidden tests'
    /// points are withheld: it would tell them).
    async fn score_before_penalty(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<bigdecimal::BigDecimal>> {
        if self.withholds(ctx).await? {
            return Ok(None);
        }
        Ok(self
            .0
            .score_before_penalty
            .as_ref()
            .map(bigdecimal::BigDecimal::normalized))
    }
    /// Where the test results were read from (`JUnit XML`, `pytest`, `cargo test`, …).
    async fn report_format(&self) -> Option<&str> {
        self.0.report_format.as_deref()
    }
    /// What was wrong with the report the assignment names, when something was.
    async fn report_problem(&self) -> Option<&str> {
        self.0.report_problem.as_deref()
    }
    /// Each test's result, in the report's order (the hidden tests' only for a viewer who
    /// may see them). While the build runs: the tests its output has reported so far
    /// (without points; a report file is read at the end).
    async fn test_results(&self, ctx: &Context<'_>) -> GqlResult<Vec<TestResultNode>> {
        let sees_hidden = self.sees_hidden(ctx).await?;
        let mut conn = db(ctx).await?;
        Ok(test_results(&mut conn, &self.0, sees_hidden)
            .await?
            .into_iter()
            .map(TestResultNode)
            .collect())
    }
    /// Stored output after chunk `after` (from the start without it), in order. The hidden
    /// tests' output is left out for a viewer who may not see it yet (sequence numbers
    /// then skip).
    async fn log(
        &self,
        ctx: &Context<'_>,
        after: Option<i32>,
        #[graphql(default = 100)] limit: i32,
    ) -> GqlResult<LogPage> {
        let sees_hidden = self.sees_hidden(ctx).await?;
        let mut conn = db(ctx).await?;
        let limit = limit.clamp(1, MAX_CHUNKS);
        let mut chunks = LogChunk::list(&mut conn, self.0.id, after, i64::from(limit) + 1).await?;
        let has_more = chunks.len() > usize::try_from(limit).unwrap_or(0);
        chunks.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(LogPage {
            has_more,
            // Where to go on from, also when every chunk of the page was left out.
            last_seq: chunks.last().map(|c| c.seq),
            chunks: chunks
                .into_iter()
                .filter(|c| sees_hidden || !c.stream.is_hidden())
                .map(LogChunkNode::from)
                .collect(),
        })
    }
}

/// A build's tests: stored once it has ended; while it runs, as its output reports them so
/// far (without points). The hidden tests' only with `sees_hidden`.
pub async fn test_results(
    conn: &mut diesel_async::AsyncPgConnection,
    build: &Build,
    sees_hidden: bool,
) -> Result<Vec<TestResult>, AppError> {
    if build.status.is_finished() {
        return Ok(TestResult::for_build(conn, build.id)
            .await?
            .into_iter()
            .filter(|result| sees_hidden || !result.hidden)
            .collect());
    }
    let mut cases = parse_output(&LogChunk::output_text(conn, build.id, false).await?);
    if sees_hidden {
        let hidden = LogChunk::output_text(conn, build.id, true).await?;
        cases.extend(parse_output(&hidden).into_iter().map(|mut case| {
            case.hidden = true;
            case
        }));
    }
    Ok(cases
        .into_iter()
        .zip(0..)
        .map(|(case, position)| TestResult {
            id: 0,
            build_id: build.id,
            position,
            suite: case.suite,
            name: case.name,
            outcome: case.outcome,
            duration_ms: case.duration_ms,
            message: case.message,
            points: None,
            max_points: None,
            hidden: case.hidden,
        })
        .collect())
}

/// The tests a runner's output reports so far.
fn parse_output(output: &str) -> Vec<crate::grading::TestCase> {
    crate::grading::output::parse(output)
        .map(|(_, cases)| cases)
        .unwrap_or_default()
}

impl BuildNode {
    /// Whether the viewer may see this build's hidden tests. A finished build that ran none
    /// needs no query.
    async fn sees_hidden(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        if self.0.status.is_finished() && self.0.hidden_tests_sha256.is_none() {
            return Ok(true);
        }
        sees_hidden_tests(ctx, self.0.assignment_id).await
    }

    /// Whether the build ran hidden tests whose results the viewer may not see yet.
    async fn withholds(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(self.0.hidden_tests_sha256.is_some() && !self.sees_hidden(ctx).await?)
    }

    /// A count of tests as the viewer may see it: without the `hidden` ones while they are
    /// withheld.
    async fn count(
        &self,
        ctx: &Context<'_>,
        all: Option<i32>,
        hidden: i32,
    ) -> GqlResult<Option<i32>> {
        let withheld = if self.withholds(ctx).await? {
            hidden
        } else {
            0
        };
        Ok(all.map(|n| n - withheld))
    }
}

/// Whether the viewer may see the hidden tests of assignment `assignment_id`: through the
/// request's loader (one query for every build of a page), or asked directly where there is
/// none (a subscription).
pub async fn sees_hidden_tests(ctx: &Context<'_>, assignment_id: i64) -> GqlResult<bool> {
    if let Ok(loaders) = ctx.data::<super::loaders::Loaders>() {
        return Ok(loaders
            .hidden_tests
            .load_one(assignment_id)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?
            .unwrap_or(false));
    }
    let me = signed_in(ctx)?;
    let mut conn = db(ctx).await?;
    Ok(access::sees_hidden_test(&mut conn, me, assignment_id).await?)
}

/// A page of a build's stored output.
#[derive(SimpleObject)]
pub struct LogPage {
    pub chunks: Vec<LogChunkNode>,
    /// More chunks follow; ask again with `after` = `lastSeq`.
    pub has_more: bool,
    /// The sequence number of the page's last chunk, including any left out for the viewer.
    pub last_seq: Option<i32>,
}

/// A piece of output. Text is as the program wrote it, with bytes that are not UTF-8
/// replaced by U+FFFD; it is untrusted and must be shown as text, never as HTML.
#[derive(SimpleObject)]
#[graphql(name = "LogChunk")]
pub struct LogChunkNode {
    pub seq: i32,
    pub stream: LogStream,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl From<LogChunk> for LogChunkNode {
    fn from(chunk: LogChunk) -> Self {
        Self {
            seq: chunk.seq,
            stream: chunk.stream,
            text: String::from_utf8_lossy(&chunk.data).into_owned(),
            at: chunk.created_at,
        }
    }
}
