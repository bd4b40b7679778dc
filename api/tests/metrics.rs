//! `GET /metrics` scraped around real builds in containers: the counters and gauges move
//! as the work does, access is refused without the token, and no label names a person,
//! repository or build. The metrics are the process's, so this binary holds one test of
//! the in-process server (the other runs `lectern serve` as its own process).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use support::git::python_exercise;
use support::mail::MailSink;
use support::pipeline::{Pipeline, build_of, finished, running};
use support::process::ServerProcess;
use support::ws::WsClient;

const WAIT: Duration = Duration::from_secs(120);
const TOKEN: &str = "metrics-token-for-the-tests-0123456789";

/// A scrape, as samples keyed by name and labels.
struct Scrape {
    text: String,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    fn parse(text: String) -> anyhow::Result<Self> {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line
                .rsplit_once(' ')
                .ok_or_else(|| anyhow::anyhow!("not a sample: {line}"))?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            samples.insert((name.to_owned(), labels), value.parse::<f64>()?);
        }
        Ok(Self { text, samples })
    }

    /// The sample `name` with exactly `labels`, or 0 when there is none (yet).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The sum of `name` over every label set containing `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

async fn scrape(base: &str) -> anyhow::Result<Scrape> {
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "scrape: {}", response.status());
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    Scrape::parse(response.text().await?)
}

