//! The background job runner: claims due jobs from PostgreSQL, runs them a few at a time,
//! retries failures with exponential backoff, and gives up on permanent ones. Woken by
//! `LISTEN lectern_jobs`; polls as a fallback so a lost notification only delays work.

pub mod commit_status;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use futures::StreamExt as _;
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument as _;

use crate::app::App;
use crate::db::models::Job;
use crate::db::models::job::CHANNEL;

/// How a job ended this time.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (GitHub unavailable, rate-limited, …).
    #[error("{0}")]
    Retry(String),
    /// Will not get better by retrying (revoked authorization, deleted repository, …).
    #[error("{0}")]
    Permanent(String),
    /// Must wait for another job first: runs again later without spending an attempt.
    #[error("{0}")]
    Wait(String),
    /// Worth trying again, not before the given time (a service's `Retry-After`).
    #[error("{0}")]
    RetryAfter(String, Duration),
}

const POLL: Duration = Duration::from_secs(2);
const MAX_BACKOFF: TimeDelta = TimeDelta::minutes(15);

/// Starts the runner on the current runtime; it runs until the runtime stops.
pub fn spawn(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(app))
}

/// The delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, at most 15 minutes.
pub fn backoff(base: Duration, attempts: i32) -> TimeDelta {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let delay = base.saturating_mul(1u32 << exponent);
    TimeDelta::from_std(delay)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

async fn run(app: App) {
    if !app.config.run_jobs {
        tracing::info!("LECTERN_RUN_JOBS=false: this server runs no background jobs");
        return;
    }
    let wake = Arc::new(Notify::new());
    tokio::spawn(listen(app.clone(), wake.clone()));
    let slots = Arc::new(Semaphore::new(app.config.job_concurrency));
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let lease = TimeDelta::from_std(app.config.job_lease).unwrap_or(TimeDelta::minutes(5));
    loop {
        // Take jobs while there are due ones and free slots.
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let claimed = match app.db().await {
                Ok(mut conn) => Job::claim(&mut conn, &worker, lease)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match claimed {
                Ok(Some(job)) => {
                    let app = app.clone();
                    tokio::spawn(async move {
                        execute(&app, job).await;
                        drop(permit);
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim a job; retrying shortly");
                    break;
                }
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn execute(app: &App, job: Job) {
    let span =
        tracing::info_span!("job", job_id = job.id, kind = %job.kind, attempt = job.attempts);
    run_one(app, job).instrument(span).await;
}

async fn run_one(app: &App, job: Job) {
    let result = match job.kind.as_str() {
        commit_status::KIND => commit_status::handle(app, &job).await,
        crate::notify::outbox::KIND => crate::notify::deliver::handle(app, &job).await,
        other => Err(JobError::Permanent(format!("unknown job kind {other}"))),
    };
    let stored = async {
        let mut conn = app.db().await?;
        match &result {
            Ok(()) => Job::complete(&mut conn, job.id).await?,
            Err(JobError::Retry(why)) => {
                let delay = backoff(app.config.job_retry_base, job.attempts);
                tracing::info!(error = %why, retry_in_ms = delay.num_milliseconds(), "job failed; will retry");
                Job::retry_or_fail(&mut conn, &job, why, delay, false).await?
            }
            Err(JobError::RetryAfter(why, after)) => {
                let delay = TimeDelta::from_std(*after).unwrap_or(MAX_BACKOFF);
                tracing::info!(error = %why, retry_in_ms = delay.num_milliseconds(), "job asked to wait; will retry");
                Job::retry_or_fail(&mut conn, &job, why, delay, false).await?
            }
            Err(JobError::Permanent(why)) => {
                tracing::warn!(error = %why, "job failed for good");
                Job::retry_or_fail(&mut conn, &job, why, TimeDelta::zero(), true).await?
            }
            Err(JobError::Wait(why)) => {
                let delay = backoff(app.config.job_retry_base, 1);
                tracing::debug!(reason = %why, "job waits for another");
                Job::defer(&mut conn, &job, delay).await?
            }
        };
        Ok::<_, crate::error::AppError>(())
    }
    .await;
    if let Err(err) = stored {
        // The lease runs out and another worker takes the job again.
        tracing::error!(error = %err, "could not record a job's outcome");
    }
}

/// Keeps a connection LISTENing and wakes the runner on each notification, reconnecting
/// with a pause when the connection drops.
async fn listen(app: App, wake: Arc<Notify>) {
    loop {
        match crate::db::listen(app.config.database_url.expose(), &[CHANNEL]).await {
            Ok(notifications) => {
                let mut notifications = std::pin::pin!(notifications);
                while notifications.next().await.is_some() {
                    wake.notify_one();
                }
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "job listener cannot listen; polling only");
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), TimeDelta::seconds(5));
        assert_eq!(backoff(base, 2), TimeDelta::seconds(10));
        assert_eq!(backoff(base, 4), TimeDelta::seconds(40));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
        assert_eq!(backoff(base, 0), TimeDelta::seconds(5));
    }
}
