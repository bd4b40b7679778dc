//! Live logs and build events over graphql-transport-ws, through real WebSocket
//! connections to running servers.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::pipeline::{Pipeline, finished};
use support::process::ServerProcess;
use support::ws::{End, WsClient};

const LOG: &str = "subscription($id: ID!, $after: Int) { buildLog(buildId: $id, after: $after) { seq stream text } }";
const COUNTING: &str = "for i in $(seq 1 40); do echo line $i; sleep 0.05; done";

fn expected_lines() -> String {
    (1..=40).map(|i| format!("line {i}\n")).collect()
}

/// Reads `buildLog` chunks into `seqs` and `stdout` until `stop` says so or it completes;
/// returns whether it completed.
async fn read_log(
    ws: &mut WsClient,
    seqs: &mut Vec<i64>,
    stdout: &mut String,
    stop: impl Fn(&str) -> bool,
) -> anyhow::Result<bool> {
    loop {
        match ws.next_data("log").await? {
            Ok(data) => {
                let chunk = &data["buildLog"];
                seqs.push(chunk["seq"].as_i64().unwrap_or(-1));
                if chunk["stream"] == "STDOUT" {
                    stdout.push_str(chunk["text"].as_str().unwrap_or_default());
                }
                if stop(stdout) {
                    return Ok(false);
                }
            }
            Err(End::Complete) => return Ok(true),
            Err(other) => anyhow::bail!("the log subscription ended with {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_replays_then_goes_live_without_gap_or_duplicate_across_a_reconnect()
-> anyhow::Result<()> {
    let p = Pipeline::start("local", json!({ "testCommand": COUNTING }), &[]).await?;
    let cookie = p.octocat.cookie_header();
    let (mut seqs, mut stdout) = (Vec::new(), String::new());

    let mut ws = WsClient::connect(&p.app.base, &cookie, None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe("log", LOG, json!({ "id": p.first_build }))
        .await?;
    let completed = read_log(&mut ws, &mut seqs, &mut stdout, |s| s.contains("line 10\n")).await?;
    assert!(
        !completed,
        "the build should still be running at the reconnect"
    );
    ws.close().await;

    // Away for a moment while the build goes on, then on from the last chunk seen.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut ws = WsClient::connect(&p.app.base, &cookie, None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let last = *seqs.last().expect("chunks before the reconnect");
    ws.subscribe("log", LOG, json!({ "id": p.first_build, "after": last }))
        .await?;
    let completed = read_log(&mut ws, &mut seqs, &mut stdout, |_| false).await?;
    assert!(completed);
    ws.close().await;

    assert_eq!(stdout, expected_lines());
    let contiguous: Vec<i64> = (0..i64::try_from(seqs.len())?).collect();
    assert_eq!(seqs, contiguous, "every chunk once, in order");
    let build = finished(&p.octocat, &p.first_build, Duration::from_secs(30)).await?;
    assert_eq!(build["status"], "PASSED");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_updates_follow_changes_of_state_not_output() -> anyhow::Result<()> {
    // Forty lines over two seconds are stored in a couple of dozen flushes; none of them
    // is a change of the build's state.
    let p = Pipeline::start("local", json!({ "testCommand": COUNTING }), &[]).await?;
    let mut ws = WsClient::connect(&p.app.base, &p.octocat.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe(
        "b",
        "subscription($id: ID!) { buildUpdated(buildId: $id) { status logBytes } }",
        json!({ "id": p.first_build }),
    )
    .await?;
    let mut seen = Vec::new();
    loop {
        let data = ws
            .next_data("b")
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let status = data["buildUpdated"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(status.clone());
        if status == "PASSED" {
            break;
        }
    }
    // The build as it was when the subscription started, then one update per change of
    // state (running, passed), not one per flush of output.
    assert!(
        seen.len() <= 4,
        "one update per change of state, not per flush of output: {seen:?}"
    );
    let log = finished(&p.octocat, &p.first_build, Duration::from_secs(10)).await?;
    assert!(log["logBytes"].as_i64().unwrap_or(0) > 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_notice_when_the_server_stops_hearing_notifications() -> anyhow::Result<()> {
    // Subscribers wait on notifications and query nothing while the server hears them. Cut
    // the server's listening connection just before the build ends, so that the build's
    // last chunks and its end are announced while nobody listens: the log must still
    // arrive whole and complete.
    let command = "for i in $(seq 1 40); do echo line $i; sleep 0.05; done; sleep 0.5";
    let p = Pipeline::start("local", json!({ "testCommand": command }), &[]).await?;
    let mut ws = WsClient::connect(&p.app.base, &p.octocat.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe("log", LOG, json!({ "id": p.first_build }))
        .await?;
    let (mut seqs, mut stdout) = (Vec::new(), String::new());
    let completed = read_log(&mut ws, &mut seqs, &mut stdout, |s| s.contains("line 35\n")).await?;
    assert!(!completed, "the build should still be running");
    let mut conn = p.app.db.conn().await?;
    let cut: Vec<Cut> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        ),
        &mut conn,
    )
    .await?;
    assert!(
        cut.iter().any(|c| c.terminated),
        "the server's listening connection should have been found"
    );
    let completed = tokio::time::timeout(
        Duration::from_secs(20),
        read_log(&mut ws, &mut seqs, &mut stdout, |_| false),
    )
    .await??;
    assert!(completed);
    assert_eq!(stdout, expected_lines());
    let contiguous: Vec<i64> = (0..i64::try_from(seqs.len())?).collect();
    assert_eq!(seqs, contiguous, "every chunk once, in order");
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Cut {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_authorized_like_queries() -> anyhow::Result<()> {
    let p = Pipeline::start("local", json!({ "testCommand": "sleep 20" }), &[]).await?;
    // No session, or one that expired: connection_init is refused with 4403.
    let refused = WsClient::connect(&p.app.base, "", None).await?;
    assert_eq!(refused.err(), Some(End::Closed(4403)));
    let expired = WsClient::connect(&p.app.base, "lectern_session=not-a-session", None).await?;
    assert_eq!(expired.err(), Some(End::Closed(4403)));
    // Another site's page: the upgrade is refused.
    let cross = WsClient::connect(
        &p.app.base,
        &p.octocat.cookie_header(),
        Some("https://evil.example"),
    )
    .await?;
    assert_eq!(cross.err(), Some(End::Closed(400)));

    // Another student: refused this build and this repository; the socket stays usable.
    let mallory = p
        .app
        .enroll(&p.ada, &p.course, "mallory", "STUDENT")
        .await?;
    let mut ws = WsClient::connect(&p.app.base, &mallory.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe("log", LOG, json!({ "id": p.first_build }))
        .await?;
    let denied = ws.next_data("log").await?;
    assert!(
        matches!(&denied, Err(End::Error(e)) if e.to_string().contains("FORBIDDEN")),
        "{denied:?}"
    );
    ws.subscribe(
        "course",
        "subscription($c: ID!) { buildUpdated(courseId: $c) { id } }",
        json!({ "c": p.course }),
    )
    .await?;
    let denied = ws.next_data("course").await?;
    assert!(
        matches!(&denied, Err(End::Error(e)) if e.to_string().contains("FORBIDDEN")),
        "{denied:?}"
    );
    ws.close().await;

    // Staff follow the whole course: a cancel shows up as the build's change.
    let mut ws = WsClient::connect(&p.app.base, &p.ada.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ws.subscribe(
        "course",
        "subscription($c: ID!) { buildUpdated(courseId: $c) { id status cancelRequested } }",
        json!({ "c": p.course }),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.ada
        .gql(
            "mutation($id: ID!) { cancelBuild(id: $id) { id } }",
            json!({ "id": p.first_build }),
        )
        .await?
        .ok()?;
    let mut seen: Vec<Value> = Vec::new();
    while !seen.iter().any(|b| b["status"] == "CANCELLED") {
        match ws.next_data("course").await? {
            Ok(data) => seen.push(data["buildUpdated"].clone()),
            Err(end) => anyhow::bail!("course updates ended: {end:?}"),
        }
    }
    assert!(seen.iter().all(|b| b["id"] == p.first_build.as_str()));
    assert!(seen.iter().any(|b| b["cancelRequested"] == true));
    ws.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_both_stream_a_build_only_one_runs() -> anyhow::Result<()> {
    let p = Pipeline::start(
        "local",
        json!({ "testCommand": format!("sleep 2; {COUNTING}") }),
        &[],
    )
    .await?;
    // A second replica on the same database that runs no builds.
    let second = ServerProcess::start(&p.app.db.url, &[("LECTERN_EXECUTOR", "none")]).await?;
    let base = second.base.clone();
    {
        // The session cookie is good on both: sessions live in the shared database.
        let cookie = p.octocat.cookie_header();
        let mut here = WsClient::connect(&p.app.base, &cookie, None)
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut there = WsClient::connect(&base, &cookie, None)
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        here.subscribe("log", LOG, json!({ "id": p.first_build }))
            .await?;
        there
            .subscribe("log", LOG, json!({ "id": p.first_build }))
            .await?;
        let (mut a_seqs, mut a_out, mut b_seqs, mut b_out) =
            (Vec::new(), String::new(), Vec::new(), String::new());
        let (a, b) = tokio::join!(
            read_log(&mut here, &mut a_seqs, &mut a_out, |_| false),
            read_log(&mut there, &mut b_seqs, &mut b_out, |_| false),
        );
        assert!(a? && b?);
        assert_eq!(a_out, expected_lines());
        assert_eq!(b_out, expected_lines());
        assert_eq!(a_seqs, b_seqs);
    }
    drop(second);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reads_nothing_does_not_slow_the_build() -> anyhow::Result<()> {
    // Much more output than a socket buffers, printed fast.
    let p = Pipeline::start(
        "local",
        json!({ "testCommand": "for i in $(seq 1 20000); do echo \"line $i of a log nobody reads quickly enough\"; done" }),
        &[],
    )
    .await?;
    let mut stalled = WsClient::connect(&p.app.base, &p.octocat.cookie_header(), None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    stalled
        .subscribe("log", LOG, json!({ "id": p.first_build }))
        .await?;
    // The subscriber reads nothing; the build goes on and ends by itself.
    let build = finished(&p.octocat, &p.first_build, Duration::from_secs(20)).await?;
    assert_eq!(build["status"], "PASSED");
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Then it catches up on everything, in order, and is told the log is complete.
    let (mut seqs, mut stdout) = (Vec::new(), String::new());
    assert!(read_log(&mut stalled, &mut seqs, &mut stdout, |_| false).await?);
    assert_eq!(stdout.lines().count(), 20000);
    assert!(stdout.ends_with("line 20000 of a log nobody reads quickly enough\n"));
    let contiguous: Vec<i64> = (0..i64::try_from(seqs.len())?).collect();
    assert_eq!(seqs, contiguous);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_or_repeated_initialisation_closes_with_the_protocols_codes() -> anyhow::Result<()> {
    let app = support::TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let mut silent = WsClient::open(&app.base, &ada.cookie_header()).await?;
    let mut twice = WsClient::open(&app.base, &ada.cookie_header()).await?;
    twice.init().await?;
    twice.init().await?;
    assert_eq!(twice.end().await?, End::Closed(4429));
    let started = std::time::Instant::now();
    assert_eq!(silent.end().await?, End::Closed(4408));
    assert!(started.elapsed() < Duration::from_secs(15));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_the_protocols_codes() -> anyhow::Result<()> {
    let app = support::TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let cookie = ada.cookie_header();
    let updates = "subscription { buildUpdated(courseId: \"1\") { id } }";

    // Subscribing before connection_init: 4401.
    let mut early = WsClient::open(&app.base, &cookie).await?;
    early.subscribe("a", updates, json!({})).await?;
    assert_eq!(early.end().await?, End::Closed(4401));

    // Not a protocol message: 4400.
    let mut junk = WsClient::open(&app.base, &cookie).await?;
    junk.send_text("{\"type\":\"start\",\"id\":\"1\"}").await?;
    assert_eq!(junk.end().await?, End::Closed(4400));

    // A second subscription with the id of one still running: 4409.
    let course = app.course(&ada, "systems").await?;
    let query = "subscription($c: ID!) { buildUpdated(courseId: $c) { id } }";
    let mut twice = WsClient::connect(&app.base, &cookie, None)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    twice.subscribe("x", query, json!({ "c": course })).await?;
    twice.subscribe("x", query, json!({ "c": course })).await?;
    assert_eq!(twice.end().await?, End::Closed(4409));

    // The legacy subscriptions-transport-ws protocol is not spoken.
    let legacy = WsClient::connect_with_protocol(&app.base, &cookie, "graphql-ws").await?;
    assert_eq!(legacy.err(), Some(End::Closed(400)));
    Ok(())
}
