//! The daily digest: once a day, after `LECTERN_DIGEST_HOUR` (UTC), each of a course's
//! staff who asked for it gets one email summing up the course's last 24 hours of builds.
//! Each is an outbox row keyed by (course, day, person), so however often the check runs,
//! and on however many servers, a day's digest is written once.

use std::time::Duration;

use chrono::{DateTime, Timelike as _, Utc};
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::outbox::Outbox;
use super::render::Digest;
use crate::app::App;
use crate::db::enums::{BuildStatus, NotificationChannel, NotificationKind};
use crate::db::models::notification::NewNotification;

/// How often the server checks whether the day's digests are due.
const EVERY: Duration = Duration::from_secs(600);
/// Failing students named in a digest; the rest are counted.
const MAX_NAMED: usize = 30;

#[derive(diesel::QueryableByName)]
struct Subscriber {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    course_id: i64,
}

/// Writes the day's digests once `hour` (UTC) has passed; how many were new.
pub async fn enqueue_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    hour: u32,
    outbox: &Outbox,
) -> diesel::QueryResult<usize> {
    if !outbox.email || now.hour() < hour {
        return Ok(0);
    }
    let subscribers: Vec<Subscriber> = diesel::sql_query(
        "SELECT p.user_id, p.course_id FROM notification_preferences p \
         JOIN memberships m ON m.user_id = p.user_id AND m.course_id = p.course_id \
         JOIN users u ON u.id = p.user_id \
         JOIN courses c ON c.id = p.course_id \
         WHERE p.daily_digest AND m.role IN ('ta', 'instructor') \
           AND u.email IS NOT NULL AND c.archived_at IS NULL \
         ORDER BY p.course_id, p.user_id",
    )
    .load(conn)
    .await?;
    let day = now.date_naive();
    let mut written = 0;
    for s in subscribers {
        let row = NewNotification {
            course_id: s.course_id,
            build_id: None,
            kind: NotificationKind::Digest,
            channel: NotificationChannel::Email,
            user_id: Some(s.user_id),
            idempotency_key: format!("digest:{}:{day}:email:user:{}", s.course_id, s.user_id),
        };
        written += usize::from(outbox.put(conn, &row).await?);
    }
    Ok(written)
}

/// Checks every [`EVERY`] whether the day's digests are due, for as long as the server runs.
pub async fn every_day(app: App) {
    let outbox = Outbox::of(&app.config);
    if !outbox.email {
        return;
    }
    loop {
        let written = async {
            let mut conn = app.db().await?;
            Ok::<_, crate::error::AppError>(
                enqueue_due(
                    &mut conn,
                    Utc::now(),
                    app.config.notify.digest_hour,
                    &outbox,
                )
                .await?,
            )
        }
        .await;
        match written {
            Ok(0) => {}
            Ok(n) => tracing::info!(digests = n, "daily digests queued"),
            Err(err) => tracing::warn!(error = %err, "could not queue the daily digests"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    status: BuildStatus,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Latest {
    #[diesel(sql_type = Text)]
    login: String,
    #[diesel(sql_type = Text)]
    assignment: String,
    #[diesel(sql_type = Text)]
    status: BuildStatus,
}

/// A course's day of builds, as [`load`] reads it.
pub struct Day {
    /// Finished builds per status, most first.
    pub counts: Vec<(BuildStatus, i64)>,
    /// Students who pushed.
    pub students: i64,
    /// (login, assignment, status) of each repository whose latest build did not pass.
    pub failing: Vec<(String, String, BuildStatus)>,
}

/// The last 24 hours (before `until`) of course `course_id`'s builds.
pub async fn load(
    conn: &mut AsyncPgConnection,
    course_id: i64,
    until: DateTime<Utc>,
) -> diesel::QueryResult<Day> {
    let since = until - chrono::TimeDelta::days(1);
    let counts: Vec<Count> = diesel::sql_query(
        "SELECT status, count(*) AS n FROM builds \
         WHERE course_id = $1 AND finished_at > $2 AND finished_at <= $3 \
         GROUP BY status ORDER BY n DESC, status",
    )
    .bind::<BigInt, _>(course_id)
    .bind::<Timestamptz, _>(since)
    .bind::<Timestamptz, _>(until)
    .load(conn)
    .await?;
    #[derive(diesel::QueryableByName)]
    struct Students {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let students: Students = diesel::sql_query(
        "SELECT count(DISTINCT r.owner_id) AS n FROM builds b \
         JOIN repositories r ON r.id = b.repository_id \
         WHERE b.course_id = $1 AND b.received_at > $2 AND b.received_at <= $3",
    )
    .bind::<BigInt, _>(course_id)
    .bind::<Timestamptz, _>(since)
    .bind::<Timestamptz, _>(until)
    .get_result(conn)
    .await?;
    let latest: Vec<Latest> = diesel::sql_query(
        "SELECT login, assignment, status FROM ( \
           SELECT DISTINCT ON (b.repository_id) u.login, a.title AS assignment, b.status \
           FROM builds b \
           JOIN repositories r ON r.id = b.repository_id \
           JOIN users u ON u.id = r.owner_id \
           JOIN assignments a ON a.id = b.assignment_id \
           WHERE b.course_id = $1 AND b.finished_at > $2 AND b.finished_at <= $3 \
             AND b.status <> 'cancelled' \
           ORDER BY b.repository_id, b.id DESC) latest \
         WHERE status <> 'passed' ORDER BY login, assignment",
    )
    .bind::<BigInt, _>(course_id)
    .bind::<Timestamptz, _>(since)
    .bind::<Timestamptz, _>(until)
    .load(conn)
    .await?;
    Ok(Day {
        counts: counts.into_iter().map(|c| (c.status, c.n)).collect(),
        students: students.n,
        failing: latest
            .into_iter()
            .map(|l| (l.login, l.assignment, l.status))
            .collect(),
    })
}

/// The digest of `day` in a course, whose page is at `url`.
pub fn digest(course: String, course_slug: String, day: Day, url: String) -> Digest {
    let Day {
        counts,
        students,
        failing,
    } = day;
    Digest {
        course,
        course_slug,
        counts,
        students,
        more_failing: failing.len().saturating_sub(MAX_NAMED),
        failing: failing.into_iter().take(MAX_NAMED).collect(),
        url,
    }
}
