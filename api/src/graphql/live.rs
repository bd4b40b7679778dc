//! Subscriptions: a build's log as it is written, and builds changing state. Both are
//! authorized once, when subscribed to, exactly as the queries are: a build's or
//! repository's owner and the course's staff; a whole course for its staff only.

use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::builds::{BuildNode, LogChunkNode};
use super::context::{app, parse_id, signed_in};
use super::grades::TestResultNode;
use crate::auth::{Need, access};
use crate::db::models::{Build, LogChunk, TestResult};
use crate::error::{AppError, GqlError};

/// How often a subscriber looks at the database while the hub does not listen for
/// notifications (while it does, a subscriber waits for them and queries nothing).
const POLL: Duration = Duration::from_secs(2);
/// Chunks read from the database at a time.
const PAGE: i64 = 200;

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// The build's tests as its output reports them: the list so far, sent again whenever
    /// new output changes it (at most every half second), then the stored results (with
    /// points) once it has ended, and the end. The hidden tests' only for who may see them.
    async fn build_test_results(
        &self,
        ctx: &Context<'_>,
        build_id: ID,
    ) -> Result<impl Stream<Item = Vec<TestResultNode>> + use<>, GqlError> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?.clone();
        let id = parse_id(&build_id)?;
        let (_, _, sees_hidden) = access::build(&mut *app.db().await?, me, id).await?;
        let mut logs = app.hub.logs();
        let mut builds = app.hub.builds();
        Ok(async_stream::stream! {
            let _live = crate::metrics::Held::new(&crate::metrics::get().live_subscriptions);
            let mut last: Option<Vec<TestResult>> = None;
            loop {
                let read = async {
                    let mut conn = app.db().await?;
                    let build = Build::find(&mut conn, id).await?;
                    let results = super::builds::test_results(&mut conn, &build, sees_hidden).await?;
                    Ok::<_, AppError>((build.status.is_finished(), results))
                }
                .await;
                let Ok((ended, results)) = read else {
                    tokio::time::sleep(POLL).await;
                    continue;
                };
                if last.as_ref() != Some(&results) {
                    last = Some(results.clone());
                    yield results.into_iter().map(TestResultNode).collect();
                }
                if ended {
                    break;
                }
                // Wait for this build's output or its end; look again at least every POLL.
                let wait = async {
                    loop {
                        tokio::select! {
                            message = logs.recv() => match message {
                                Ok(m) if m.build == id => return,
                                Ok(_) => {}
                                Err(_) => return,
                            },
                            message = builds.recv() => match message {
                                Ok(m) if m.build == id => return,
                                Ok(_) => {}
                                Err(_) => return,
                            },
                        }
                    }
                };
                let _ = tokio::time::timeout(POLL, wait).await;
                // Output comes in bursts: one look per half second is plenty.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }

    /// The build's output: first what is stored after chunk `after` (from the start without
    /// it), then new chunks as they are written, without gap or duplicate, ending when the
    /// build has ended and everything is sent. Reconnect with the last `seq` seen to go on.
    async fn build_log(
        &self,
        ctx: &Context<'_>,
        build_id: ID,
        after: Option<i32>,
    ) -> Result<impl Stream<Item = LogChunkNode> + use<>, GqlError> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?.clone();
        let id = parse_id(&build_id)?;
        // Whether the hidden tests' output goes out is decided here, once, like access.
        let (_, _, sees_hidden) = access::build(&mut *app.db().await?, me, id).await?;
        let mut logs = app.hub.logs();
        let mut builds = app.hub.builds();
        let mut listening = app.hub.listening();
        let watch = app.hub.watch(id);
        Ok(async_stream::stream! {
            let _live = crate::metrics::Held::new(&crate::metrics::get().live_subscriptions);
            // Counted as a follower of this build for as long as the stream lives.
            let _watch = watch;
            let mut after = after;
            let mut ended = false;
            loop {
                let page = match app.db().await {
                    Ok(mut conn) => LogChunk::list(&mut conn, id, after, PAGE).await.ok(),
                    Err(_) => None,
                };
                let Some(page) = page else {
                    tokio::time::sleep(POLL).await;
                    continue;
                };
                let full = page.len() as i64 == PAGE;
                for chunk in page {
                    after = Some(chunk.seq);
                    if sees_hidden || !chunk.stream.is_hidden() {
                        yield LogChunkNode::from(chunk);
                    }
                }
                if full {
                    continue;
                }
                if ended {
                    // Everything stored before the build ended has been sent.
                    break;
                }
                // A finished build's log is complete: read once more, then stop.
                if let Ok(mut conn) = app.db().await
                    && let Ok(build) = Build::find(&mut conn, id).await
                    && build.status.is_finished()
                {
                    ended = true;
                    continue;
                }
                // Wait for the hub; poll only while it hears nothing.
                let heard = listening.borrow_and_update().is_some();
                let deadline = poll_unless(heard);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        message = logs.recv() => match message {
                            // The batch that follows what this subscriber has: sent as read
                            // by the hub, without a query of its own.
                            Ok(m) if m.build == id
                                && m.first == after.map_or(0, |a| a + 1)
                                && m.chunks.is_some() =>
                            {
                                for chunk in m.chunks.iter().flat_map(|c| c.iter()) {
                                    after = Some(chunk.seq);
                                    if sees_hidden || !chunk.stream.is_hidden() {
                                        yield LogChunkNode::from(chunk.clone());
                                    }
                                }
                            }
                            // Already sent (read from the database meanwhile).
                            Ok(m) if m.build == id && after.is_some_and(|a| m.last <= a) => {}
                            Ok(m) if m.build == id => break,
                            Ok(_) => {}
                            // Missed some: the database has them.
                            Err(RecvError::Lagged(_)) => break,
                            Err(RecvError::Closed) => return,
                        },
                        message = builds.recv() => match message {
                            // A change of state brings no output; only the end matters
                            // here (the row as the hub read it, or read it again).
                            Ok(m) if m.build == id => match m.row {
                                Some(row) if !row.status.is_finished() => {}
                                Some(_) => {
                                    ended = true;
                                    break;
                                }
                                None => break,
                            },
                            Ok(_) => {}
                            Err(RecvError::Lagged(_)) => break,
                            Err(RecvError::Closed) => return,
                        },
                        // The listener dropped or came back: notifications may be lost.
                        changed = listening.changed() => match changed {
                            Ok(()) => break,
                            Err(_) => return,
                        },
                        () = &mut deadline => break,
                    }
                }
            }
        })
    }

    /// Builds as they change state: one build, one repository's (its owner and staff), or
    /// a whole course's (staff). Exactly one of the three ids. One build's comes first as
    /// it is when the subscription starts, so that no change between a client's own read
    /// and its subscription goes unseen.
    async fn build_updated(
        &self,
        ctx: &Context<'_>,
        build_id: Option<ID>,
        repository_id: Option<ID>,
        course_id: Option<ID>,
    ) -> Result<impl Stream<Item = BuildNode> + use<>, GqlError> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?.clone();
        // Listening before anything is read: a change from now on is heard.
        let mut builds = app.hub.builds();
        let mut current = None;
        let filter = {
            let mut conn = app.db().await?;
            match (build_id, repository_id, course_id) {
                (Some(id), None, None) => {
                    let build = Build::find(&mut conn, parse_id(&id)?).await?;
                    access::repository(&mut conn, me, build.repository_id, Need::Member).await?;
                    let id = build.id;
                    current = Some(build);
                    Filter::Build(id)
                }
                (None, Some(id), None) => {
                    let (repository, _) =
                        access::repository(&mut conn, me, parse_id(&id)?, Need::Member).await?;
                    Filter::Repository(repository.id)
                }
                (None, None, Some(id)) => {
                    let access = access::course(&mut conn, me, parse_id(&id)?, Need::Staff).await?;
                    Filter::Course(access.course.id)
                }
                _ => {
                    return Err(AppError::BadRequest(
                        "give exactly one of buildId, repositoryId and courseId".into(),
                    )
                    .into());
                }
            }
        };
        Ok(async_stream::stream! {
            let _live = crate::metrics::Held::new(&crate::metrics::get().live_subscriptions);
            if let Some(build) = current {
                yield BuildNode(build);
            }
            loop {
                let change = match builds.recv().await {
                    Ok(change) => change,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                let wanted = match filter {
                    Filter::Build(id) => change.build == id,
                    Filter::Repository(id) => change.repository == id,
                    Filter::Course(id) => change.course == id,
                };
                if !wanted {
                    continue;
                }
                // As read once by the hub for everyone, or by this subscriber if it could not.
                if let Some(row) = change.row {
                    yield BuildNode(Build::clone(&row));
                } else if let Ok(mut conn) = app.db().await
                    && let Ok(build) = Build::find(&mut conn, change.build).await
                {
                    yield BuildNode(build);
                }
            }
        })
    }
}

/// Ends after [`POLL`] unless `heard` (notifications arrive), when it never ends.
async fn poll_unless(heard: bool) {
    if heard {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(POLL).await;
}

#[derive(Clone, Copy)]
enum Filter {
    Build(i64),
    Repository(i64),
    Course(i64),
}
