//! Live updates: one hub per server process. PostgreSQL `NOTIFY` carries only ids and
//! sequence numbers — a log flush (`lectern_log`: `build:last_seq`, one per batch, never per
//! line) and a build's change of state (`lectern_build_updated`: `build:repository:course`)
//! — from whichever server wrote them to every server's hub, which passes them to its
//! subscribers. Subscribers then re-read what changed from the database, so a slow or
//! lagging subscriber catches up from there and never sees a gap, and never holds up a
//! build or another subscriber.

use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use futures::StreamExt as _;
use tokio::sync::broadcast;

use crate::app::App;

/// The channel log flushes are announced on.
pub const LOG_CHANNEL: &str = "lectern_log";
/// The channel builds' changes of state are announced on (by a trigger).
pub const BUILD_CHANNEL: &str = "lectern_build_updated";

/// A build changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildChange {
    pub build: i64,
    pub repository: i64,
    pub course: i64,
}

/// New output of a build was stored, up to this sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogAppended {
    pub build: i64,
    pub seq: i32,
}

/// The process's hub: broadcast channels fed by the database's notifications.
#[derive(Clone)]
pub struct Hub {
    logs: broadcast::Sender<LogAppended>,
    builds: broadcast::Sender<BuildChange>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            logs: broadcast::channel(4096).0,
            builds: broadcast::channel(4096).0,
        }
    }
}

impl Hub {
    pub fn logs(&self) -> broadcast::Receiver<LogAppended> {
        self.logs.subscribe()
    }

    pub fn builds(&self) -> broadcast::Receiver<BuildChange> {
        self.builds.subscribe()
    }

    fn dispatch(&self, channel: &str, payload: &str) {
        let mut parts = payload.split(':').map(str::parse::<i64>);
        let mut next = || parts.next().and_then(Result::ok);
        match channel {
            LOG_CHANNEL => {
                if let (Some(build), Some(seq)) = (next(), next()) {
                    let seq = i32::try_from(seq).unwrap_or(i32::MAX);
                    let _ = self.logs.send(LogAppended { build, seq });
                }
            }
            BUILD_CHANNEL => {
                if let (Some(build), Some(repository), Some(course)) = (next(), next(), next()) {
                    let _ = self.builds.send(BuildChange {
                        build,
                        repository,
                        course,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Announces that build `build`'s output is stored up to `seq` (after the batch's commit).
pub async fn announce_log(
    conn: &mut AsyncPgConnection,
    build: i64,
    seq: i32,
) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(LOG_CHANNEL)
        .bind::<diesel::sql_types::Text, _>(format!("{build}:{seq}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Feeds the hub from the database's notifications, reconnecting after a pause when the
/// connection drops (subscribers poll meanwhile, so nothing is lost, only later).
pub fn spawn(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match crate::db::connect(app.config.database_url.expose()).await {
                Ok(mut conn) => {
                    let listened = async {
                        diesel::sql_query(format!("LISTEN {LOG_CHANNEL}"))
                            .execute(&mut conn)
                            .await?;
                        diesel::sql_query(format!("LISTEN {BUILD_CHANNEL}"))
                            .execute(&mut conn)
                            .await
                    }
                    .await;
                    match listened {
                        Ok(_) => {
                            let mut stream = std::pin::pin!(conn.notifications_stream());
                            while let Some(Ok(n)) = stream.next().await {
                                app.hub.dispatch(&n.channel, &n.payload);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "live updates cannot LISTEN; subscribers poll");
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "live updates cannot connect; subscribers poll");
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_hub_messages_and_junk_is_dropped() {
        let hub = Hub::default();
        let (mut logs, mut builds) = (hub.logs(), hub.builds());
        hub.dispatch(LOG_CHANNEL, "12:7");
        hub.dispatch(BUILD_CHANNEL, "12:3:1");
        hub.dispatch(LOG_CHANNEL, "12:not-a-number");
        hub.dispatch("elsewhere", "1:2");
        assert_eq!(
            logs.try_recv().ok(),
            Some(LogAppended { build: 12, seq: 7 })
        );
        assert!(logs.try_recv().is_err());
        assert_eq!(
            builds.try_recv().ok(),
            Some(BuildChange {
                build: 12,
                repository: 3,
                course: 1
            })
        );
    }
}
