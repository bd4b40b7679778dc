//! The registry's images built per build (Kubernetes, `imageSource: PER_BUILD`, and hidden
//! tests' runs there). Each is deleted when its build ends, unless
//! `LECTERN_REGISTRY_KEEP_HOURS` keeps it for a while; a sweep every few minutes deletes
//! those kept past that time, and those a server that stopped mid-build left behind.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::db::models::Build;
use crate::executor::kubernetes::{KubernetesExecutor, manifest};

/// How often the registry is swept.
pub const EVERY: Duration = Duration::from_secs(600);

/// The tags among `tags` whose image may go: those of this installation (`scope`) whose
/// build ended more than `keep` before `now`, or no longer exists. `ended` has, for each
/// build that exists, when it ended (`None`: not yet).
pub fn expired(
    tags: &[String],
    scope: &str,
    ended: &HashMap<i64, Option<DateTime<Utc>>>,
    keep: Duration,
    now: DateTime<Utc>,
) -> Vec<String> {
    let keep = chrono::TimeDelta::from_std(keep).unwrap_or(chrono::TimeDelta::MAX);
    tags.iter()
        .filter(|tag| {
            manifest::build_named(scope, tag).is_some_and(|id| match ended.get(&id) {
                None => true,
                Some(None) => false,
                Some(Some(at)) => now.signed_duration_since(*at) > keep,
            })
        })
        .cloned()
        .collect()
}

/// Deletes the images of `executor`'s registry that [`expired`] names; how many it deleted.
pub async fn sweep(app: &App, executor: &KubernetesExecutor) -> Result<usize, String> {
    let Some(per_build) = executor.per_build() else {
        return Ok(0);
    };
    let tags = per_build.registry.tags().await?;
    let ids: Vec<i64> = tags
        .iter()
        .filter_map(|t| manifest::build_named(executor.scope(), t))
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let ended = async {
        let mut conn = app.db().await?;
        Ok::<_, crate::error::AppError>(Build::ended_at(&mut conn, &ids).await?)
    }
    .await
    .map_err(|e| e.to_string())?;
    let gone = expired(&tags, executor.scope(), &ended, per_build.keep, Utc::now());
    let mut deleted = 0;
    for tag in &gone {
        match per_build.registry.delete(tag).await {
            Ok(()) => deleted += 1,
            Err(err) => {
                tracing::warn!(image = %tag, error = %err, "could not delete a build's image from the registry");
            }
        }
    }
    Ok(deleted)
}

/// Sweeps the registry now and every [`EVERY`], for as long as the server runs.
pub async fn sweep_every(app: App, executor: KubernetesExecutor) {
    loop {
        match sweep(&app, &executor).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                images = n,
                "deleted build images past their time from the registry"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not sweep the registry of old build images");
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_go_once_their_build_is_past_keeping_or_gone() {
        let now = Utc::now();
        let hour = chrono::TimeDelta::hours(1);
        let tags: Vec<String> = [
            "lectern-s1-build-1", // ended 3 h ago
            "lectern-s1-build-2", // ended 30 min ago
            "lectern-s1-build-3", // running
            "lectern-s1-build-4", // no such build
            "lectern-s2-build-1", // another installation's
            "latest",
        ]
        .map(String::from)
        .to_vec();
        let ended = HashMap::from([
            (1, Some(now - hour * 3)),
            (2, Some(now - hour / 2)),
            (3, None),
        ]);
        let keep = Duration::from_secs(3600);
        assert_eq!(
            expired(&tags, "s1", &ended, keep, now),
            ["lectern-s1-build-1", "lectern-s1-build-4"]
        );
        // Kept for no time: every ended build's image goes.
        assert_eq!(
            expired(&tags, "s1", &ended, Duration::ZERO, now),
            [
                "lectern-s1-build-1",
                "lectern-s1-build-2",
                "lectern-s1-build-4"
            ]
        );
    }
}
