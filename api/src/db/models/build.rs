//! Builds: one run of an assignment's tests on one commit.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::{BuildStatus, BuildTrigger, ExecutorKind};
use crate::db::models::Repository;
use crate::db::schema::builds;

/// A build.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = builds, check_for_backend(diesel::pg::Pg))]
pub struct Build {
    pub id: i64,
    pub repository_id: i64,
    pub course_id: i64,
    pub assignment_id: i64,
    pub number: i32,
    pub trigger: BuildTrigger,
    pub branch: Option<String>,
    pub pr_number: Option<i32>,
    pub commit_sha: String,
    pub commit_message: String,
    pub commit_author: Option<String>,
    pub triggered_by: Option<i64>,
    pub status: BuildStatus,
    pub status_reason: Option<String>,
    pub attempt: i32,
    pub retry_of: Option<i64>,
    pub delivery_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub executor: Option<ExecutorKind>,
    pub exit_code: Option<i32>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub log_bytes: i64,
    pub log_truncated: bool,
    pub tests_passed: Option<i32>,
    pub tests_failed: Option<i32>,
    pub tests_skipped: Option<i32>,
    pub recoveries: i32,
    pub superseded_by: Option<i64>,
    pub score: Option<bigdecimal::BigDecimal>,
    pub max_score: Option<bigdecimal::BigDecimal>,
    pub late: bool,
    pub report_format: Option<String>,
    pub report_problem: Option<String>,
    pub late_days: Option<i32>,
    pub score_before_penalty: Option<bigdecimal::BigDecimal>,
    /// Whether it spends one of the student's graded runs (false: over the limit, not graded).
    pub graded_run: bool,
    pub ungraded_reason: Option<String>,
    /// The receipt: the image the tests ran in, and the hidden tests' digest.
    pub image_digest: Option<String>,
    pub hidden_tests_sha256: Option<String>,
    /// The hidden tests' share of the counts, withheld from the student until released.
    pub hidden_passed: i32,
    pub hidden_failed: i32,
    pub hidden_skipped: i32,
    /// The score a student sees until the hidden tests are released.
    pub visible_score: Option<bigdecimal::BigDecimal>,
    /// Protected paths this commit changed against the starter.
    pub protected_edits: Vec<Option<String>>,
}

/// Which builds of a repository to list (see [`Build::list_for_repository`]).
#[derive(Clone, Debug, Default)]
pub struct BuildFilter {
    /// Only builds numbered below this (the last number of the previous page).
    pub before: Option<i32>,
    pub status: Option<BuildStatus>,
    pub branch: Option<String>,
    pub pull_request: Option<i32>,
}

/// What to build: the commit and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    pub trigger: BuildTrigger,
    pub branch: Option<String>,
    pub pr_number: Option<i32>,
    pub commit_sha: String,
    pub commit_message: String,
    pub commit_author: Option<String>,
}

