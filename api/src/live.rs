//! Live updates: one hub per server process. PostgreSQL `NOTIFY` carries only ids and
//! sequence numbers — a log flush (`lectern_log`: `build:first_seq:last_seq`, one per batch,
//! never per line) and a build's change of state (`lectern_build_updated`:
//! `build:repository:course`) — from whichever server wrote them to every server's hub.
//! For a flush the hub reads the new chunks once and hands them to all its subscribers;
//! a subscriber that is behind (it lagged, or the batch does not follow what it has) reads
//! what it misses from the database instead, so it never sees a gap, and never holds up a
//! build or another subscriber.
//!
//! Subscribers rely on the notifications only while the hub is listening: the hub says when
//! its connection drops and comes back (notifications may have been missed in between, so
//! subscribers re-read), and subscribers poll the database only while it is down. A
//! thousand idle subscribers thus cost no queries at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use futures::StreamExt as _;
use tokio::sync::{broadcast, watch};

use crate::app::App;

/// The channel log flushes are announced on.
pub const LOG_CHANNEL: &str = "lectern_log";
/// The channel builds' changes of state are announced on (by a trigger).
pub const BUILD_CHANNEL: &str = "lectern_build_updated";

/// A build changed state: its row as read once by the hub after the change (`None` when it
/// could not be read: subscribers read it themselves then).
#[derive(Clone, Debug)]
pub struct BuildChange {
    pub build: i64,
    pub repository: i64,
    pub course: i64,
    pub row: Option<Arc<crate::db::models::Build>>,
}

/// New output of a build was stored: chunks `first..=last`, read once by the hub (`None`
/// when it could not, or nobody here listens: subscribers read the database then).
#[derive(Clone, Debug)]
pub struct LogAppended {
    pub build: i64,
    pub first: i32,
    pub last: i32,
    pub chunks: Option<Arc<Vec<crate::db::models::LogChunk>>>,
}

/// The process's hub: broadcast channels fed by the database's notifications.
#[derive(Clone)]
pub struct Hub {
    logs: broadcast::Sender<LogAppended>,
    builds: broadcast::Sender<BuildChange>,
    /// `Some(n)` while the `n`th connection listens for notifications, `None` while there is
    /// none: every change of it may have lost notifications.
    listening: watch::Sender<Option<u64>>,
    /// Builds whose log someone here follows, with how many follow it: only their batches
    /// are read from the database.
    watched: Arc<Mutex<HashMap<i64, usize>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            logs: broadcast::channel(4096).0,
            builds: broadcast::channel(4096).0,
            listening: watch::channel(None).0,
            watched: Arc::default(),
        }
    }
}

/// A subscriber following one build's log; stops counting when dropped.
pub struct Watch {
    watched: Arc<Mutex<HashMap<i64, usize>>>,
    build: i64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = watched.get_mut(&self.build) {
            *count -= 1;
            if *count == 0 {
                watched.remove(&self.build);
            }
        }
    }
}

impl Hub {
    /// Counts a subscriber of `build`'s log for as long as the returned guard lives.
    pub fn watch(&self, build: i64) -> Watch {
        *self
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(build)
            .or_default() += 1;
        Watch {
            watched: self.watched.clone(),
            build,
        }
    }

