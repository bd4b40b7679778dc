//! Commit statuses are posted to GitHub by background jobs, retried on GitHub's failures,
//! and never posted twice for the same build and state.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::TestApp;
use support::github::{FakeGithub, World};

const HEAD: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// A linked repository whose first build is queued; returns the stand-in, the app and that
/// build's id.
async fn linked() -> anyhow::Result<(FakeGithub, TestApp, i64)> {
    let World {
        github,
        app,
        octocat,
        assignment,
        ..
    } = World::start(&[("LECTERN_JOB_RETRY_BASE_MS", "100")], HEAD).await?;
    let linked = octocat
        .gql(
            "mutation($a: ID!) { linkRepository(assignmentId: $a, fullName: \"octocat/hw1\") { builds { id } } }",
            json!({ "a": assignment }),
        )
        .await?
        .ok()?;
    let build: i64 = linked.str_at("linkRepository.builds.0.id")?.parse()?;
    Ok((github, app, build))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if done() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

async fn jobs_left(app: &TestApp) -> anyhow::Result<(i64, i64)> {
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pending: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        failed: i64,
    }
    let mut conn = app.db.conn().await?;
    let counts: Counts = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT count(*) FILTER (WHERE failed_at IS NULL) AS pending, count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM jobs"),
        &mut conn,
    )
    .await?;
    Ok((counts.pending, counts.failed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_reach_github_once_each_with_link_and_context() -> anyhow::Result<()> {
    let (github, app, build) = linked().await?;
    let mut conn = app.db.conn().await?;
    use lectern::jobs::commit_status::{State, enqueue};
    enqueue(&mut conn, build, State::Pending, "Running the tests").await?;
    enqueue(&mut conn, build, State::Pending, "Running the tests").await?; // a duplicate: ignored
    enqueue(&mut conn, build, State::Success, "10 of 10 tests passed").await?;
    wait_for("two statuses", || github.statuses().len() >= 2).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let statuses = github.statuses();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    let states: Vec<&str> = statuses
        .iter()
        .map(|(_, b)| b["state"].as_str().unwrap_or(""))
        .collect();
    assert!(
        states.contains(&"pending") && states.contains(&"success"),
        "{states:?}"
    );
    for (sha, body) in &statuses {
        assert_eq!(sha, HEAD);
        assert_eq!(body["context"], "lectern/hw1");
        assert_eq!(body["target_url"], format!("{}/builds/{build}", app.base));
    }
    let posted = github
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/statuses/"))
        .expect("posted");
    assert!(
        posted
            .authorization
            .unwrap_or_default()
            .starts_with("Bearer gho_standin"),
        "as the repository's owner"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while jobs_left(&app).await? != (0, 0) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "jobs left behind: {:?}",
            jobs_left(&app).await?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_github_is_retried_with_backoff_until_the_status_lands() -> anyhow::Result<()> {
    let (github, app, build) = linked().await?;
    github.fail_next_statuses(3);
    let started = Instant::now();
    let mut conn = app.db.conn().await?;
    lectern::jobs::commit_status::enqueue(
        &mut conn,
        build,
        lectern::jobs::commit_status::State::Failure,
        "2 of 10 tests failed",
    )
    .await?;
    wait_for("the status after three failures", || {
        !github.statuses().is_empty()
    })
    .await?;
    let attempts = github
        .requests()
        .iter()
        .filter(|r| r.path.contains("/statuses/"))
        .count();
    assert_eq!(attempts, 4, "three failures, then success");
    // Backoff of 100, 200 and 400 ms between the attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(github.statuses()[0].1["state"], "failure");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_recorded_not_retried_forever() -> anyhow::Result<()> {
    let (github, app, build) = linked().await?;
    // The repository disappears from GitHub: 404 is not worth retrying.
    github.remove_repo("octocat/hw1");
    let mut conn = app.db.conn().await?;
    lectern::jobs::commit_status::enqueue(
        &mut conn,
        build,
        lectern::jobs::commit_status::State::Error,
        "The build errored",
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while jobs_left(&app).await? != (0, 1) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the job never failed for good: {:?}",
            jobs_left(&app).await?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = github
        .requests()
        .iter()
        .filter(|r| r.path.contains("/statuses/"))
        .count();
    assert_eq!(attempts, 1, "not retried");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_status_waits_for_the_pending_one_so_github_never_shows_it_running()
-> anyhow::Result<()> {
    let (github, app, build) = linked().await?;
    let mut conn = app.db.conn().await?;
    use lectern::jobs::commit_status::{State, enqueue};
    // The pending status is due only in a moment (as after a failed attempt); the final one
    // is queued at once behind it.
    enqueue(&mut conn, build, State::Pending, "Running the tests").await?;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "UPDATE jobs SET run_at = now() + interval '600 milliseconds' WHERE dedupe_key LIKE '%:pending'",
        ),
        &mut conn,
    )
    .await?;
    enqueue(
        &mut conn,
        build,
        State::Error,
        "Lectern could not run the tests",
    )
    .await?;
    wait_for("two statuses", || github.statuses().len() >= 2).await?;
    let states: Vec<String> = github
        .statuses()
        .iter()
        .map(|(_, b)| b["state"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(states, ["pending", "error"]);
    // Waiting spent none of the final status's attempts, and nothing is left behind.
    let deadline = Instant::now() + Duration::from_secs(15);
    while jobs_left(&app).await? != (0, 0) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "jobs left: {:?}",
            jobs_left(&app).await?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