impl Build {
    /// Queues a build of `request` for `repository`, numbered next in the repository. With
    /// `supersede`, a push cancels the branch's older builds still queued. Call inside a
    /// transaction together with whatever caused it.
    pub async fn enqueue(
        conn: &mut AsyncPgConnection,
        repository: &Repository,
        request: &BuildRequest,
        delivery_id: Option<&str>,
        received_at: DateTime<Utc>,
        supersede: bool,
    ) -> QueryResult<Build> {
        let number = Repository::take_build_number(conn, repository.id).await?;
        let build: Build = diesel::insert_into(builds::table)
            .values((
                builds::repository_id.eq(repository.id),
                builds::course_id.eq(repository.course_id),
                builds::assignment_id.eq(repository.assignment_id),
                builds::number.eq(number),
                builds::trigger.eq(request.trigger),
                builds::branch.eq(&request.branch),
                builds::pr_number.eq(request.pr_number),
                builds::commit_sha.eq(&request.commit_sha),
                builds::commit_message.eq(&request.commit_message),
                builds::commit_author.eq(&request.commit_author),
                builds::delivery_id.eq(delivery_id),
                builds::received_at.eq(received_at),
            ))
            .returning(Build::as_returning())
            .get_result(conn)
            .await?;
        if supersede && request.trigger == BuildTrigger::Push {
            build.supersede_older(conn).await?;
        }
        Ok(build)
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Build> {
        builds::table
            .find(id)
            .select(Build::as_select())
            .first(conn)
            .await
    }

    /// The builds with these ids, in one query (in no particular order).
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<Build>> {
        builds::table
            .filter(builds::id.eq_any(ids))
            .select(Build::as_select())
            .load(conn)
            .await
    }

    /// When each of a student's graded runs of an assignment received in `[from, to]` was
    /// received, oldest first, build `except` aside: runs the student started (pushes, their
    /// own retries) that ran or run, not those staff started (regrades) or that never ran.
    pub async fn graded_runs(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
        owner_id: i64,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        except: Option<i64>,
    ) -> QueryResult<Vec<DateTime<Utc>>> {
        use crate::db::schema::repositories;
        builds::table
            .inner_join(repositories::table)
            .filter(builds::assignment_id.eq(assignment_id))
            .filter(repositories::owner_id.eq(owner_id))
            .filter(builds::graded_run)
            .filter(builds::received_at.between(from, to))
            .filter(builds::id.ne(except.unwrap_or(0)))
            .filter(
                builds::triggered_by
                    .is_null()
                    .or(builds::triggered_by.eq(owner_id)),
            )
            .filter(builds::status.eq_any([
                BuildStatus::Running,
                BuildStatus::Passed,
                BuildStatus::Failed,
                BuildStatus::TimedOut,
            ]))
            .order(builds::received_at)
            .select(builds::received_at)
            .load(conn)
            .await
    }

    /// Records that running build `id` (held by `worker`) is over the student's limit of
    /// graded runs: it runs the visible tests only and is not graded.
    pub async fn mark_ungraded(
        conn: &mut AsyncPgConnection,
        id: i64,
        worker: &str,
        reason: &str,
    ) -> QueryResult<()> {
        diesel::update(builds::table)
            .filter(builds::id.eq(id))
            .filter(builds::worker_id.eq(worker))
            .set((
                builds::graded_run.eq(false),
                builds::ungraded_reason.eq(reason),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Records the protected files running build `id` (held by `worker`) changed, as soon as
    /// they are known (a server that follows the build on after a restart reads them here).
    pub async fn record_protected_edits(
        conn: &mut AsyncPgConnection,
        id: i64,
        worker: &str,
        edits: &[String],
    ) -> QueryResult<()> {
        diesel::update(builds::table)
            .filter(builds::id.eq(id))
            .filter(builds::worker_id.eq(worker))
            .set(builds::protected_edits.eq(edits))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Which of `shas` the repository has built, as (branch, sha) pairs, in one query.
    pub async fn built_heads(
        conn: &mut AsyncPgConnection,
        repository_id: i64,
        shas: &[String],
    ) -> QueryResult<std::collections::HashSet<(Option<String>, String)>> {
        let rows: Vec<(Option<String>, String)> = builds::table
            .filter(builds::repository_id.eq(repository_id))
            .filter(builds::commit_sha.eq_any(shas))
            .select((builds::branch, builds::commit_sha))
            .distinct()
            .load(conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The latest build of each of `course_ids` (of repositories `owner` owns, when given),
    /// by the time it was queued, in one query.
    pub async fn latest_in_courses(
        conn: &mut AsyncPgConnection,
        course_ids: &[i64],
        owner: Option<i64>,
    ) -> QueryResult<Vec<Build>> {
        use crate::db::schema::repositories;
        let mut query = builds::table
            .inner_join(repositories::table)
            .filter(builds::course_id.eq_any(course_ids))
            .distinct_on(builds::course_id)
            .into_boxed();
        if let Some(owner) = owner {
            query = query.filter(repositories::owner_id.eq(owner));
        }
        query
            .order((
                builds::course_id,
                builds::queued_at.desc(),
                builds::id.desc(),
            ))
            .select(Build::as_select())
            .load(conn)
            .await
    }

    /// A page of the repository's builds, newest first: those numbered below
    /// `filter.before`, of one status, branch or pull request when the filter says so. Each
    /// page is one index range scan, however many builds came before it.
    pub async fn list_for_repository(
        conn: &mut AsyncPgConnection,
        repository_id: i64,
        filter: &BuildFilter,
        limit: i64,
    ) -> QueryResult<Vec<Build>> {
        let mut query = builds::table
            .filter(builds::repository_id.eq(repository_id))
            .into_boxed();
        if let Some(before) = filter.before {
            query = query.filter(builds::number.lt(before));
        }
        if let Some(status) = filter.status {
            query = query.filter(builds::status.eq(status));
        }
        if let Some(branch) = &filter.branch {
            query = query.filter(builds::branch.eq(branch.clone()));
        }
        if let Some(pull_request) = filter.pull_request {
            query = query.filter(builds::pr_number.eq(pull_request));
        }
        query
            .order(builds::number.desc())
            .limit(limit)
            .select(Build::as_select())
            .load(conn)
            .await
    }

    /// The branches the repository's builds came from (pull requests aside), most recently
    /// built first.
    pub async fn branches(
        conn: &mut AsyncPgConnection,
        repository_id: i64,
        limit: i64,
    ) -> QueryResult<Vec<String>> {
        use diesel::dsl::max;
        let rows: Vec<(Option<String>, Option<i32>)> = builds::table
            .filter(builds::repository_id.eq(repository_id))
            .filter(builds::branch.is_not_null())
            .filter(builds::pr_number.is_null())
            .group_by(builds::branch)
            .select((builds::branch, max(builds::number)))
            .order(max(builds::number).desc())
            .limit(limit)
            .load(conn)
            .await?;
        Ok(rows.into_iter().filter_map(|(b, _)| b).collect())
    }

    /// The pull requests the repository's builds came from, most recently built first.
    pub async fn pull_requests(
        conn: &mut AsyncPgConnection,
        repository_id: i64,
        limit: i64,
    ) -> QueryResult<Vec<i32>> {
        use diesel::dsl::max;
        let rows: Vec<(Option<i32>, Option<i32>)> = builds::table
            .filter(builds::repository_id.eq(repository_id))
            .filter(builds::pr_number.is_not_null())
            .group_by(builds::pr_number)
            .select((builds::pr_number, max(builds::number)))
            .order(max(builds::number).desc())
            .limit(limit)
            .load(conn)
            .await?;
        Ok(rows.into_iter().filter_map(|(p, _)| p).collect())
    }
}