/// Scrapes until `ready` holds of a scrape (what happens in jobs lands a moment later).
async fn scrape_until(base: &str, ready: impl Fn(&Scrape) -> bool) -> anyhow::Result<Scrape> {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = scrape(base).await?;
        if ready(&now) {
            return Ok(now);
        }
        anyhow::ensure!(Instant::now() < deadline, "never ready:\n{}", now.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_follow_a_real_build_from_webhook_to_notification() -> anyhow::Result<()> {
    let mail = MailSink::start(None)?;
    let p = Pipeline::start(
        "docker",
        json!({ "testCommand": "sleep 2; python3 -m unittest -v" }),
        &[
            ("SMTP_URL", &mail.url()),
            ("LECTERN_METRICS_TOKEN", TOKEN),
            ("LECTERN_JOB_RETRY_BASE_MS", "100"),
        ],
    )
    .await?;
    let base = p.app.base.clone();

    // No token, or the wrong one: refused, and nothing is said.
    let http = reqwest::Client::new();
    let bare = http.get(format!("{base}/metrics")).send().await?;
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer");
    let wrong = http
        .get(format!("{base}/metrics"))
        .bearer_auth("metrics-token-for-the-tests-0123456780")
        .send()
        .await?;
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.text().await?.contains("lectern_"));

    // The first build (queued by linking, a passing commit) runs in a container.
    let first = finished(&p.octocat, &p.first_build, WAIT).await?;
    assert_eq!(first["status"], "PASSED", "{first:#}");
    let docker = [("executor", "docker")];
    let passed = [("executor", "docker"), ("status", "passed")];
    let after_first = scrape_until(&base, |s| {
        // Its commit statuses (pending, then success) are posted by jobs.
        s.get(
            "lectern_github_api_requests_total",
            &[
                ("endpoint", "/repos/{owner}/{repo}/statuses/{sha}"),
                ("status", "201"),
            ],
        ) >= 2.0
    })
    .await?;
    assert_eq!(
        after_first.get("lectern_builds_started_total", &docker),
        1.0
    );
    assert_eq!(
        after_first.get("lectern_builds_finished_total", &passed),
        1.0
    );
    assert_eq!(
        after_first.get("lectern_build_duration_seconds_count", &passed),
        1.0
    );
    // It slept two seconds: its duration is at least that, and it is in no bucket below 2.5 s.
    assert!(after_first.get("lectern_build_duration_seconds_sum", &passed) >= 2.0);
    assert_eq!(
        after_first.get(
            "lectern_build_duration_seconds_bucket",
            &[("executor", "docker"), ("status", "passed"), ("le", "1")]
        ),
        0.0
    );
    assert_eq!(
        after_first.get("lectern_build_queue_wait_seconds_count", &docker),
        1.0
    );
    let first_bytes = after_first.get("lectern_build_log_bytes_total", &[]);
    assert!(
        first_bytes >= first["logBytes"].as_f64().unwrap_or(f64::MAX),
        "every stored byte is counted: {first_bytes} < {}",
        first["logBytes"]
    );
    assert_eq!(
        after_first.get("lectern_build_log_truncations_total", &[]),
        0.0
    );
    // Linking registered a hook (201) through octocrab; the stand-in says how much of its
    // rate limit is left.
    assert_eq!(
        after_first.get(
            "lectern_github_api_requests_total",
            &[
                ("endpoint", "/repos/{owner}/{repo}/hooks"),
                ("status", "201")
            ]
        ),
        1.0
    );
    let remaining = after_first.get("lectern_github_rate_limit_remaining", &[]);
    assert!((0.0..5000.0).contains(&remaining), "{remaining}");
    assert_eq!(after_first.get("lectern_queue_depth", &[]), 0.0);
    assert_eq!(
        after_first.get("lectern_queue_oldest_age_seconds", &[]),
        0.0
    );
    assert_eq!(after_first.get("lectern_builds_running", &docker), 0.0);
    assert_eq!(after_first.get("lectern_db_pool_max_connections", &[]), 4.0);
    let in_use = after_first.get("lectern_db_pool_connections", &[("state", "in_use")]);
    let idle = after_first.get("lectern_db_pool_connections", &[("state", "idle")]);
    assert!(
        in_use + idle <= 4.0 && in_use + idle >= 1.0,
        "{in_use} + {idle}"
    );
    assert_eq!(
        after_first.get(
            "lectern_notifications_total",
            &[("channel", "email"), ("outcome", "sent")]
        ),
        0.0,
        "a pass sends the student nothing"
    );

    // A failing push, delivered by the stand-in as a signed webhook; followed live.
    let repository = p.repository_id().await?;
    let failing = p.git.commit("main", &python_exercise(false), "Oops")?;
    let id = build_of(&p.octocat, &repository, &failing, WAIT).await?;
    let mut ws = match WsClient::connect(&base, &p.octocat.cookie_header(), None).await? {
        Ok(ws) => ws,
        Err(end) => anyhow::bail!("the live connection was refused: {end:?}"),
    };
    ws.subscribe(
        "log",
        "subscription($id: ID!) { buildLog(buildId: $id) { seq text } }",
        json!({ "id": id }),
    )
    .await?;
    running(&p.octocat, &id, WAIT).await?;
    let during = scrape_until(&base, |s| s.get("lectern_live_subscriptions", &[]) >= 1.0).await?;
    assert_eq!(
        during.get("lectern_builds_running", &docker),
        1.0,
        "{}",
        during.text
    );
    assert_eq!(during.get("lectern_websocket_connections", &[]), 1.0);
    assert_eq!(during.get("lectern_builds_started_total", &docker), 2.0);
    assert_eq!(
        during.get(
            "lectern_webhook_deliveries_total",
            &[("event", "push"), ("outcome", "queued")]
        ),
        1.0
    );
    let failed = finished(&p.octocat, &id, WAIT).await?;
    assert_eq!(failed["status"], "FAILED");
    drop(ws);
    mail.wait_for(1, WAIT).await?;
    let after = scrape_until(&base, |s| {
        s.get(
            "lectern_notifications_total",
            &[("channel", "email"), ("outcome", "sent")],
        ) >= 1.0
            && s.get("lectern_websocket_connections", &[]) == 0.0
    })
    .await?;
    let failed_labels = [("executor", "docker"), ("status", "failed")];
    assert_eq!(
        after.get("lectern_builds_finished_total", &failed_labels),
        1.0
    );
    assert_eq!(after.get("lectern_builds_finished_total", &passed), 1.0);
    assert_eq!(after.get("lectern_builds_running", &docker), 0.0);
    assert_eq!(after.get("lectern_live_subscriptions", &[]), 0.0);
    assert!(after.get("lectern_build_log_bytes_total", &[]) > first_bytes);
    assert_eq!(
        after.get(
            "lectern_notifications_total",
            &[("channel", "email"), ("outcome", "sent")]
        ),
        1.0
    );

    // A delivery with a wrong signature, and an unknown event: counted by outcome.
    let push = json!({ "ref": "refs/heads/main", "after": "f".repeat(40), "deleted": false,
                       "head_commit": null, "repository": { "id": 5001, "full_name": "octocat/hw1" } });
    let (status, _) = p
        .app
        .deliver(
            "push",
            "forged",
            &serde_json::to_vec(&push)?,
            Some("not the secret"),
        )
        .await?;
    assert_eq!(status, 401);
    let refused = scrape(&base).await?;
    assert_eq!(
        refused.get(
            "lectern_webhook_deliveries_total",
            &[("event", "push"), ("outcome", "rejected_signature")]
        ),
        1.0
    );

    // Requests by route template and GraphQL operations by name.
    p.octocat
        .gql("query MetricsProbe { me { login } }", json!({}))
        .await?
        .ok()?;
    p.octocat
        .gql("query MetricsProbe { nope }", json!({}))
        .await?;
    let named = scrape(&base).await?;
    assert_eq!(
        named.get(
            "lectern_graphql_operation_duration_seconds_count",
            &[("operation", "MetricsProbe"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        named.get(
            "lectern_graphql_operation_duration_seconds_count",
            &[("operation", "MetricsProbe"), ("outcome", "error")]
        ),
        1.0
    );
    assert!(
        named.sum(
            "lectern_http_request_duration_seconds_count",
            &[("route", "/graphql"), ("method", "POST"), ("status", "200")]
        ) >= 10.0
    );
    assert!(
        named.sum(
            "lectern_http_request_duration_seconds_count",
            &[("route", "/webhooks/github")]
        ) >= 1.0
    );

    // Bounded labels: no login, repository, build id or commit anywhere in a label.
    for (name, labels) in named.samples.keys() {
        assert!(name.starts_with("lectern_"), "{name}");
        // (`le` holds bucket bounds, numbers by nature.)
        for (_, value) in labels.iter().filter(|(k, _)| *k != "le") {
            for private in ["octocat", "hw1", &failing, &p.first_sha] {
                assert!(!value.contains(private), "{name} {labels:?}");
            }
            assert!(value != &id && value != &p.first_build, "{name} {labels:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_openly_on_the_private_listener_only() -> anyhow::Result<()> {
    let db = support::TestDb::new().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let private = format!("127.0.0.1:{port}");
    let server = ServerProcess::start(
        &db.url,
        &[
            ("LECTERN_METRICS_LISTEN", &private),
            ("LECTERN_EXECUTOR", "none"),
        ],
    )
    .await?;
    // The main listener does not serve them without a token configured, and says how to.
    let main = reqwest::get(format!("{}/metrics", server.base)).await?;
    assert_eq!(main.status(), 404);
    assert!(main.text().await?.contains("LECTERN_METRICS_LISTEN"));
    // The private one does, to anyone who reaches it.
    let _ = reqwest::get(format!("{}/healthz", server.base)).await?;
    let open = reqwest::get(format!("http://{private}/metrics")).await?;
    assert_eq!(open.status(), 200);
    let scrape = Scrape::parse(open.text().await?)?;
    assert!(
        scrape.get(
            "lectern_http_request_duration_seconds_count",
            &[("route", "/healthz"), ("method", "GET"), ("status", "200")]
        ) >= 1.0,
        "{}",
        scrape.text
    );
    assert_eq!(scrape.get("lectern_github_rate_limit_remaining", &[]), -1.0);
    // Only /metrics there.
    let other = reqwest::get(format!("http://{private}/graphql")).await?;
    assert_eq!(other.status(), 404);
    Ok(())
}
