//! The build queue: claiming builds with `FOR UPDATE SKIP LOCKED` under per-student limits,
//! leases renewed while a build runs, finishing, cancelling, retrying, superseding, and
//! recovering builds whose server died. The state machine itself is enforced by the
//! `builds_transition` trigger; these functions only ever ask for legal transitions, and
//! every write to a running build names the worker holding it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Interval, Nullable, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::{Build, NewTestResult, TestResult, truncate};
use crate::db::enums::{BuildStatus, BuildTrigger, ExecutorKind};
use crate::db::schema::builds;
use crate::grading::Graded;

/// The channel a queued build is announced on (by a trigger, at commit).
pub const QUEUED_CHANNEL: &str = "lectern_builds";
/// The channel a cancel request is announced on, with the build id as payload.
pub const CANCEL_CHANNEL: &str = "lectern_build_cancel";

fn interval(d: std::time::Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(
        i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    )
}

/// How a build ended: its status, the reason shown with it, and the tests' exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: BuildStatus,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
}

impl Verdict {
    pub fn new(status: BuildStatus, exit_code: Option<i32>) -> Self {
        Self {
            status,
            reason: None,
            exit_code,
        }
    }
}

/// What a run found out besides its verdict: the receipt's parts and the checks on the commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunRecord {
    /// The image the tests ran in (`sha256:…`), when the executor built one.
    pub image_digest: Option<String>,
    /// The digest of the hidden tests put into the sandbox.
    pub hidden_tests_sha256: Option<String>,
    /// Protected paths the commit changed against the starter.
    pub protected_edits: Vec<String>,
}

/// How a recovered build was dealt with.
#[derive(Debug)]
pub enum Recovered {
    /// Put back in the queue to run again.
    Requeued(Build),
    /// Ended for good (it had been recovered before, or its cancel was asked for).
    Ended(Build),
}

