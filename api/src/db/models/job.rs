//! The background job queue (posting commit statuses, and later notifications): claimed with
//! `FOR UPDATE SKIP LOCKED`, woken by `NOTIFY lectern_jobs`, retried with backoff.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::jobs;

/// The channel workers `LISTEN` on; enqueueing notifies it (delivered at commit).
pub const CHANNEL: &str = "lectern_jobs";
/// Attempts at a job before it is given up on, unless it says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

/// A queued job.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub failed_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Queues a job unless one with the same `dedupe_key` exists; returns it if queued.
    pub async fn enqueue(
        conn: &mut AsyncPgConnection,
        kind: &str,
        payload: serde_json::Value,
        dedupe_key: Option<String>,
    ) -> QueryResult<Option<Job>> {
        Self::enqueue_limited(conn, kind, payload, dedupe_key, DEFAULT_MAX_ATTEMPTS).await
    }

    /// Like [`Job::enqueue`], giving up after `max_attempts`.
    pub async fn enqueue_limited(
        conn: &mut AsyncPgConnection,
        kind: &str,
        payload: serde_json::Value,
        dedupe_key: Option<String>,
        max_attempts: i32,
    ) -> QueryResult<Option<Job>> {
        let job = diesel::insert_into(jobs::table)
            .values((
                jobs::kind.eq(kind),
                jobs::payload.eq(payload),
                jobs::dedupe_key.eq(dedupe_key),
                jobs::max_attempts.eq(max_attempts),
            ))
            .on_conflict_do_nothing()
            .returning(Job::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        diesel::sql_query(format!("NOTIFY {CHANNEL}"))
            .execute(conn)
            .await?;
        Ok(job)
    }

    /// Claims the next due job for `worker` for `lease`, counting the attempt.
    pub async fn claim(
        conn: &mut AsyncPgConnection,
        worker: &str,
        lease: TimeDelta,
    ) -> QueryResult<Option<Job>> {
        use diesel::sql_types::{Interval, Text};
        let lease = diesel::pg::data_types::PgInterval::from_microseconds(
            lease.num_microseconds().unwrap_or(i64::MAX),
        );
        diesel::sql_query(
            "UPDATE jobs SET locked_by = $1, locked_until = now() + $2, attempts = attempts + 1
             WHERE id = (SELECT id FROM jobs
                         WHERE failed_at IS NULL AND run_at <= now()
                           AND (locked_until IS NULL OR locked_until < now())
                         ORDER BY priority DESC, run_at, id
                         LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, dedupe_key, attempts, max_attempts, run_at, last_error, failed_at",
        )
        .bind::<Text, _>(worker)
        .bind::<Interval, _>(lease)
        .get_result(conn)
        .await
        .optional()
    }

    /// Done: the job leaves the queue.
    pub async fn complete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
        diesel::delete(jobs::table.find(id)).execute(conn).await
    }

    /// Not run this time (it waits for another job): runs again after `delay`, the attempt
    /// not counted.
    pub async fn defer(
        conn: &mut AsyncPgConnection,
        job: &Job,
        delay: TimeDelta,
    ) -> QueryResult<usize> {
        diesel::update(jobs::table.find(job.id))
            .set((
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::run_at.eq(Utc::now() + delay),
            ))
            .execute(conn)
            .await
    }

    /// Whether the job with `dedupe_key` is still to run (queued, running or retrying; not
    /// done and not given up).
    pub async fn outstanding(conn: &mut AsyncPgConnection, dedupe_key: &str) -> QueryResult<bool> {
        use diesel::dsl::exists;
        diesel::select(exists(
            jobs::table
                .filter(jobs::dedupe_key.eq(dedupe_key))
                .filter(jobs::failed_at.is_null()),
        ))
        .get_result(conn)
        .await
    }

    /// Failed this time: runs again after `delay`, or gives up for good once out of attempts
    /// or when `permanent`.
    pub async fn retry_or_fail(
        conn: &mut AsyncPgConnection,
        job: &Job,
        error: &str,
        delay: TimeDelta,
        permanent: bool,
    ) -> QueryResult<usize> {
        let give_up = permanent || job.attempts >= job.max_attempts;
        let error: String = error.chars().take(2000).collect();
        diesel::update(jobs::table.find(job.id))
            .set((
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
                jobs::last_error.eq(error),
                jobs::run_at.eq(Utc::now() + delay),
                jobs::failed_at.eq(give_up.then(Utc::now)),
            ))
            .execute(conn)
            .await
    }
}
