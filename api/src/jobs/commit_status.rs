//! Commit statuses on GitHub: `pending` when a build starts, `success` / `failure` /
//! `error` when it ends, posted by a background job so a slow or failing GitHub never
//! holds up a build.

use serde::{Deserialize, Serialize};

use super::JobError;
use crate::app::App;
use crate::db::models::{Assignment, Build, Job, Repository};
use crate::forge::github::api::{self, ForgeError};

/// The job kind.
pub const KIND: &str = "post_commit_status";

/// GitHub's commit status states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Success,
    Failure,
    Error,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    build_id: i64,
    state: State,
    description: String,
}

/// Queues posting `state` for `build` (once per build and state).
pub async fn enqueue(
    conn: &mut diesel_async::AsyncPgConnection,
    build_id: i64,
    state: State,
    description: &str,
) -> diesel::QueryResult<()> {
    let description: String = description.chars().take(140).collect();
    let dedupe_key = key(build_id, state);
    let payload = serde_json::to_value(Payload {
        build_id,
        state,
        description,
    })
    .unwrap_or_default();
    Job::enqueue(conn, KIND, payload, Some(dedupe_key)).await?;
    Ok(())
}

/// The job that posts `state` for build `build_id` (one per build and state).
fn key(build_id: i64, state: State) -> String {
    format!("status:{build_id}:{}", state.as_str())
}

/// Posts the status with the repository owner's authorization. A final status waits until
/// the build's `pending` one is posted (or given up): posted in the other order, GitHub
/// would show the build as running for ever.
pub async fn handle(app: &App, job: &Job) -> Result<(), JobError> {
    let payload: Payload = serde_json::from_value(job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
    let retry = |e: crate::error::AppError| JobError::Retry(e.to_string());
    let mut conn = app.db().await.map_err(retry)?;
    if payload.state != State::Pending
        && Job::outstanding(&mut conn, &key(payload.build_id, State::Pending))
            .await
            .map_err(|e| retry(e.into()))?
    {
        return Err(JobError::Wait(
            "the build's pending status is not posted yet".into(),
        ));
    }
    let build = Build::find(&mut conn, payload.build_id)
        .await
        .map_err(|e| JobError::Permanent(e.to_string()))?;
    let repository = Repository::find(&mut conn, build.repository_id)
        .await
        .map_err(|e| JobError::Permanent(e.to_string()))?;
    let assignment = Assignment::find(&mut conn, build.assignment_id)
        .await
        .map_err(|e| JobError::Permanent(e.to_string()))?;
    let github = crate::forge::github::client_for_user(app, &mut conn, repository.owner_id)
        .await
        .map_err(retry)?
        .ok_or_else(|| {
            JobError::Permanent("the repository's owner has no GitHub authorization".into())
        })?;
    drop(conn);
    let target_url = format!(
        "{}/builds/{}",
        app.config.public_url.as_str().trim_end_matches('/'),
        build.id
    );
    let status = api::Status {
        state: payload.state.as_str(),
        target_url: &target_url,
        description: &payload.description,
        context: &format!("lectern/{}", assignment.slug),
    };
    api::post_status(&github, &repository.full_name, &build.commit_sha, &status)
        .await
        .map_err(|e| match e {
            ForgeError::Unavailable(_) | ForgeError::RateLimited => JobError::Retry(e.to_string()),
            other => JobError::Permanent(other.to_string()),
        })
}
