//! `lectern admin builds`: builds queued or running for long, and running builds no server
//! holds any more; `--cancel` stops them.

use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncPgConnection;

use crate::app::App;
use crate::builds::Executors;
use crate::db::enums::BuildStatus;
use crate::db::models::{Build, Repository};

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
    for build in &builds {
        let repository = Repository::find(conn, build.repository_id).await?;
        let since = build.started_at.unwrap_or(build.queued_at);
        let abandoned = is_abandoned(build, now);
        let why = match (build.status, abandoned) {
            (_, true) => "its server stopped renewing its lease (gone?)",
            (BuildStatus::Queued, _) => "waiting (is any server running builds?)",
            _ => "running long",
        };
        lines.push(format!(
            "{:>8}  {:<32} {:>5}  {:<8} {:>9}  {why}",
            build.id,
            repository.full_name,
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
    // What a build no server holds left behind (its container, its Job) is removed here,
    // when this command's configuration names the executor it ran on.
    let executors = if dry_run {
        None
    } else {
        Executors::from_config(app).await.ok().flatten()
    };
    let mut cancelled = 0;
    for build in &builds {
        if dry_run {
            lines.push(format!("would cancel build {}", build.id));
            continue;
        }
        let reason = "cancelled by an administrator";
        let ended = if is_abandoned(build, Utc::now()) {
            Build::cancel_abandoned(conn, build.id, reason).await?
        } else {
            None
        };
        let mut what = "cancelled";
        let done = match ended {
            Some(ended) => {
                if let Some(executors) = &executors
                    && ended.executor == Some(executors.kind())
                {
                    executors.cleanup(ended.id).await;
                    what = "cancelled; the executor was asked to remove what it left";
                }
                ended
            }
            None => Build::request_cancel(conn, build.id, None, "an administrator").await?,
        };
        let what = match done.status {
            BuildStatus::Cancelled => what,
            BuildStatus::Running => "asked its server to stop it",
            _ => "it had ended meanwhile",
        };
        lines.push(format!("build {}: {what}", build.id));
        cancelled += 1;
    }
    if !dry_run {
        lines.push(format!("{cancelled} build(s) dealt with"));
    }
    Ok(lines)
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
