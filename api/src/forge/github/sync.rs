//! Catching missed pushes: GitHub never redelivers a webhook it failed to deliver, so
//! Lectern compares each linked repository's branch heads with what it has built and queues
//! what is missing.

use chrono::Utc;
use diesel_async::AsyncConnection as _;

use super::api::{self, BranchHead};
use super::webhook::branch_allowed;
use crate::app::App;
use crate::db::enums::BuildTrigger;
use crate::db::models::{Assignment, Build, BuildRequest, Repository};
use crate::error::AppError;

/// Queues a build for every allowed branch whose head was never built; returns those heads.
pub async fn repository(app: &App, repository: &Repository) -> Result<Vec<BranchHead>, AppError> {
    let heads = missed(app, repository).await?;
    let mut conn = app.db().await?;
    for head in &heads {
        let request = BuildRequest {
            trigger: BuildTrigger::Manual,
            branch: Some(head.name.clone()),
            pr_number: None,
            commit_sha: head.commit.sha.clone(),
            commit_message: "Caught up: this push's webhook never arrived".to_owned(),
            commit_author: None,
        };
        conn.transaction(async |conn| {
            Build::enqueue(conn, repository, &request, None, Utc::now(), false).await
        })
        .await?;
        tracing::info!(repository = repository.id, branch = %head.name, sha = %head.commit.sha, "queued a missed push");
    }
    Ok(heads)
}

/// The allowed branches whose head GitHub has and Lectern never built: pushes whose webhook
/// never arrived.
pub async fn missed(app: &App, repository: &Repository) -> Result<Vec<BranchHead>, AppError> {
    let mut conn = app.db().await?;
    let assignment = Assignment::find(&mut conn, repository.assignment_id).await?;
    let github = super::client_for_user(app, &mut conn, repository.owner_id)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest(
                "the repository's owner has not signed in with GitHub, so it cannot be checked"
                    .into(),
            )
        })?;
    let patterns = assignment.branch_patterns();
    let heads = api::branches(&github, &repository.full_name)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let shas: Vec<String> = heads.iter().map(|h| h.commit.sha.clone()).collect();
    let built = Build::built_heads(&mut conn, repository.id, &shas).await?;
    Ok(heads
        .into_iter()
        .filter(|head| {
            !built.contains(&(Some(head.name.clone()), head.commit.sha.clone()))
                && branch_allowed(&patterns, &head.name)
        })
        .collect())
}
