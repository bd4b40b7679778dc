//! Request throughput and latency of the API against a real server and PostgreSQL, each
//! figure next to a baseline measured in the same run (`GET /healthz`: routing and HTTP
//! only), so results compare across machines. Run with `scripts/bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Client, TestApp};

const REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 16;
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";

struct Figure {
    name: &'static str,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Sends `REQUESTS` requests from `CONCURRENCY` tasks; every answer must be a success.
async fn measure<F, Fut>(name: &'static str, make: F) -> anyhow::Result<Figure>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let make = std::sync::Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while i < REQUESTS {
                let t = Instant::now();
                make(i).await?;
                latencies.push(t.elapsed());
                i += CONCURRENCY;
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(REQUESTS);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Figure {
        name,
        per_second: REQUESTS as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    })
}

async fn query(client: &Client, document: &str, variables: Value) -> anyhow::Result<()> {
    client.gql(document, variables).await?.ok()?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("LECTERN_DB_POOL_SIZE", "16")
        .env("LECTERN_METRICS_TOKEN", METRICS_TOKEN)
        .start()
        .await?;
    let ada = app.sign_in("ada").await?;
    // A realistic instructor: five courses, one with 200 students and 20 assignments.
    let mut big = String::new();
    for c in 0..5 {
        let id = app.course(&ada, &format!("course-{c}")).await?;
        if c == 0 {
            big = id;
        }
    }
    for a in 0..20 {
        ada.gql(
            "mutation($c: ID!, $s: String!) { createAssignment(input: { courseId: $c, slug: $s, title: $s, image: \"python:3.12\", testCommand: \"pytest\" }) { id } }",
            json!({ "c": big, "s": format!("hw{a}") }),
        )
        .await?
        .ok()?;
    }
    let invite = ada
        .gql(
            "mutation($c: ID!) { createInvite(input: { courseId: $c, role: STUDENT }) { code } }",
            json!({ "c": big }),
        )
        .await?
        .ok()?;
    let code = invite.str_at("createInvite.code")?.to_owned();
    for s in 0..200 {
        let student = app.sign_in(&format!("student{s}")).await?;
        student
            .gql(
                "mutation($code: String!) { joinCourse(code: $code) { id } }",
                json!({ "code": code }),
            )
            .await?
            .ok()?;
    }
    let ada = std::sync::Arc::new(ada);
    let base = app.base.clone();
    let http = reqwest::Client::new();

    println!(
        "Lectern API benchmark: {REQUESTS} requests per scenario, {CONCURRENCY} concurrent clients\n"
    );
    let mut figures = Vec::new();
    figures.push(
        measure("GET /healthz (baseline)", move |_| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let resp = http.get(format!("{base}/healthz")).send().await?;
                anyhow::ensure!(resp.status().is_success());
                Ok(())
            }
        })
        .await?,
    );
    let scenarios: [(&'static str, &'static str); 3] = [
        ("me (session + GraphQL)", "{ me { login } }"),
        (
            "me.courses with counts (5 courses)",
            "{ me { courses { slug name counts { students assignments } } } }",
        ),
        (
            "course page (20 assignments, 201 members)",
            "{ course(slug: \"course-0\") { name assignments { slug title points dueAt } members { role user { login } } } }",
        ),
    ];
    for (name, document) in scenarios {
        let client = ada.clone();
        figures.push(
            measure(name, move |_| {
                let client = client.clone();
                async move { query(&client, document, json!({})).await }
            })
            .await?,
        );
    }
    let client = ada.clone();
    let course = big.clone();
    figures.push(
        measure("createInvite (a write)", move |_| {
            let (client, course) = (client.clone(), course.clone());
            async move {
                query(&client, "mutation($c: ID!) { createInvite(input: { courseId: $c, role: STUDENT }) { code } }", json!({ "c": course })).await
            }
        })
        .await?,
    );

    let http = reqwest::Client::new();
    let base = app.base.clone();
    figures.push(
        measure("GET /metrics (a scrape: queue and pool read)", move |_| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let resp = http
                    .get(format!("{base}/metrics"))
                    .bearer_auth(METRICS_TOKEN)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().is_success());
                anyhow::ensure!(resp.text().await?.contains("lectern_queue_depth"));
                Ok(())
            }
        })
        .await?,
    );
    let (observe, clock) = observation_cost();

    let webhooks = webhook_rate(&app).await?;
    let pgbench = pgbench_baseline(&app.db.url).await;

    let baseline = figures[0].per_second;
    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>12}",
        "scenario", "req/s", "p50 ms", "p99 ms", "vs baseline"
    );
    for f in &figures {
        println!(
            "{:<44} {:>10.0} {:>9.2} {:>9.2} {:>11.2}x",
            f.name,
            f.per_second,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.per_second / baseline
        );
    }
    println!(
        "\nRecording one request in the metrics (label lookup + histogram): {observe:.0} ns; \
         baseline, reading the clock twice as the timing needs: {clock:.0} ns ({:.1}x)",
        observe / clock
    );
    println!("\nWebhook acknowledgement at a fixed rate (signed push, distinct delivery ids):");
    println!(
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>14}",
        "target/s", "achieved/s", "p50 ms", "p99 ms", "max ms", "stored/sent"
    );
    for w in &webhooks {
        println!(
            "{:<16} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>8}/{:<5}",
            w.rate,
            w.achieved,
            w.p50.as_secs_f64() * 1e3,
            w.p99.as_secs_f64() * 1e3,
            w.max.as_secs_f64() * 1e3,
            w.stored,
            w.sent
        );
    }
    match pgbench {
        Ok(line) => println!("baseline, PostgreSQL single-row INSERT at 200/s (pgbench): {line}"),
        Err(err) => println!("baseline, pgbench: not measured ({err})"),
    }
    Ok(())
}

