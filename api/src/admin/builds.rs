//! `lectern admin builds`: builds queued or running for long, and running builds no server
//! holds any more; `--cancel` stops them.

use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncPgConnection;

use crate::app::App;
use crate::builds::Executors;
use crate::db::enums::BuildStatus;
use crate::db::models::Build;

/// Lists the builds waiting or running longer than `older_than` and those whose lease ran
/// out; with `cancel`, cancels them (a running build is stopped by its server; one no
/// server holds is ended here).
pub async fn stuck(
    app: &App,
    conn: &mut AsyncPgConnection,
    older_than: Duration,
    cancel: bool,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let builds = Build::stuck(conn, older_than).await?;
    if builds.is_empty() {
        return Ok(vec![format!(
            "no build has waited or run longer than {}, and every running build has a live server",
            minutes(older_than)
        )]);
    }
    let mut lines = vec![format!(
        "{:>8}  {:<32} {:>5}  {:<8} {:>9}  {}",
        "BUILD", "REPOSITORY", "#", "STATUS", "FOR", "WHY"
    )];
    let now = Utc::now();
    for (build, repository) in &builds {
        let since = build.started_at.unwrap_or(build.queued_at);
        let why = match build.status {
            _ if is_abandoned(build, now) => "its server stopped renewing its lease (gone?)",
            BuildStatus::Queued => "waiting (is any server running builds?)",
            _ => "running long",
        };
        lines.push(format!(
            "{:>8}  {:<32} {:>5}  {:<8} {:>9}  {why}",
            build.id,
            repository,
            build.number,
            build.status.as_str(),
            minutes((now - since).to_std().unwrap_or_default()),
        ));
    }
    if !cancel {
        lines.push(format!(
            "{} build(s); cancel them with `lectern admin builds --cancel` (add --dry-run to see first)",
            builds.len()
        ));
        return Ok(lines);
    }
    if dry_run {
        lines.extend(
            builds
                .iter()
                .map(|(b, _)| format!("would cancel build {}", b.id)),
        );
        return Ok(lines);
    }
    // What a build no server holds left behind (its container, its Job) is removed here,
    // when this command's configuration names the executor it ran on.
    let executors = Executors::from_config(app).await.ok().flatten();
    for (build, _) in &builds {
        lines.push(format!(
            "build {}: {}",
            build.id,
            cancel_one(conn, executors.as_ref(), build).await?
        ));
    }
    lines.push(format!("{} build(s) dealt with", builds.len()));
    Ok(lines)
}

/// Cancels one build; says what became of it.
async fn cancel_one(
    conn: &mut AsyncPgConnection,
    executors: Option<&Executors>,
    build: &Build,
) -> anyhow::Result<&'static str> {
    if is_abandoned(build, Utc::now())
        && let Some(ended) =
            Build::cancel_abandoned(conn, build.id, "cancelled by an administrator").await?
    {
        return Ok(match executors {
            Some(executors) if ended.executor == Some(executors.kind()) => {
                executors.cleanup(ended.id).await;
                "cancelled; the executor was asked to remove what it left"
            }
            _ => "cancelled",
        });
    }
    let done = Build::request_cancel(conn, build.id, None, "an administrator").await?;
    Ok(match done.status {
        BuildStatus::Cancelled => "cancelled",
        BuildStatus::Running => "asked its server to stop it",
        _ => "it had ended meanwhile",
    })
}

/// A running build whose lease ran out: no server renews it.
fn is_abandoned(build: &Build, now: chrono::DateTime<Utc>) -> bool {
    build.status == BuildStatus::Running && build.lease_expires_at.is_some_and(|at| at < now)
}

fn minutes(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes >= 120 {
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}m")
    }
}
