//! GitHub: the OAuth flow, the REST API, and webhook verification and parsing.

pub mod api;
pub mod oauth;
pub mod standin;
pub mod sync;
pub mod webhook;

use diesel_async::AsyncPgConnection;
use octocrab::Octocrab;

use crate::app::App;
use crate::db::models::{Repository, User};
use crate::error::AppError;

/// A GitHub client acting as `user_id` with the token stored at their last sign-in, or
/// `None` when they never signed in with GitHub.
pub async fn client_for_user(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Option<Octocrab>, AppError> {
    match token_for_user(app, conn, user_id).await? {
        Some(token) => Ok(Some(api::client(&app.config, &token)?)),
        None => Ok(None),
    }
}

/// Registers Lectern's webhook on `full_name` with a fresh secret; returns the hook's id and
/// the secret sealed for storage.
pub async fn register_hook(
    app: &App,
    github: &Octocrab,
    full_name: &str,
    github_repo_id: i64,
) -> Result<(i64, Vec<u8>), AppError> {
    let secret = webhook::new_secret();
    let hook_id =
        api::create_hook(github, full_name, &webhook::hook_url(&app.config), &secret).await?;
    Ok((
        hook_id,
        webhook::seal_secret(&app.cipher, github_repo_id, &secret),
    ))
}

/// Gives a repository's hook a fresh secret without losing a delivery: the new secret is
/// stored first (the old one stays valid for `ROTATION_GRACE`), then GitHub is told; if
/// GitHub refuses, the old secret is restored.
pub async fn rotate_hook_secret(
    app: &App,
    conn: &mut AsyncPgConnection,
    github: &Octocrab,
    repository: &Repository,
    hook_id: i64,
) -> Result<(), AppError> {
    let secret = webhook::new_secret();
    let sealed = webhook::seal_secret(&app.cipher, repository.github_repo_id, &secret);
    Repository::begin_rotation(conn, repository.id, &sealed).await?;
    let told = api::set_hook_config(
        github,
        &repository.full_name,
        hook_id,
        &webhook::hook_url(&app.config),
        &secret,
    )
    .await;
    if let Err(err) = told {
        Repository::undo_rotation(conn, repository.id).await?;
        return Err(err.into());
    }
    Ok(())
}

/// A token to fetch the course's own repositories (starter code, hidden tests) with: that of
/// the first instructor who signed in with GitHub, or `None`.
pub async fn token_for_course(
    app: &App,
    conn: &mut AsyncPgConnection,
    course_id: i64,
) -> Result<Option<String>, AppError> {
    let instructors =
        crate::db::models::Membership::instructors_with_token(conn, course_id).await?;
    match instructors.first() {
        Some(id) => token_for_user(app, conn, *id).await,
        None => Ok(None),
    }
}

/// The GitHub token `user_id` signed in with last, unsealed, or `None` when they never did.
/// Hand it only to GitHub (the API client, or git as a header); never log or show it.
pub async fn token_for_user(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Option<String>, AppError> {
    let Some((github_id, sealed)) = User::github_token(conn, user_id).await? else {
        return Ok(None);
    };
    let token = app
        .cipher
        .open(&User::token_context(github_id), &sealed)
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(Some(
        String::from_utf8(token).map_err(|e| AppError::Internal(e.into()))?,
    ))
}
