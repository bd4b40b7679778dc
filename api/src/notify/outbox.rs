//! Writing a build's notifications in the transaction that ends it: whom they go to (the
//! student whose build it is, the course's staff who asked, the course's Slack channel) by
//! their preferences, each as one row keyed by (subject, channel, recipient), and a job per
//! row that delivers it.

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::{BuildStatus, NotificationChannel, NotificationKind, NotifyWhen};
use crate::db::models::Build;
use crate::db::models::job::Job;
use crate::db::models::notification::{NewNotification, Notification};

/// The job that delivers one notification.
pub const KIND: &str = "notify";

/// What the outbox may write.
#[derive(Clone, Copy, Debug)]
pub struct Outbox {
    /// Email can be sent (`SMTP_URL` is set).
    pub email: bool,
    /// Attempts before a notification is given up on.
    pub max_attempts: i32,
}

impl Outbox {
    /// Writes `row` and the job that delivers it, unless a row with its key exists; whether
    /// it was new.
    pub async fn put(
        &self,
        conn: &mut AsyncPgConnection,
        row: &NewNotification,
    ) -> diesel::QueryResult<bool> {
        let Some(id) = Notification::insert(conn, row).await? else {
            return Ok(false);
        };
        Job::enqueue_limited(
            conn,
            KIND,
            serde_json::json!({ "notification": id }),
            Some(format!("notify:{id}")),
            self.max_attempts,
        )
        .await?;
        Ok(true)
    }

    /// The outbox as the configuration allows it.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            email: config.notify.smtp_url.is_some(),
            max_attempts: config.notify.max_attempts,
        }
    }
}

/// What a student hears without having chosen.
pub const STUDENT_DEFAULT: NotifyWhen = NotifyWhen::Failures;

/// Whether someone who chose `when` hears of a build that ended `status`, when the build
/// before it (same branch or pull request) ended `previous`.
pub fn wants(when: NotifyWhen, status: BuildStatus, previous: Option<BuildStatus>) -> bool {
    if matches!(
        status,
        BuildStatus::Cancelled | BuildStatus::Queued | BuildStatus::Running
    ) {
        return false;
    }
    let passed = status == BuildStatus::Passed;
    match when {
        NotifyWhen::Never => false,
        NotifyWhen::Always => true,
        NotifyWhen::Failures => !passed,
        NotifyWhen::Changes => previous.is_none_or(|p| (p == BuildStatus::Passed) != passed),
    }
}

#[derive(diesel::QueryableByName)]
struct Recipient {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Bool)]
    owner: bool,
    #[diesel(sql_type = Text)]
    email_when: NotifyWhen,
}

#[derive(diesel::QueryableByName)]
struct Context {
    /// The outcome of the build before this one on its branch or pull request.
    #[diesel(sql_type = Nullable<Text>)]
    previous: Option<BuildStatus>,
    #[diesel(sql_type = Nullable<Text>)]
    slack_when: Option<NotifyWhen>,
    #[diesel(sql_type = BigInt)]
    owner_id: i64,
    /// For a regrade: the score of the build it ran again.
    #[diesel(sql_type = Nullable<diesel::sql_types::Numeric>)]
    regraded_score: Option<bigdecimal::BigDecimal>,
    #[diesel(sql_type = Bool)]
    regraded: bool,
}

