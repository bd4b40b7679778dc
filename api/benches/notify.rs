//! Notification delivery against a real server's job runner, PostgreSQL and a real SMTP
//! server (`scripts/smtp-sink`): builds finishing with the outbox written in their
//! transaction, beside the same finishes writing nothing; then the time until every email
//! has arrived, beside the same number of messages sent straight through lettre to the same
//! SMTP server, one after another, in the same run. Run with `scripts/bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use lectern::db::enums::{BuildStatus, ExecutorKind};
use lectern::db::models::Build;
use lectern::db::models::build_queue::{RunRecord, Verdict};
use lectern::notify::email::{Email, Smtp};
use lectern::notify::outbox::Outbox;
use support::TestApp;
use support::mail::MailSink;

/// Notifications per run.
const N: usize = 200;

/// Claims and finishes `n` queued builds as failed, writing notifications through `outbox`;
/// the time each finish took.
async fn finish_builds(
    conn: &mut diesel_async::AsyncPgConnection,
    n: usize,
    outbox: &Outbox,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let build = Build::claim(
            conn,
            "bench",
            ExecutorKind::Local,
            Duration::from_secs(600),
            10_000,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no queued build to finish"))?;
        let started = Instant::now();
        Build::finish(
            conn,
            build.id,
            "bench",
            &Verdict::new(BuildStatus::Failed, Some(1)),
            None,
            &RunRecord::default(),
            outbox,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("build {} was not finished", build.id))?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(took)
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sink = MailSink::start(None)?;
    let smtp = sink.url();

    // Baseline: the same number of messages straight through lettre.
    let direct = Smtp::new(&smtp, "Bench <bench@example.edu>")?;
    let started = Instant::now();
    for i in 0..N {
        direct
            .send(Email {
                to: "student@example.edu".parse()?,
                subject: format!("direct {i}"),
                text: "text".into(),
                html: "<p>html</p>".into(),
                message_id: format!("<direct-{i}@bench>"),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    sink.wait_for(N, Duration::from_secs(120)).await?;
    let direct_took = started.elapsed();

    // Lectern: builds of one student whose email is known, each failing (students hear of
    // failures by default), finished as a worker finishes them.
    let app = TestApp::builder()
        .env("SMTP_URL", &smtp)
        .env("LECTERN_JOB_RETRY_BASE_MS", "100")
        .start()
        .await?;
    let repository = app.linked_repository().await?;
    let mut conn = app.db.conn().await?;
    diesel::update(
        lectern::db::schema::users::table.filter(lectern::db::schema::users::login.eq("octocat")),
    )
    .set(lectern::db::schema::users::email.eq("octocat@example.edu"))
    .execute(&mut conn)
    .await?;
    for i in 0..2 * N {
        app.manual_build_of(&repository, &format!("{i:040x}"))
            .await?;
    }
    // Baseline for the finish: the same finish, writing no notification.
    let silent = finish_builds(
        &mut conn,
        N,
        &Outbox {
            email: false,
            max_attempts: 8,
        },
    )
    .await?;
    let started = Instant::now();
    let written = finish_builds(&mut conn, N, &Outbox::of(&app.app.config)).await?;
    sink.wait_for(2 * N, Duration::from_secs(300)).await?;
    let outbox_took = started.elapsed();
    let sent: i64 = lectern::db::schema::notifications::table
        .filter(
            lectern::db::schema::notifications::status
                .eq(lectern::db::enums::NotificationStatus::Sent),
        )
        .count()
        .get_result(&mut conn)
        .await?;
    anyhow::ensure!(
        sent == i64::try_from(N)?,
        "{sent} of {N} notifications recorded as sent"
    );

    let rate = |took: Duration| N as f64 / took.as_secs_f64();
    println!("notifications: {N} emails to a local SMTP server (scripts/smtp-sink)");
    println!(
        "  finishing a build, median: {:.2} ms with its notification written in the same transaction, {:.2} ms writing none (×{:.2})",
        median(&written).as_secs_f64() * 1e3,
        median(&silent).as_secs_f64() * 1e3,
        median(&written).as_secs_f64() / median(&silent).as_secs_f64().max(1e-9)
    );
    println!(
        "  delivered through the outbox and job runner: {:.0} emails/s ({:.2} s for all, from the first finish to the last arrival)",
        rate(outbox_took),
        outbox_took.as_secs_f64()
    );
    println!(
        "  baseline, lettre straight to the server, one after another: {:.0} emails/s ({:.2} s) → ratio {:.2}",
        rate(direct_took),
        direct_took.as_secs_f64(),
        rate(outbox_took) / rate(direct_took)
    );
    Ok(())
}
