//! The build queue in PostgreSQL: claims in arrival order under a per-student limit,
//! superseding of queued builds by newer pushes, queue positions, leases, and recovery of
//! builds whose server died.

mod support;

use std::time::Duration;

use lectern::db::enums::{BuildStatus, BuildTrigger, ExecutorKind};
use lectern::db::models::build_queue::{Recovered, RunRecord, Verdict};
use lectern::db::models::{Build, BuildRequest, Repository};
use serde_json::json;
use support::TestApp;

/// The outbox as a server without `SMTP_URL` has it.
const NO_MAIL: lectern::notify::outbox::Outbox = lectern::notify::outbox::Outbox {
    email: false,
    max_attempts: 8,
};

fn push(branch: &str, n: u8) -> BuildRequest {
    BuildRequest {
        trigger: BuildTrigger::Push,
        branch: Some(branch.to_owned()),
        pr_number: None,
        commit_sha: format!("{:040x}", u128::from(n) + 1),
        commit_message: format!("commit {n}"),
        commit_author: None,
    }
}

const LEASE: Duration = Duration::from_secs(30);

/// A course with `students` linked repositories (one per student).
async fn course(students: &[&str]) -> anyhow::Result<(TestApp, Vec<Repository>)> {
    let app = TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let assignment = app.assignment(&ada, &course, "hw1", json!({})).await?;
    let mut repos = Vec::new();
    let mut conn = app.db.conn().await?;
    for (i, login) in students.iter().enumerate() {
        let id = 100 + i64::try_from(i)?;
        let linked = app
            .link_repository(&assignment, login, id, &format!("{login}/hw1"))
            .await?;
        repos.push(Repository::find(&mut conn, linked.id).await?);
    }
    Ok((app, repos))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_students_burst_does_not_starve_the_class() -> anyhow::Result<()> {
    let (app, repos) = course(&["alan", "barbara"]).await?;
    let mut conn = app.db.conn().await?;
    let now = chrono::Utc::now();
    // Alan pushes three branches before Barbara pushes once.
    let mut alans = Vec::new();
    for (n, branch) in ["a", "b", "c"].iter().enumerate() {
        alans.push(
            Build::enqueue(
                &mut conn,
                &repos[0],
                &push(branch, u8::try_from(n)?),
                None,
                now,
                true,
            )
            .await?,
        );
    }
    let barbaras = Build::enqueue(&mut conn, &repos[1], &push("main", 9), None, now, true).await?;
    assert_eq!(barbaras.queue_position(&mut conn).await?, Some(4));

    let first = Build::claim(&mut conn, "w1", ExecutorKind::Docker, LEASE, 1)
        .await?
        .expect("a build");
    assert_eq!(first.id, alans[0].id);
    assert_eq!(first.status, BuildStatus::Running);
    assert_eq!(first.worker_id.as_deref(), Some("w1"));
    // Alan has one running: his next builds wait, Barbara's goes ahead of them.
    let second = Build::claim(&mut conn, "w2", ExecutorKind::Docker, LEASE, 1)
        .await?
        .expect("a build");
    assert_eq!(second.id, barbaras.id);
    assert!(
        Build::claim(&mut conn, "w3", ExecutorKind::Docker, LEASE, 1)
            .await?
            .is_none()
    );
    // Alan's first ends: his second may run.
    Build::finish(
        &mut conn,
        first.id,
        "w1",
        &Verdict::new(BuildStatus::Passed, Some(0)),
        None,
        &RunRecord::default(),
        &NO_MAIL,
    )
    .await?
    .expect("finished");
    let third = Build::claim(&mut conn, "w1", ExecutorKind::Docker, LEASE, 1)
        .await?
        .expect("a build");
    assert_eq!(third.id, alans[1].id);
    let left = Build::find(&mut conn, alans[2].id).await?;
    assert_eq!(left.queue_position(&mut conn).await?, Some(1));
    // Only the worker holding a build can finish it.
    assert!(
        Build::finish(
            &mut conn,
            third.id,
            "w2",
            &Verdict::new(BuildStatus::Failed, Some(1)),
            None,
            &RunRecord::default(),
            &NO_MAIL,
        )
        .await?
        .is_none()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_push_supersedes_the_branchs_queued_builds_only() -> anyhow::Result<()> {
    let (app, repos) = course(&["alan"]).await?;
    let mut conn = app.db.conn().await?;
    let now = chrono::Utc::now();
    let old = Build::enqueue(&mut conn, &repos[0], &push("main", 1), None, now, true).await?;
    let other = Build::enqueue(&mut conn, &repos[0], &push("feature", 2), None, now, true).await?;
    let running = Build::claim(&mut conn, "w1", ExecutorKind::Docker, LEASE, 5)
        .await?
        .expect("claimed");
    assert_eq!(running.id, old.id);
    let older = Build::enqueue(&mut conn, &repos[0], &push("main", 3), None, now, true).await?;
    let newest = Build::enqueue(&mut conn, &repos[0], &push("main", 4), None, now, true).await?;

    let older = Build::find(&mut conn, older.id).await?;
    assert_eq!(older.status, BuildStatus::Cancelled);
    assert_eq!(older.superseded_by, Some(newest.id));
    assert_eq!(
        older.status_reason.as_deref(),
        Some(format!("superseded by build #{}", newest.number).as_str())
    );
    // A running build is not superseded, nor another branch's.
    assert_eq!(
        Build::find(&mut conn, old.id).await?.status,
        BuildStatus::Running
    );
    assert_eq!(
        Build::find(&mut conn, other.id).await?.status,
        BuildStatus::Queued
    );
    // With superseding off, both stay queued.
    let kept = Build::enqueue(&mut conn, &repos[0], &push("feature", 5), None, now, false).await?;
    assert_eq!(
        Build::find(&mut conn, other.id).await?.status,
        BuildStatus::Queued
    );
    assert_eq!(kept.status, BuildStatus::Queued);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_of_a_dead_server_are_queued_again_once_then_ended() -> anyhow::Result<()> {
    let (app, repos) = course(&["alan"]).await?;
    let mut conn = app.db.conn().await?;
    let build = Build::enqueue(
        &mut conn,
        &repos[0],
        &push("main", 1),
        None,
        chrono::Utc::now(),
        true,
    )
    .await?;
    Build::claim(&mut conn, "gone-1", ExecutorKind::Docker, LEASE, 1)
        .await?
        .expect("claimed");
    // A live lease is left alone.
    assert!(Build::recover(&mut conn, &[]).await?.is_empty());
    // The worker renews for a moment, then dies: the lease runs out.
    let renewed =
        Build::renew_lease(&mut conn, build.id, "gone-1", Duration::from_millis(1)).await?;
    assert_eq!(renewed, Some(false));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let recovered = Build::recover(&mut conn, &[]).await?;
    assert!(
        matches!(&recovered[..], [Recovered::Requeued(b)] if b.id == build.id && b.status == BuildStatus::Queued)
    );
    // The lost worker can no longer renew or finish it.
    assert_eq!(
        Build::renew_lease(&mut conn, build.id, "gone-1", LEASE).await?,
        None
    );

    // A known-dead worker's build is recovered without waiting for its lease.
    Build::claim(&mut conn, "gone-2", ExecutorKind::Docker, LEASE, 1)
        .await?
        .expect("claimed again");
    let recovered = Build::recover(&mut conn, &["gone-2".to_owned()]).await?;
    assert!(matches!(&recovered[..], [Recovered::Ended(b)] if b.status == BuildStatus::Errored));
    let ended = Build::find(&mut conn, build.id).await?;
    assert_eq!(ended.recoveries, 2);
    assert!(ended.finished_at.is_some());
    assert!(
        ended
            .status_reason
            .unwrap_or_default()
            .contains("stopped again")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_impossible_transitions() -> anyhow::Result<()> {
    let (app, repos) = course(&["alan"]).await?;
    let mut conn = app.db.conn().await?;
    let build = Build::enqueue(
        &mut conn,
        &repos[0],
        &push("main", 1),
        None,
        chrono::Utc::now(),
        true,
    )
    .await?;
    let claimed = Build::claim(&mut conn, "w", ExecutorKind::Local, LEASE, 1)
        .await?
        .expect("claimed");
    Build::finish(
        &mut conn,
        claimed.id,
        "w",
        &Verdict::new(BuildStatus::Passed, Some(0)),
        None,
        &RunRecord::default(),
        &NO_MAIL,
    )
    .await?
    .expect("finished");
    use diesel_async::RunQueryDsl as _;
    let refused = diesel::sql_query("UPDATE builds SET status = 'running' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(build.id)
        .execute(&mut conn)
        .await;
    let message = refused
        .expect_err("passed -> running is refused")
        .to_string();
    assert!(
        message.contains("impossible status transition passed -> running"),
        "{message}"
    );
    Ok(())
}