/// Writes the notifications of `build`, which has just ended; how many.
pub async fn write(
    conn: &mut AsyncPgConnection,
    build: &Build,
    outbox: &Outbox,
) -> diesel::QueryResult<usize> {
    let context: Context = diesel::sql_query(
        "SELECT \
           (SELECT p.status FROM builds p \
             WHERE p.repository_id = b.repository_id AND p.id < b.id \
               AND p.status IN ('passed', 'failed', 'errored', 'timed_out') \
               AND p.branch IS NOT DISTINCT FROM b.branch \
               AND p.pr_number IS NOT DISTINCT FROM b.pr_number \
             ORDER BY p.id DESC LIMIT 1) AS previous, \
           CASE WHEN c.slack_webhook IS NOT NULL THEN c.slack_when END AS slack_when, \
           r.owner_id, \
           o.score AS regraded_score, \
           (b.retry_of IS NOT NULL AND b.triggered_by IS NOT NULL \
             AND b.triggered_by <> r.owner_id) AS regraded \
         FROM builds b \
         JOIN repositories r ON r.id = b.repository_id \
         JOIN courses c ON c.id = b.course_id \
         LEFT JOIN builds o ON o.id = b.retry_of \
         WHERE b.id = $1",
    )
    .bind::<BigInt, _>(build.id)
    .get_result(conn)
    .await?;
    let recipients: Vec<Recipient> = if outbox.email {
        diesel::sql_query(
            "SELECT u.id AS user_id, u.id = $2 AS owner, \
               CASE WHEN u.id = $2 THEN COALESCE(pc.email, pd.email, $3) \
                    ELSE COALESCE(pc.email, 'never') END AS email_when \
             FROM users u \
             LEFT JOIN memberships m ON m.user_id = u.id AND m.course_id = $1 \
             LEFT JOIN notification_preferences pc ON pc.user_id = u.id AND pc.course_id = $1 \
             LEFT JOIN notification_preferences pd ON pd.user_id = u.id AND pd.course_id IS NULL \
             WHERE u.email IS NOT NULL AND (u.id = $2 OR m.role IN ('ta', 'instructor')) \
             ORDER BY u.id",
        )
        .bind::<BigInt, _>(build.course_id)
        .bind::<BigInt, _>(context.owner_id)
        .bind::<Text, _>(STUDENT_DEFAULT)
        .load(conn)
        .await?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    if context.regraded {
        // A regrade is news to its student only if it changed the score.
        if context.regraded_score != build.score
            && let Some(owner) = recipients.iter().find(|r| r.owner)
            && owner.email_when != NotifyWhen::Never
        {
            rows.push(new(build, NotificationKind::Regrade, Some(owner.user_id)));
        }
    } else {
        for r in &recipients {
            if wants(r.email_when, build.status, context.previous) {
                rows.push(new(build, NotificationKind::Build, Some(r.user_id)));
            }
        }
        if let Some(when) = context.slack_when
            && wants(when, build.status, context.previous)
        {
            rows.push(new(build, NotificationKind::Build, None));
        }
    }
    let mut written = 0;
    for row in &rows {
        written += usize::from(outbox.put(conn, row).await?);
    }
    Ok(written)
}

/// A notification of `build` to `user_id` by email, or to the course's Slack (`None`).
fn new(build: &Build, kind: NotificationKind, user_id: Option<i64>) -> NewNotification {
    let channel = match user_id {
        Some(_) => NotificationChannel::Email,
        None => NotificationChannel::Slack,
    };
    let recipient = user_id.map_or_else(
        || format!("course:{}", build.course_id),
        |id| format!("user:{id}"),
    );
    NewNotification {
        course_id: build.course_id,
        build_id: Some(build.id),
        kind,
        channel,
        user_id,
        idempotency_key: format!("{kind}:{}:{channel}:{recipient}", build.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildStatus::{Cancelled, Errored, Failed, Passed, TimedOut};

    #[test]
    fn each_choice_hears_what_it_says() {
        use NotifyWhen::{Always, Changes, Failures, Never};
        for status in [Passed, Failed, Errored, TimedOut] {
            assert!(!wants(Never, status, None));
            assert!(wants(Always, status, Some(status)));
            assert_eq!(wants(Failures, status, None), status != Passed);
        }
        // Changes: failed after passing, fixed after failing, and the first build.
        assert!(wants(Changes, Failed, Some(Passed)));
        assert!(wants(Changes, Passed, Some(Failed)));
        assert!(wants(Changes, Passed, Some(TimedOut)));
        assert!(wants(Changes, Failed, None));
        assert!(!wants(Changes, Failed, Some(Errored)), "still failing");
        assert!(!wants(Changes, Passed, Some(Passed)));
        // A cancelled build is news to no one.
        assert!(!wants(Always, Cancelled, None));
    }
}
