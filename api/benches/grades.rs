//! The grade matrix at the size of a large course — 300 students × 10 assignments over
//! 100 000 builds — against a real server and PostgreSQL: latency and the number of SQL
//! statements per request, beside a baseline GraphQL query (`me`) measured in the same run.
//! Run with `scripts/bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::RunQueryDsl as _;
use serde_json::json;
use support::{Client, TestApp};

const STUDENTS: i64 = 300;
const ASSIGNMENTS: usize = 10;
/// Builds per repository: 3 000 repositories × 34 ≈ 102 000 builds.
const BUILDS_PER_REPOSITORY: i64 = 34;
const REQUESTS: usize = 400;
/// Clients at once: one alone, then as many as this machine has cores.
const CONCURRENCY: [usize; 2] = [1, 2];

/// Every statement any connection of this process starts.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Figure {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(
    client: &std::sync::Arc<Client>,
    document: &'static str,
    variables: serde_json::Value,
    concurrency: usize,
) -> anyhow::Result<Figure> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, variables) = (client.clone(), variables.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in (worker..REQUESTS).step_by(concurrency) {
                let t = Instant::now();
                client.gql(document, variables.clone()).await?.ok()?;
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Figure {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    })
}

/// The fewest statements one request took over a few sequential tries (background work of
/// the server, such as the queue's polling, can only add to a try).
async fn statements(
    client: &Client,
    document: &'static str,
    variables: serde_json::Value,
) -> anyhow::Result<u64> {
    let mut fewest = u64::MAX;
    for _ in 0..20 {
        let before = STATEMENTS.load(Ordering::SeqCst);
        client.gql(document, variables.clone()).await?.ok()?;
        fewest = fewest.min(STATEMENTS.load(Ordering::SeqCst) - before);
    }
    Ok(fewest)
}

const MATRIX: &str = "query($c: ID!) { gradeMatrix(courseId: $c) {
    assignments { id slug }
    rows { student { login } total cells { assignmentId gradedBuildId score maxScore late latestStatus } } } }";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter)))?;
    let app = TestApp::builder()
        .env("LECTERN_DB_POOL_SIZE", "8")
        .start()
        .await?;
    let ada = std::sync::Arc::new(app.sign_in("ada").await?);
    let course = app.course(&ada, "big").await?;
    for a in 0..ASSIGNMENTS {
        app.assignment(&ada, &course, &format!("hw{a}"), json!({}))
            .await?;
    }
    let seeding = Instant::now();
    let mut conn = app.db.conn().await?;
    let course_id: i64 = course.parse()?;
    // Numbers only, written into the statements (nothing here comes from outside).
    for sql in [
        format!("INSERT INTO users (login, name, email) SELECT 'student' || i, 'Student ' || i, 'student' || i || '@example.edu'
         FROM generate_series(1, {STUDENTS}) AS i"),
        format!("INSERT INTO memberships (course_id, user_id, role)
         SELECT {course_id}, id, 'student' FROM users WHERE login LIKE 'student%'"),
        format!("INSERT INTO repositories (course_id, assignment_id, owner_id, github_repo_id, full_name, clone_url, webhook_status)
         SELECT {course_id}, a.id, u.id, 1000000 + row_number() OVER (), u.login || '/' || a.slug, 'https://github.com/x/y.git', 'active'
         FROM users u, assignments a WHERE u.login LIKE 'student%' AND a.course_id = {course_id}"),
        format!("INSERT INTO builds (repository_id, course_id, assignment_id, number, trigger, branch, commit_sha, status,
                             queued_at, started_at, finished_at, tests_passed, tests_failed, score, max_score)
         SELECT r.id, r.course_id, r.assignment_id, n, 'push', CASE WHEN n % 4 = 0 THEN 'feature' ELSE 'main' END,
                md5(r.id || '-' || n) || '00000000', CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'passed' END,
                now() - make_interval(mins => 200 - n), now() - make_interval(mins => 200 - n),
                now() - make_interval(mins => 199 - n), 4, n % 3, (100 - (n % 3) * 10)::numeric, 100
         FROM repositories r, generate_series(1, {BUILDS_PER_REPOSITORY}) AS n WHERE r.course_id = {course_id}"),
        "ANALYZE".to_owned(),
    ] {
        diesel::sql_query(sql).execute(&mut conn).await?;
    }
    let builds: i64 = diesel::sql_query("SELECT count(*) AS n FROM builds")
        .get_result::<Count>(&mut conn)
        .await?
        .n;
    println!(
        "Grade matrix benchmark: {STUDENTS} students × {ASSIGNMENTS} assignments, {builds} builds (seeded in {:.1} s); \
         {REQUESTS} requests per scenario and client count\n",
        seeding.elapsed().as_secs_f64()
    );
    let check = ada.gql(MATRIX, json!({ "c": course })).await?.ok()?;
    let rows = check.at("gradeMatrix.rows").as_array().map_or(0, Vec::len);
    anyhow::ensure!(rows == STUDENTS as usize, "the matrix has {rows} rows");

    let baseline_statements = statements(&ada, "{ me { login } }", json!({})).await?;
    let matrix_statements = statements(&ada, MATRIX, json!({ "c": course })).await?;
    println!(
        "{:<40} {:>8} {:>8} {:>9} {:>9} {:>12} {:>11}",
        "scenario", "clients", "req/s", "p50 ms", "p99 ms", "vs baseline", "statements"
    );
    for clients in CONCURRENCY {
        let baseline = measure(&ada, "{ me { login } }", json!({}), clients).await?;
        let matrix = measure(&ada, MATRIX, json!({ "c": course }), clients).await?;
        for (name, f, n) in [
            ("me (baseline)", &baseline, baseline_statements),
            (
                "gradeMatrix (300 × 10, 100k builds)",
                &matrix,
                matrix_statements,
            ),
        ] {
            println!(
                "{:<40} {:>8} {:>8.0} {:>9.2} {:>9.2} {:>11.2}x {:>11}",
                name,
                clients,
                f.per_second,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.per_second / baseline.per_second,
                n
            );
        }
    }
    println!(
        "\nstatements: every query the server's connections start during one request, fewest of 20 tries; \
         they include the session lookup, and the pool's liveness check (SELECT 1) for a connection idle over 5 s"
    );
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