impl Build {
    /// Claims the oldest queued build whose student has fewer than `per_student` builds
    /// running, marking it running on `worker` with `executor` until the lease expires.
    /// Claims are serialised by a transaction-scoped advisory lock so that two servers
    /// cannot both take a student past the limit; the lock is held for one statement.
    pub async fn claim(
        conn: &mut AsyncPgConnection,
        worker: &str,
        executor: ExecutorKind,
        lease: std::time::Duration,
        per_student: i64,
    ) -> QueryResult<Option<Build>> {
        conn.transaction(async |conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('lectern_build_claim'))")
                .execute(conn)
                .await?;
            diesel::sql_query(
                "UPDATE builds SET status = 'running', started_at = now(), worker_id = $1, \
                   executor = $2, lease_expires_at = now() + $3, status_reason = NULL \
                 WHERE id = ( \
                   SELECT b.id FROM builds b JOIN repositories r ON r.id = b.repository_id \
                   WHERE b.status = 'queued' AND b.cancel_requested_at IS NULL \
                     AND (SELECT count(*) FROM builds rb JOIN repositories rr ON rr.id = rb.repository_id \
                          WHERE rb.status = 'running' AND rr.owner_id = r.owner_id) < $4 \
                   ORDER BY b.queued_at, b.id \
                   FOR UPDATE OF b SKIP LOCKED LIMIT 1) \
                 RETURNING *",
            )
            .bind::<Text, _>(worker)
            .bind::<Text, _>(executor)
            .bind::<Interval, _>(interval(lease))
            .bind::<BigInt, _>(per_student)
            .get_result(conn)
            .await
            .optional()
        })
        .await
    }

    /// Extends the lease of a build `worker` runs. `Ok(None)`: the worker no longer holds
    /// it (it was recovered elsewhere); `Ok(Some(true))`: someone asked to cancel it.
    pub async fn renew_lease(
        conn: &mut AsyncPgConnection,
        id: i64,
        worker: &str,
        lease: std::time::Duration,
    ) -> QueryResult<Option<bool>> {
        #[derive(QueryableByName)]
        struct Renewed {
            #[diesel(sql_type = Bool)]
            cancel: bool,
        }
        let renewed: Option<Renewed> = diesel::sql_query(
            "UPDATE builds SET lease_expires_at = now() + $3 \
             WHERE id = $1 AND worker_id = $2 AND status = 'running' \
             RETURNING cancel_requested_at IS NOT NULL AS cancel",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(worker)
        .bind::<Interval, _>(interval(lease))
        .get_result(conn)
        .await
        .optional()?;
        Ok(renewed.map(|r| r.cancel))
    }

    /// Ends a build `worker` runs. `Ok(None)` when the worker no longer holds it.
    pub async fn finish(
        conn: &mut AsyncPgConnection,
        id: i64,
        worker: &str,
        verdict: &Verdict,
        graded: Option<&Graded>,
        record: &RunRecord,
        outbox: &crate::notify::outbox::Outbox,
    ) -> QueryResult<Option<Build>> {
        let Verdict {
            status,
            reason,
            exit_code,
        } = verdict;
        let (status, exit_code) = (*status, *exit_code);
        debug_assert!(status.is_finished());
        // The verdict, counts, score and per-test results land together or not at all.
        conn.transaction(async |conn| {
            let counts = graded.and_then(Graded::counts);
            let hidden = graded.map(Graded::hidden_counts).unwrap_or_default();
            let finished = diesel::update(builds::table)
                .filter(builds::id.eq(id))
                .filter(builds::worker_id.eq(worker))
                .filter(builds::status.eq(BuildStatus::Running))
                .set((
                    builds::status.eq(status),
                    builds::status_reason.eq(reason.as_deref().map(|r| truncate(r, 2000))),
                    builds::exit_code.eq(exit_code),
                    builds::finished_at.eq(diesel::dsl::now),
                    builds::lease_expires_at.eq(None::<DateTime<Utc>>),
                    builds::tests_passed.eq(counts.map(|c| c.passed)),
                    builds::tests_failed.eq(counts.map(|c| c.failed)),
                    builds::tests_skipped.eq(counts.map(|c| c.skipped)),
                    builds::score.eq(graded.map(|g| g.scored.score.clone())),
                    builds::max_score.eq(graded.map(|g| g.scored.max.clone())),
                    builds::report_format.eq(graded.and_then(|g| g.format).map(|f| f.name())),
                    builds::report_problem.eq(graded
                        .and_then(|g| g.problem.as_deref())
                        .map(|p| truncate(p, 2000))),
                    builds::late.eq(graded.is_some_and(|g| g.days_late.is_some())),
                    builds::late_days.eq(graded.and_then(|g| g.days_late)),
                    builds::score_before_penalty.eq(graded.and_then(|g| g.before_penalty.clone())),
                    builds::visible_score.eq(graded.and_then(|g| g.visible_score.clone())),
                    builds::hidden_passed.eq(hidden.passed),
                    builds::hidden_failed.eq(hidden.failed),
                    builds::hidden_skipped.eq(hidden.skipped),
                    builds::image_digest.eq(record.image_digest.as_deref()),
                    builds::hidden_tests_sha256.eq(record.hidden_tests_sha256.as_deref()),
                    builds::protected_edits.eq(&record.protected_edits),
                ))
                .returning(Build::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let (Some(_), Some(graded)) = (&finished, graded) {
                let rows: Vec<NewTestResult> = graded
                    .cases
                    .iter()
                    .zip(&graded.scored.tests)
                    .zip(0..)
                    .map(|((case, (earned, worth)), position)| NewTestResult {
                        build_id: id,
                        position,
                        suite: case.suite.clone(),
                        name: case.name.clone(),
                        outcome: case.outcome,
                        duration_ms: case.duration_ms,
                        message: case.message.clone(),
                        points: Some(earned.clone()),
                        max_points: Some(worth.clone()),
                        hidden: case.hidden,
                    })
                    .collect();
                TestResult::insert_all(conn, &rows).await?;
            }
            // Whoever should hear of it will: the notifications land with the verdict.
            if let Some(build) = &finished {
                crate::notify::outbox::write(conn, build, outbox).await?;
            }
            Ok(finished)
        })
        .await
    }

    /// Asks for a build to stop: a queued build is cancelled at once; a running one is
    /// flagged, and the server running it (told through `NOTIFY`) stops it. Finished
    /// builds are returned unchanged.
    pub async fn request_cancel(
        conn: &mut AsyncPgConnection,
        id: i64,
        by: Option<i64>,
        by_login: &str,
    ) -> QueryResult<Build> {
        let reason = format!("cancelled by {by_login}");
        let queued = diesel::update(builds::table)
            .filter(builds::id.eq(id))
            .filter(builds::status.eq(BuildStatus::Queued))
            .set((
                builds::status.eq(BuildStatus::Cancelled),
                builds::status_reason.eq(&reason),
                builds::finished_at.eq(diesel::dsl::now),
                builds::cancel_requested_at.eq(diesel::dsl::now),
                builds::cancel_requested_by.eq(by),
            ))
            .returning(Build::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(build) = queued {
            return Ok(build);
        }
        let running = diesel::update(builds::table)
            .filter(builds::id.eq(id))
            .filter(builds::status.eq(BuildStatus::Running))
            .filter(builds::cancel_requested_at.is_null())
            .set((
                builds::cancel_requested_at.eq(diesel::dsl::now),
                builds::cancel_requested_by.eq(by),
                builds::status_reason.eq(&reason),
            ))
            .returning(Build::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match running {
            Some(build) => Ok(build),
            None => Build::find(conn, id).await,
        }
    }

    /// Queues a new build of the same commit: attempt + 1, linked to `self`.
    pub async fn retry(&self, conn: &mut AsyncPgConnection, by: i64) -> QueryResult<Build> {
        let original = self.clone();
        conn.transaction(async |conn| {
            let number = super::Repository::take_build_number(conn, original.repository_id).await?;
            diesel::insert_into(builds::table)
                .values((
                    builds::repository_id.eq(original.repository_id),
                    builds::course_id.eq(original.course_id),
                    builds::assignment_id.eq(original.assignment_id),
                    builds::number.eq(number),
                    builds::trigger.eq(BuildTrigger::Retry),
                    builds::branch.eq(&original.branch),
                    builds::pr_number.eq(original.pr_number),
                    builds::commit_sha.eq(&original.commit_sha),
                    builds::commit_message.eq(&original.commit_message),
                    builds::commit_author.eq(&original.commit_author),
                    builds::triggered_by.eq(by),
                    builds::attempt.eq(original.attempt + 1),
                    builds::retry_of.eq(original.id),
                    // A retry keeps the original's arrival: deadlines judge the push.
                    builds::received_at.eq(original.received_at),
                ))
                .returning(Build::as_returning())
                .get_result(conn)
                .await
        })
        .await
    }

    /// Cancels the older queued builds of this build's branch, as superseded by it.
    pub(super) async fn supersede_older(&self, conn: &mut AsyncPgConnection) -> QueryResult<usize> {
        let Some(branch) = &self.branch else {
            return Ok(0);
        };
        diesel::update(builds::table)
            .filter(builds::repository_id.eq(self.repository_id))
            .filter(builds::branch.eq(branch))
            .filter(builds::status.eq(BuildStatus::Queued))
            .filter(builds::id.ne(self.id))
            .filter(builds::pr_number.is_null())
            .set((
                builds::status.eq(BuildStatus::Cancelled),
                builds::status_reason.eq(format!("superseded by build #{}", self.number)),
                builds::superseded_by.eq(self.id),
                // Not now(): that is when this transaction began, which may be before the
                // superseded build (queued by a transaction this one waited for) was.
                builds::finished_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("GREATEST(clock_timestamp(), queued_at)")),
            ))
            .execute(conn)
            .await
    }

    /// The build's place in the queue (1 = next), while it is queued.
    pub async fn queue_position(&self, conn: &mut AsyncPgConnection) -> QueryResult<Option<i64>> {
        if self.status != BuildStatus::Queued {
            return Ok(None);
        }
        let ahead: i64 = builds::table
            .filter(builds::status.eq(BuildStatus::Queued))
            .filter(
                builds::queued_at.lt(self.queued_at).or(builds::queued_at
                    .eq(self.queued_at)
                    .and(builds::id.lt(self.id))),
            )
            .count()
            .get_result(conn)
            .await?;
        Ok(Some(ahead + 1))
    }

    /// Deals with running builds whose server is gone: those whose lease expired, and those
    /// of `dead_workers` (workers known to have died, such as earlier processes of this
    /// host). A build is re-queued once; the second time, or when its cancel was asked
    /// for, it ends (`errored` or `cancelled`) with the reason.
    pub async fn recover(
        conn: &mut AsyncPgConnection,
        dead_workers: &[String],
    ) -> QueryResult<Vec<Recovered>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(embed)]
            build: Build,
            #[diesel(sql_type = Nullable<Text>)]
            previous_worker: Option<String>,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "WITH lost AS ( \
               SELECT id, worker_id FROM builds \
               WHERE status = 'running' AND (lease_expires_at < now() OR worker_id = ANY($1)) \
               FOR UPDATE SKIP LOCKED) \
             UPDATE builds b SET \
               status = CASE WHEN b.cancel_requested_at IS NOT NULL THEN 'cancelled' \
                             WHEN b.recoveries < $2 THEN 'queued' ELSE 'errored' END, \
               status_reason = CASE WHEN b.cancel_requested_at IS NOT NULL THEN b.status_reason \
                             WHEN b.recoveries < $2 THEN 'the server running it stopped; queued again' \
                             ELSE 'the server running it stopped again; not retried (retry it to run it again)' END, \
               finished_at = CASE WHEN b.cancel_requested_at IS NULL AND b.recoveries < $2 THEN NULL ELSE now() END, \
               recoveries = b.recoveries + 1, worker_id = NULL, lease_expires_at = NULL \
             FROM lost WHERE b.id = lost.id \
             RETURNING b.*, lost.worker_id AS previous_worker",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(dead_workers)
        .bind::<Integer, _>(MAX_RECOVERIES)
        .load(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                tracing::warn!(build = row.build.id, worker = row.previous_worker.as_deref().unwrap_or("?"), status = %row.build.status, "recovered a build whose server stopped");
                if row.build.status == BuildStatus::Queued {
                    Recovered::Requeued(row.build)
                } else {
                    Recovered::Ended(row.build)
                }
            })
            .collect())
    }

    /// Running builds whose server is gone (see [`Build::recover`]) and whose cancel no one
    /// asked for: those an executor whose runs outlive the server (Kubernetes) may follow on.
    pub async fn lost(
        conn: &mut AsyncPgConnection,
        dead_workers: &[String],
    ) -> QueryResult<Vec<Build>> {
        diesel::sql_query(
            "SELECT * FROM builds WHERE status = 'running' AND cancel_requested_at IS NULL \
               AND (lease_expires_at < now() OR worker_id = ANY($1)) ORDER BY id",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(dead_workers)
        .load(conn)
        .await
    }

    /// Takes lost build `id` over for `worker`, which follows its run on where it goes on
    /// (a Job in the cluster), with a fresh lease. `None` when it is no longer lost: another
    /// server took it, it ended, or someone asked to cancel it.
    pub async fn adopt(
        conn: &mut AsyncPgConnection,
        id: i64,
        worker: &str,
        lease: std::time::Duration,
        dead_workers: &[String],
    ) -> QueryResult<Option<Build>> {
        diesel::sql_query(
            "UPDATE builds SET worker_id = $2, lease_expires_at = now() + $3 \
             WHERE id = $1 AND status = 'running' AND cancel_requested_at IS NULL \
               AND (lease_expires_at < now() OR worker_id = ANY($4)) \
             RETURNING *",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(worker)
        .bind::<Interval, _>(interval(lease))
        .bind::<diesel::sql_types::Array<Text>, _>(dead_workers)
        .get_result(conn)
        .await
        .optional()
    }

    /// When each of `ids` ended (`None`: not yet), for those that exist.
    pub async fn ended_at(
        conn: &mut AsyncPgConnection,
        ids: &[i64],
    ) -> QueryResult<std::collections::HashMap<i64, Option<DateTime<Utc>>>> {
        let rows: Vec<(i64, Option<DateTime<Utc>>)> = builds::table
            .filter(builds::id.eq_any(ids))
            .select((builds::id, builds::finished_at))
            .load(conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Workers that hold running builds, for telling which of them are dead.
    pub async fn running_workers(conn: &mut AsyncPgConnection) -> QueryResult<Vec<String>> {
        builds::table
            .filter(builds::status.eq(BuildStatus::Running))
            .filter(builds::worker_id.is_not_null())
            .select(builds::worker_id.assume_not_null())
            .distinct()
            .load(conn)
            .await
    }

    /// The queue's depth and its oldest build's wait, and the running builds per executor
    /// (installation-wide), for the metrics.
    pub async fn queue_gauges(conn: &mut AsyncPgConnection) -> QueryResult<QueueGauges> {
        let (depth, oldest): (i64, Option<DateTime<Utc>>) = builds::table
            .filter(builds::status.eq(BuildStatus::Queued))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(builds::queued_at),
            ))
            .first(conn)
            .await?;
        let running: Vec<(Option<ExecutorKind>, i64)> = builds::table
            .filter(builds::status.eq(BuildStatus::Running))
            .group_by(builds::executor)
            .select((builds::executor, diesel::dsl::count_star()))
            .load(conn)
            .await?;
        Ok(QueueGauges {
            depth,
            oldest_queued_at: oldest,
            running: running
                .into_iter()
                .filter_map(|(kind, n)| Some((kind?, n)))
                .collect(),
        })
    }

    /// Builds queued or running for longer than `older_than`, and running builds whose
    /// lease ran out (their server is gone and recovery has not run), oldest first, each
    /// with its repository's full name.
    pub async fn stuck(
        conn: &mut AsyncPgConnection,
        older_than: std::time::Duration,
    ) -> QueryResult<Vec<(Build, String)>> {
        use crate::db::schema::repositories;
        let since = Utc::now() - chrono::TimeDelta::from_std(older_than).unwrap_or_default();
        builds::table
            .inner_join(repositories::table)
            .filter(
                builds::status
                    .eq(BuildStatus::Queued)
                    .and(builds::queued_at.lt(since))
                    .or(builds::status.eq(BuildStatus::Running).and(
                        builds::started_at
                            .lt(since)
                            .or(builds::lease_expires_at.lt(diesel::dsl::now)),
                    )),
            )
            .order(builds::queued_at.asc())
            .select((Build::as_select(), repositories::full_name))
            .load(conn)
            .await
    }

    /// Ends a running build whose lease ran out (no server holds it) as cancelled, for an
    /// operator; `None` when it is not such a build (any more).
    pub async fn cancel_abandoned(
        conn: &mut AsyncPgConnection,
        id: i64,
        reason: &str,
    ) -> QueryResult<Option<Build>> {
        diesel::update(builds::table)
            .filter(builds::id.eq(id))
            .filter(builds::status.eq(BuildStatus::Running))
            .filter(builds::lease_expires_at.lt(diesel::dsl::now))
            .set((
                builds::status.eq(BuildStatus::Cancelled),
                builds::status_reason.eq(reason),
                builds::finished_at.eq(diesel::dsl::now),
                builds::cancel_requested_at.eq(diesel::dsl::now),
                builds::worker_id.eq(None::<String>),
                builds::lease_expires_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(Build::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Records the size of the stored log.
    pub async fn set_log_size(
        conn: &mut AsyncPgConnection,
        id: i64,
        bytes: i64,
        truncated: bool,
    ) -> QueryResult<()> {
        diesel::update(builds::table.find(id))
            .set((
                builds::log_bytes.eq(bytes),
                builds::log_truncated.eq(truncated),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The build queue as the metrics show it.
#[derive(Clone, Debug, Default)]
pub struct QueueGauges {
    pub depth: i64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    pub running: Vec<(ExecutorKind, i64)>,
}

/// How many times a build whose server died is queued again before it is ended.
const MAX_RECOVERIES: i32 = 1;
