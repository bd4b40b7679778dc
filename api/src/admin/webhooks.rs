//! `lectern admin webhooks`: checks each linked repository's webhook on GitHub, re-creates
//! those GitHub no longer has, and with `--rotate-secrets` gives each a fresh secret.

use diesel_async::AsyncPgConnection;

use crate::app::App;
use crate::db::enums::WebhookStatus;
use crate::db::models::Repository;
use crate::forge::github::{self, api};

/// Re-syncs the webhooks of the course `course` (or every course).
pub async fn resync(
    app: &App,
    conn: &mut AsyncPgConnection,
    course: Option<&str>,
    rotate: bool,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let repositories = super::linked_repositories(conn, course).await?;
    let mut lines = Vec::new();
    let mut failed = 0;
    for repository in &repositories {
        match one(app, conn, repository, rotate, dry_run).await {
            Ok(done) => lines.push(format!("✓ {}: {done}", repository.full_name)),
            Err(err) => {
                failed += 1;
                lines.push(format!("✗ {}: {err}", repository.full_name));
            }
        }
    }
    lines.push(format!(
        "{} checked, {failed} could not be",
        super::repositories(repositories.len())
    ));
    if failed > 0 {
        lines.push(
            "hint: a repository whose owner never signed in with GitHub (or revoked Lectern) \
             cannot be reached: ask them to sign in again"
                .into(),
        );
    }
    Ok(lines)
}

async fn one(
    app: &App,
    conn: &mut AsyncPgConnection,
    repository: &Repository,
    rotate: bool,
    dry_run: bool,
) -> anyhow::Result<String> {
    let client = github::client_for_user(app, conn, repository.owner_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("its owner has not signed in with GitHub"))?;
    // The hook GitHub still has, if it has one.
    let live = match repository.webhook_id {
        Some(hook) if api::ping_hook(&client, &repository.full_name, hook).await? => Some(hook),
        _ => None,
    };
    let (would, done) = match live {
        Some(_) if !rotate => return Ok("the webhook is in place (pinged)".into()),
        Some(_) => (
            "give the webhook a new secret",
            "the webhook has a new secret",
        ),
        None => (
            "re-create the missing webhook (with a fresh secret)",
            "the missing webhook is re-created (with a fresh secret)",
        ),
    };
    if dry_run {
        return Ok(super::did(dry_run, would, done));
    }
    match live {
        Some(hook) => github::rotate_hook_secret(app, conn, &client, repository, hook).await?,
        None => {
            let (hook, sealed) = github::register_hook(
                app,
                &client,
                &repository.full_name,
                repository.github_repo_id,
            )
            .await?;
            Repository::set_webhook(
                conn,
                repository.id,
                Some(hook),
                &sealed,
                WebhookStatus::Pending,
            )
            .await?;
        }
    }
    Ok(super::did(dry_run, would, done))
}