    fn is_watched(&self, build: i64) -> bool {
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&build)
    }

    pub fn logs(&self) -> broadcast::Receiver<LogAppended> {
        self.logs.subscribe()
    }

    pub fn builds(&self) -> broadcast::Receiver<BuildChange> {
        self.builds.subscribe()
    }

    /// Whether notifications arrive (`Some`), changing whenever the listening connection
    /// drops or is replaced: a subscriber that sees a change re-reads the database, and
    /// polls it while nothing listens.
    pub fn listening(&self) -> watch::Receiver<Option<u64>> {
        self.listening.subscribe()
    }

    fn set_listening(&self, connection: Option<u64>) {
        self.listening.send_replace(connection);
    }

    /// Passes one notification on; for a log flush, with its chunks read from `app`'s
    /// database when anyone here listens.
    async fn dispatch(&self, app: Option<&App>, channel: &str, payload: &str) {
        let mut parts = payload.split(':').map(str::parse::<i64>);
        let mut next = || parts.next().and_then(Result::ok);
        match channel {
            LOG_CHANNEL => {
                let (Some(build), Some(first), Some(last)) = (next(), next(), next()) else {
                    return;
                };
                let first = i32::try_from(first).unwrap_or(i32::MAX);
                let last = i32::try_from(last).unwrap_or(i32::MAX);
                let mut chunks = None;
                if let Some(app) = app
                    && self.is_watched(build)
                    && last >= first
                    && let Ok(mut conn) = app.db().await
                    && let Ok(read) = crate::db::models::LogChunk::list(
                        &mut conn,
                        build,
                        Some(first - 1),
                        i64::from(last - first + 1),
                    )
                    .await
                    && read.first().map(|c| c.seq) == Some(first)
                {
                    chunks = Some(Arc::new(read));
                }
                let _ = self.logs.send(LogAppended {
                    build,
                    first,
                    last,
                    chunks,
                });
            }
            BUILD_CHANNEL => {
                let (Some(build), Some(repository), Some(course)) = (next(), next(), next()) else {
                    return;
                };
                let mut row = None;
                if let Some(app) = app
                    && self.builds.receiver_count() > 0
                    && let Ok(mut conn) = app.db().await
                    && let Ok(read) = crate::db::models::Build::find(&mut conn, build).await
                {
                    row = Some(Arc::new(read));
                }
                let _ = self.builds.send(BuildChange {
                    build,
                    repository,
                    course,
                    row,
                });
            }
            _ => {}
        }
    }
}

/// Announces that build `build`'s chunks `first..=last` are stored (after their commit).
pub async fn announce_log(
    conn: &mut AsyncPgConnection,
    build: i64,
    first: i32,
    last: i32,
) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(LOG_CHANNEL)
        .bind::<diesel::sql_types::Text, _>(format!("{build}:{first}:{last}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Feeds the hub from the database's notifications, reconnecting after a pause when the
/// connection drops (subscribers poll meanwhile, so nothing is lost, only later).
pub fn spawn(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for connection in 1.. {
            let url = app.config.database_url.expose();
            match crate::db::listen(url, &[LOG_CHANNEL, BUILD_CHANNEL]).await {
                Ok(notifications) => {
                    app.hub.set_listening(Some(connection));
                    let mut notifications = std::pin::pin!(notifications);
                    while let Some(n) = notifications.next().await {
                        app.hub.dispatch(Some(&app), &n.channel, &n.payload).await;
                    }
                    app.hub.set_listening(None);
                    tracing::warn!(
                        "live updates lost their connection; subscribers poll until it is back"
                    );
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "live updates cannot listen; subscribers poll");
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notifications_become_hub_messages_and_junk_is_dropped() {
        let hub = Hub::default();
        let (mut logs, mut builds) = (hub.logs(), hub.builds());
        hub.dispatch(None, LOG_CHANNEL, "12:5:7").await;
        hub.dispatch(None, BUILD_CHANNEL, "12:3:1").await;
        hub.dispatch(None, LOG_CHANNEL, "12:not-a-number:1").await;
        hub.dispatch(None, "elsewhere", "1:2").await;
        let appended = logs.try_recv().expect("a log message");
        assert_eq!((appended.build, appended.first, appended.last), (12, 5, 7));
        assert!(appended.chunks.is_none(), "no database to read from here");
        assert!(logs.try_recv().is_err());
        // Followers are counted per build, and forgotten when they go.
        let (first, second) = (hub.watch(12), hub.watch(12));
        assert!(hub.is_watched(12) && !hub.is_watched(13));
        drop(first);
        assert!(hub.is_watched(12));
        drop(second);
        assert!(!hub.is_watched(12));
        let change = builds.try_recv().expect("a build message");
        assert_eq!((change.build, change.repository, change.course), (12, 3, 1));
        assert!(change.row.is_none());
    }

    #[tokio::test]
    async fn subscribers_see_the_listener_come_and_go() {
        let hub = Hub::default();
        let mut listening = hub.listening();
        assert_eq!(*listening.borrow_and_update(), None);
        hub.set_listening(Some(1));
        assert!(listening.has_changed().expect("the hub is alive"));
        assert_eq!(*listening.borrow_and_update(), Some(1));
        // A new connection after a drop is a change even if nobody looked in between.
        hub.set_listening(None);
        hub.set_listening(Some(2));
        assert!(listening.has_changed().expect("the hub is alive"));
        assert_eq!(*listening.borrow_and_update(), Some(2));
    }
}