struct RateFigure {
    rate: u32,
    achieved: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    sent: usize,
    stored: i64,
}

/// Posts signed pushes at `rate` per second for a few seconds, then checks every accepted
/// delivery is in the database with its build.
async fn webhook_rate(app: &TestApp) -> anyhow::Result<Vec<RateFigure>> {
    let ada = app.sign_in("hooks-admin").await?;
    let course = app.course(&ada, "hooks").await?;
    let created = ada
        .gql(
            "mutation($c: ID!) { createAssignment(input: { courseId: $c, slug: \"hw\", title: \"HW\", image: \"python:3.12\", testCommand: \"pytest\" }) { id } }",
            json!({ "c": course }),
        )
        .await?
        .ok()?;
    let assignment = created.str_at("createAssignment.id")?.to_owned();
    let repo = app
        .link_repository(&assignment, "hooks-student", 4242, "student/hw")
        .await?;
    let body = serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "after": "a".repeat(40), "deleted": false,
        "head_commit": { "id": "a".repeat(40), "message": "work", "author": { "name": "S", "username": "s" } },
        "repository": { "id": 4242, "full_name": "student/hw" }
    }))?;
    let signature = lectern::forge::github::webhook::sign(repo.secret.as_bytes(), &body);
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/github", app.base);
    let mut figures = Vec::new();
    let mut total_sent = 0usize;
    for rate in [100u32, 200, 400] {
        let count = rate as usize * 5;
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            ticker.tick().await;
            let (http, url, body, signature) =
                (http.clone(), url.clone(), body.clone(), signature.clone());
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let resp = http
                    .post(url)
                    .header("x-github-event", "push")
                    .header("x-github-delivery", format!("rate-{rate}-{i}"))
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(resp.status().as_u16() == 202, "answered {}", resp.status());
                Ok::<_, anyhow::Error>(t.elapsed())
            }));
        }
        let mut latencies = Vec::with_capacity(count);
        for task in tasks {
            latencies.push(task.await??);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        total_sent += count;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = app.db.conn().await?;
        let stored: Count = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT count(*) AS n FROM webhook_deliveries d JOIN builds b ON b.id = d.build_id WHERE d.outcome = 'queued' AND d.delivery_id LIKE 'rate-%'",
            ),
            &mut conn,
        )
        .await?;
        anyhow::ensure!(
            stored.n as usize == total_sent,
            "lost deliveries: {} stored of {total_sent}",
            stored.n
        );
        figures.push(RateFigure {
            rate,
            achieved: count as f64 / elapsed.as_secs_f64(),
            p50: latencies[count / 2],
            p99: latencies[count * 99 / 100],
            max: latencies[count - 1],
            sent: total_sent,
            stored: stored.n,
        });
    }
    Ok(figures)
}

/// pgbench inserting single rows at 200/s into a scratch table of the bench database.
async fn pgbench_baseline(url: &str) -> anyhow::Result<String> {
    let pgbench = std::env::var("PGBENCH").unwrap_or_else(|_| "pgbench".into());
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(url).await?;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"),
        &mut conn,
    )
    .await?;
    let script = std::env::temp_dir().join(format!("lectern-pgbench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "INSERT INTO bench_rows (body) VALUES ('delivery');\n",
    )?;
    let output = tokio::process::Command::new(pgbench)
        .args(["-n", "-c", "4", "-j", "2", "-R", "200", "-T", "5", "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .await?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pick = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .map(str::trim)
            .unwrap_or("")
            .to_owned()
    };
    Ok(format!(
        "{}; {}",
        pick("latency average"),
        pick("latency stddev")
    ))
}

/// Nanoseconds per request-latency observation, and per pair of clock readings (the
/// timing any measurement needs) as its baseline.
fn observation_cost() -> (f64, f64) {
    const N: u32 = 1_000_000;
    let metrics = lectern::metrics::get();
    let started = Instant::now();
    for i in 0..N {
        metrics
            .http_requests
            .with_label_values(&["/graphql", "POST", if i % 10 == 0 { "400" } else { "200" }])
            .observe(0.001);
    }
    let observe = started.elapsed().as_nanos() as f64 / f64::from(N);
    let started = Instant::now();
    let mut sum = Duration::ZERO;
    for _ in 0..N {
        sum += std::hint::black_box(Instant::now()).elapsed();
    }
    std::hint::black_box(sum);
    let clock = started.elapsed().as_nanos() as f64 / f64::from(N);
    (observe, clock)
}
