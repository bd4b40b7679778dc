//! The build pipeline's overhead, each figure next to a baseline measured in the same run:
//! the time from a webhook's arrival to the test command starting in its container (warm
//! base image) beside a bare `podman run` of the same image, and the rate at which build
//! output is stored beside a raw `COPY` of the same lines. Run with `scripts/bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lectern::builds::log::LogWriter;
use lectern::db::enums::{BuildTrigger, LogStream};
use lectern::db::models::{Build, BuildRequest, Repository};
use serde_json::json;
use support::pipeline::{Pipeline, build_of, finished, log_text};

const STARTS: usize = 20;
const LINES: usize = 200_000;
const IMAGE: &str = "localhost/lectern-python:3.11";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Seconds from a signed push webhook's send to the test command's first instruction.
async fn webhook_to_start() -> anyhow::Result<Vec<f64>> {
    let p = Pipeline::start("docker", json!({ "testCommand": "date +%s.%N" }), &[]).await?;
    finished(&p.octocat, &p.first_build, Duration::from_secs(120)).await?;
    let repository = p.repository_id().await?;
    let remote = p
        .github
        .remote("octocat/hw1")
        .expect("the stand-in's repository");
    let secret = remote.hooks.values().next().expect("a hook").secret.clone();
    // Commits made up front, each on its own branch, delivered by hand (not by the
    // stand-in's once-a-second watch) so the clock starts at the webhook.
    let mut shas = Vec::new();
    for i in 0..STARTS {
        shas.push(
            p.git
                .commit(&format!("b{i}"), &[("n.txt", &i.to_string())], "bench")?,
        );
    }
    // The stand-in delivers those pushes too (about a second later): let their builds run
    // first so none of the measured ones waits in the queue behind them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_until_idle(&p).await?;
    let mut latencies = Vec::new();
    for (i, sha) in shas.iter().enumerate() {
        let body = serde_json::to_vec(&json!({
            "ref": format!("refs/heads/bench{i}"), "before": "0".repeat(40), "after": sha,
            "created": true, "deleted": false,
            "repository": { "id": remote.id, "full_name": "octocat/hw1" },
            "head_commit": { "id": sha, "message": "bench", "author": { "name": "octocat" } },
        }))?;
        let sent = now();
        let (status, _) = p
            .app
            .deliver("push", &format!("bench-{i}"), &body, Some(&secret))
            .await?;
        anyhow::ensure!(status == 202, "delivery answered {status}");
        let id = build_of(&p.octocat, &repository, sha, Duration::from_secs(30)).await?;
        let build = finished(&p.octocat, &id, Duration::from_secs(120)).await?;
        anyhow::ensure!(build["status"] == "PASSED", "bench build: {build}");
        let log = log_text(&p.octocat, &id).await?;
        let started: f64 = log
            .lines()
            .find_map(|l| l.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no time in the log: {log}"))?;
        latencies.push(started - sent);
    }
    Ok(latencies)
}

/// Waits until no build is queued or running.
async fn wait_until_idle(p: &Pipeline) -> anyhow::Result<()> {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    use lectern::db::schema::builds;
    let mut conn = p.app.db.conn().await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let busy: i64 = builds::table
            .filter(builds::status.eq_any(["queued", "running"]))
            .count()
            .get_result(&mut conn)
            .await?;
        if busy == 0 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{busy} builds still busy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Seconds from spawning `podman run` of the same image to its command's first instruction.
fn bare_podman_run() -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::new();
    for _ in 0..STARTS {
        let spawned = now();
        let out = std::process::Command::new("podman")
            .args(["run", "--rm", "--network", "none", IMAGE, "date", "+%s.%N"])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "podman run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let started: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        latencies.push(started - spawned);
    }
    Ok(latencies)
}

/// Lines per second through the log sink into PostgreSQL, and through `COPY`.
async fn log_ingest() -> anyhow::Result<(f64, f64)> {
    let app = support::TestApp::new().await?;
    let ada = app.sign_in("ada").await?;
    let course = app.course(&ada, "cs101").await?;
    let assignment = app.assignment(&ada, &course, "hw1", json!({})).await?;
    let linked = app
        .link_repository(&assignment, "octocat", 1, "octocat/hw1")
        .await?;
    let mut conn = app.db.conn().await?;
    let repository = Repository::find(&mut conn, linked.id).await?;
    let request = BuildRequest {
        trigger: BuildTrigger::Manual,
        branch: Some("main".into()),
        pr_number: None,
        commit_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        commit_message: "bench".into(),
        commit_author: None,
    };
    let build = Build::enqueue(
        &mut conn,
        &repository,
        &request,
        None,
        chrono::Utc::now(),
        false,
    )
    .await?;
    let lines: Vec<String> = (0..LINES)
        .map(|i| {
            format!(
                "test_case_{i:06} ... ok (0.{:03}s) lorem ipsum dolor sit amet\n",
                i % 1000
            )
        })
        .collect();
    let text = lines.concat();

    // As an executor delivers output: reads of up to 64 KB.
    let started = Instant::now();
    let (sink, writer) = LogWriter::start(&app.app, build.id, 1 << 30).await?;
    for piece in text.as_bytes().chunks(64 * 1024) {
        sink.write(LogStream::Stdout, Bytes::copy_from_slice(piece))
            .await;
    }
    drop(sink);
    let summary = writer.finish().await;
    let sink_rate = LINES as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.bytes as usize == text.len(),
        "stored {} of {} bytes",
        summary.bytes,
        text.len()
    );

    // Baseline: COPY of the same lines, one row each, through psql.
    let file = std::env::temp_dir().join(format!("lectern-bench-lines-{}", std::process::id()));
    let mut out = std::fs::File::create(&file)?;
    for line in &lines {
        out.write_all(line.trim_end().replace('\\', "\\\\").as_bytes())?;
        out.write_all(b"\n")?;
    }
    drop(out);
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([
                app.db.url.as_str(),
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
    };
    psql("CREATE TABLE bench_copy (line text)")?;
    let started = Instant::now();
    let copied = psql(&format!("\\copy bench_copy FROM '{}'", file.display()))?;
    let copy_rate = LINES as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    anyhow::ensure!(
        copied.status.success(),
        "COPY failed: {}",
        String::from_utf8_lossy(&copied.stderr)
    );
    Ok((sink_rate, copy_rate))
}

fn summary(name: &str, mut values: Vec<f64>, baseline_p50: Option<f64>) {
    values.sort_by(f64::total_cmp);
    let p50 = percentile(&values, 0.5);
    let ratio = baseline_p50.map_or_else(|| "1.00x".to_owned(), |b| format!("{:.2}x", p50 / b));
    println!(
        "{name:<46} {:>9.0} {:>9.0} {:>9.0} {:>12}",
        p50 * 1e3,
        percentile(&values, 0.99) * 1e3,
        values.last().copied().unwrap_or(0.0) * 1e3,
        ratio
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let bare = bare_podman_run()?;
    let pipeline = webhook_to_start().await?;
    let (sink_rate, copy_rate) = log_ingest().await?;
    println!("\nTime to the test command's start ({STARTS} runs each, warm image):");
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>12}",
        "", "p50 ms", "p99 ms", "max ms", "vs baseline"
    );
    let mut sorted = bare.clone();
    sorted.sort_by(f64::total_cmp);
    let base_p50 = percentile(&sorted, 0.5);
    summary("baseline: bare `podman run` of the same image", bare, None);
    summary(
        "webhook -> fetch -> image -> container start",
        pipeline,
        Some(base_p50),
    );
    println!("\nBuild output into PostgreSQL ({LINES} lines, 64 KB reads):");
    println!(
        "{:<46} {:>12.0} lines/s",
        "baseline: psql \\copy, one row per line", copy_rate
    );
    println!(
        "{:<46} {:>12.0} lines/s {:>8.2}x",
        "log sink (batched 64 KB chunks)",
        sink_rate,
        sink_rate / copy_rate
    );
    Ok(())
}
