//! The build pipeline end to end: a student links a repository of the GitHub stand-in
//! (backed by a real git repository), pushes, and the build is fetched at its exact commit,
//! run by a real executor (Podman through the Docker API, or local processes), stored with
//! its log, and reported to GitHub as commit statuses.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::git::python_exercise;
use support::pipeline::{Pipeline, build_of, finished, log_text, running, statuses_for};

const WAIT: Duration = Duration::from_secs(90);

/// Passing, failing and looping pushes through one executor, each with the right status,
/// log and commit statuses.
async fn pushes_end_with_the_right_statuses(executor: &str) -> anyhow::Result<()> {
    let p = Pipeline::start(executor, json!({ "timeoutSeconds": 8 }), &[]).await?;

    // The first build (queued by linking) passes.
    let first = finished(&p.octocat, &p.first_build, WAIT).await?;
    assert_eq!(first["status"], "PASSED", "{first:#}");
    assert_eq!(first["exitCode"], 0);
    assert_eq!(first["executor"], executor.to_uppercase());
    let log = first["log"].as_str().unwrap_or_default();
    assert!(
        log.contains(&format!("fetching {}", &p.first_sha[..7])),
        "{log}"
    );
    assert!(log.contains("running: python3 -m unittest -v"), "{log}");
    assert!(log.contains("test_greets_by_name"), "{log}");
    assert!(log.contains("exit code 0 after"), "{log}");
    let statuses = statuses_for(&p.github, &p.first_sha, &["pending", "success"], WAIT).await?;
    assert!(
        statuses[1]["target_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/builds/{}", p.first_build))
    );
    assert_eq!(statuses[1]["context"], "lectern/hw1");

    // A failing push: the stand-in delivers a signed webhook, the build fails with exit 1.
    let repository = p.repository_id().await?;
    let failing = p.git.commit("main", &python_exercise(false), "Oops")?;
    let id = build_of(&p.octocat, &repository, &failing, WAIT).await?;
    let failed = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(failed["exitCode"], 1);
    assert_eq!(failed["commitSha"], failing.as_str());
    assert!(
        failed["log"]
            .as_str()
            .unwrap_or_default()
            .contains("AssertionError")
    );
    let statuses = statuses_for(&p.github, &failing, &["pending", "failure"], WAIT).await?;
    assert_eq!(statuses[1]["description"], "Tests failed (exit code 1)");

    // A push whose tests never end: stopped at the assignment's timeout.
    let looping = p.git.commit(
        "loop",
        &[(
            "test_greet.py",
            "import time\nwhile True:\n    print('still going', flush=True)\n    time.sleep(0.2)\n",
        )],
        "Loop forever",
    )?;
    let id = build_of(&p.octocat, &repository, &looping, WAIT).await?;
    let started = Instant::now();
    let timed_out = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(timed_out["status"], "TIMED_OUT", "{timed_out:#}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let log = timed_out["log"].as_str().unwrap_or_default();
    assert!(log.contains("still going"), "{log}");
    assert!(log.contains("timed out after 8 s"), "{log}");
    statuses_for(&p.github, &looping, &["pending", "failure"], WAIT).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_pushes_pass_fail_and_time_out_with_statuses_on_github() -> anyhow::Result<()> {
    pushes_end_with_the_right_statuses("docker").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_pushes_pass_fail_and_time_out_with_statuses_on_github() -> anyhow::Result<()> {
    pushes_end_with_the_right_statuses("local").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_build_is_cancelled_within_seconds_and_retried_by_its_owner_only()
-> anyhow::Result<()> {
    let p = Pipeline::start(
        "local",
        json!({ "testCommand": "echo started; sleep 60", "timeoutSeconds": 120 }),
        &[],
    )
    .await?;
    running(&p.octocat, &p.first_build, WAIT).await?;
    let deadline = Instant::now() + WAIT;
    while !log_text(&p.octocat, &p.first_build)
        .await?
        .contains("\nstarted\n")
    {
        assert!(Instant::now() < deadline, "the command never printed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another student may neither cancel nor retry it.
    let mallory = p
        .app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    for mutation in ["cancelBuild", "retryBuild"] {
        let refused = mallory
            .gql(
                &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}"),
                json!({ "id": p.first_build }),
            )
            .await?;
        assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{mutation}");
    }

    let asked = Instant::now();
    p.octocat
        .gql(
            "mutation($id: ID!) { cancelBuild(id: $id) { cancelRequested } }",
            json!({ "id": p.first_build }),
        )
        .await?
        .ok()?;
    let cancelled = finished(&p.octocat, &p.first_build, WAIT).await?;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["statusReason"], "cancelled by octocat");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "took {:?}",
        asked.elapsed()
    );
    assert!(
        cancelled["log"]
            .as_str()
            .unwrap_or_default()
            .contains("started")
    );
    statuses_for(&p.github, &p.first_sha, &["pending", "error"], WAIT).await?;

    let retried = p
        .octocat
        .gql("mutation($id: ID!) { retryBuild(id: $id) { id attempt retryOf commitSha trigger status } }", json!({ "id": p.first_build }))
        .await?
        .ok()?;
    assert_eq!(retried.at("retryBuild.attempt"), 2);
    assert_eq!(retried.at("retryBuild.retryOf"), p.first_build.as_str());
    assert_eq!(retried.at("retryBuild.commitSha"), p.first_sha.as_str());
    assert_eq!(retried.at("retryBuild.trigger"), "RETRY");
    // Staff may cancel any build in their course; a queued or running one stops.
    let retry_id = retried.str_at("retryBuild.id")?.to_owned();
    p.ada
        .gql(
            "mutation($id: ID!) { cancelBuild(id: $id) { id } }",
            json!({ "id": retry_id }),
        )
        .await?
        .ok()?;
    let cancelled = finished(&p.ada, &retry_id, WAIT).await?;
    assert_eq!(cancelled["status"], "CANCELLED");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_repository_is_refused_outside_development_mode() -> anyhow::Result<()> {
    let p = Pipeline::start("local", json!({}), &[("LECTERN_DEV_MODE", "false")]).await?;
    let build = finished(&p.octocat, &p.first_build, WAIT).await?;
    assert_eq!(build["status"], "ERRORED", "{build:#}");
    let reason = build["statusReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("only be built when the server runs in development mode"),
        "{reason}"
    );
    statuses_for(&p.github, &p.first_sha, &["pending", "error"], WAIT).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_too_large_to_check_out_errors_before_it_is_written() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "local",
        json!({}),
        &[
            ("LECTERN_CHECKOUT_MAX_FILES", "50"),
            ("LECTERN_CHECKOUT_MAX_BYTES", "200000"),
        ],
    )
    .await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    let repository = p.repository_id().await?;

    let names: Vec<String> = (0..80).map(|i| format!("many/f{i}.txt")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let sha = p.git.commit("many", &many, "Eighty files")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let build = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(build["status"], "ERRORED");
    assert!(
        build["statusReason"]
            .as_str()
            .unwrap_or_default()
            .contains("more than 50 files")
    );

    let big = "0123456789".repeat(30_000);
    let sha = p
        .git
        .commit("big", &[("big.txt", big.as_str())], "300 KB")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let build = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(build["status"], "ERRORED");
    assert!(
        build["statusReason"]
            .as_str()
            .unwrap_or_default()
            .contains("add up to more than"),
        "{build:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repositorys_own_dockerfile_builds_the_image_when_allowed() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "docker",
        json!({ "allowDockerfile": true, "testCommand": "cat /etc/built-by && python3 -m unittest -v" }),
        &[],
    )
    .await?;
    finished(&p.octocat, &p.first_build, WAIT).await?;
    let repository = p.repository_id().await?;
    let dockerfile = "FROM localhost/lectern-python:3.11\nUSER 0\nRUN echo student-dockerfile > /etc/built-by\nCOPY --chown=1000:1000 . /app\nWORKDIR /app\nUSER 1000\n";
    let sha = p
        .git
        .commit("main", &[("Dockerfile", dockerfile)], "Bring my own image")?;
    let id = build_of(&p.octocat, &repository, &sha, WAIT).await?;
    let build = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(build["status"], "PASSED", "{build:#}");
    let log = build["log"].as_str().unwrap_or_default();
    assert!(
        log.contains("building the image from the repository's Dockerfile"),
        "{log}"
    );
    assert!(log.contains("student-dockerfile"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_wait_in_the_queue_while_the_container_engine_is_down() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "docker",
        json!({}),
        &[("DOCKER_HOST", "unix:///nonexistent/lectern-engine.sock")],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let build = p
        .octocat
        .gql(
            "query($id: ID!) { build(id: $id) { status queuePosition startedAt } }",
            json!({ "id": p.first_build }),
        )
        .await?
        .ok()?;
    assert_eq!(build.at("build.status"), "QUEUED");
    assert_eq!(build.at("build.queuePosition"), 1);
    assert!(build.at("build.startedAt").is_null());
    assert!(
        p.github.statuses().is_empty(),
        "no status before the build starts"
    );
    Ok(())
}
