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
    Ok(())
}
