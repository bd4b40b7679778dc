//! Live log latency: from a line printed by a build's command inside its container to its
//! arrival at WebSocket subscribers, with 1, 100 and 1000 subscribers on one server, and
//! that server's peak memory. The server is a separate `lectern serve` process (container
//! executor) so its memory is its own. Run with `scripts/bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::pipeline::Pipeline;
use support::ws::WsClient;

const LOG: &str = "subscription($id: ID!) { buildLog(buildId: $id) { stream text } }";
const LINES: usize = 40;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Latencies (s) of every line at every subscriber of one build.
async fn run(subscribers: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    // The in-process server only sets the course up; it runs no builds.
    let command = format!("sleep 3; for i in $(seq 1 {LINES}); do date +%s.%N; sleep 0.1; done");
    let p = Pipeline::start("none", json!({ "testCommand": command }), &[]).await?;
    let executor = support::pipeline::executor_env("docker");
    let mut env: Vec<(&str, &str)> = executor.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("LECTERN_DEV_MODE", "true"),
        ("LECTERN_DB_POOL_SIZE", "32"),
        ("LECTERN_LOG", "error"),
    ]);
    let server = support::process::ServerProcess::start(&p.app.db.url, &env).await?;
    let base = server.base.clone();
    let result = async {
        let cookie = p.octocat.cookie_header();
        let mut clients = Vec::new();
        for _ in 0..subscribers {
            let mut ws = WsClient::connect(&base, &cookie, None)
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            ws.subscribe("log", LOG, json!({ "id": p.first_build }))
                .await?;
            clients.push(ws);
        }
        // Each subscriber only notes when each message arrived; the messages are parsed
        // after the run, so that the reading side spends as little as it can.
        let tasks = clients.into_iter().map(|mut ws| {
            tokio::spawn(async move {
                let mut arrivals = Vec::new();
                while let Some(text) = ws.next_raw().await? {
                    let done = text.starts_with(r#"{"type":"complete""#);
                    arrivals.push((now(), text));
                    if done {
                        break;
                    }
                }
                ws.close().await;
                let mut latencies = Vec::new();
                for (arrived, text) in arrivals {
                    let message: serde_json::Value = serde_json::from_str(&text)?;
                    if message["type"] == "error" {
                        anyhow::bail!("subscription refused: {message}");
                    }
                    let chunk = &message["payload"]["data"]["buildLog"];
                    if chunk["stream"] == "STDOUT" {
                        for line in chunk["text"].as_str().unwrap_or_default().lines() {
                            if let Ok(printed) = line.trim().parse::<f64>() {
                                latencies.push(arrived - printed);
                            }
                        }
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        });
        let mut all = Vec::new();
        for task in futures::future::join_all(tasks).await {
            let latencies = task??;
            anyhow::ensure!(
                latencies.len() == LINES,
                "a subscriber got {} of {LINES} lines",
                latencies.len()
            );
            all.extend(latencies);
        }
        Ok::<_, anyhow::Error>((all, peak_rss_mb(server.child.id())))
    }
    .await;
    drop(server);
    result
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    // A thousand sockets on each side: raise the open-file limit (the server inherits it).
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard.min(65_536), hard)?;
    println!("\nLive log latency: line printed by the build -> received by a WebSocket subscriber");
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>16}",
        "subscribers", "p50 ms", "p99 ms", "max ms", "server peak MB"
    );
    // LECTERN_BENCH_SUBSCRIBERS=1000 runs one case (for profiling).
    let counts: Vec<usize> = std::env::var("LECTERN_BENCH_SUBSCRIBERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or_else(|| vec![1, 100, 1000], |n| vec![n]);
    for n in counts {
        let (mut latencies, peak) = run(n).await?;
        latencies.sort_by(f64::total_cmp);
        println!(
            "{n:<14} {:>9.0} {:>9.0} {:>9.0} {:>16.0}",
            percentile(&latencies, 0.5) * 1e3,
            percentile(&latencies, 0.99) * 1e3,
            latencies.last().copied().unwrap_or(0.0) * 1e3,
            peak
        );
    }
    Ok(())
}
