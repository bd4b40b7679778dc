//! The job that delivers one notification: render it for its recipient, send it, record
//! how that went (see the crate-level notes in [`super`] on a crash mid-send).

use diesel_async::AsyncPgConnection;

use super::Failure;
use super::email::Email;
use super::render::{self, MAX_NAMED_FAILURES, Notice};
use crate::app::App;
use crate::db::enums::{BuildStatus, NotificationChannel, NotificationStatus, TestOutcome};
use crate::db::models::job::Job;
use crate::db::models::notification::Notification;
use crate::db::models::test_result::TestResult;
use crate::db::models::{Assignment, Build, Course, Repository, User};
use crate::jobs::JobError;

/// A notification rendered for its recipient.
struct Rendered {
    subject: String,
    text: String,
    html: String,
    /// The Slack message (notifications of builds only).
    slack: Option<serde_json::Value>,
}

impl Rendered {
    fn of(notice: &Notice) -> Self {
        Self {
            subject: render::subject(notice),
            text: render::text(notice),
            html: render::html(notice),
            slack: Some(render::slack(notice)),
        }
    }
}

/// Where a rendered notification goes.
enum Target {
    Email(lettre::message::Mailbox),
    /// The webhook URL, opened.
    Slack(String),
}

fn retry(err: impl std::fmt::Display) -> JobError {
    JobError::Retry(err.to_string())
}

pub async fn handle(app: &App, job: &Job) -> Result<(), JobError> {
    let id = job.payload["notification"]
        .as_i64()
        .ok_or_else(|| JobError::Permanent("a notification job names no notification".into()))?;
    let mut conn = app.db().await.map_err(retry)?;
    let notification = match Notification::find(&mut conn, id).await {
        Ok(n) => n,
        // Deleted with its build or course.
        Err(diesel::result::Error::NotFound) => return Ok(()),
        Err(err) => return Err(retry(err)),
    };
    match notification.status {
        NotificationStatus::Pending => {}
        NotificationStatus::Sending => {
            tracing::warn!(
                notification = id,
                "a notification was being sent when its server stopped; not sending it again"
            );
            Notification::settle(
                &mut conn,
                id,
                NotificationStatus::Unconfirmed,
                Some("the server stopped while sending it: it may have arrived, and is not sent again so that no one gets it twice"),
            )
            .await
            .map_err(retry)?;
            crate::metrics::get()
                .notification_settled(notification.channel, NotificationStatus::Unconfirmed);
            return Ok(());
        }
        _ => return Ok(()),
    }
    let composed = match notification.kind {
        crate::db::enums::NotificationKind::Digest => {
            compose_digest(app, &mut conn, &notification).await
        }
        _ => compose(app, &mut conn, &notification)
            .await
            .map(|(target, notice)| (target, Rendered::of(&notice))),
    };
    let (target, rendered) = match composed {
        Ok(composed) => composed,
        Err(JobError::Permanent(why)) => {
            Notification::settle(&mut conn, id, NotificationStatus::Failed, Some(&why))
                .await
                .map_err(retry)?;
            return Err(JobError::Permanent(why));
        }
        Err(JobError::Retry(why)) if job.attempts >= job.max_attempts => {
            let why = format!("gave up after {} attempts: {why}", job.attempts);
            Notification::settle(&mut conn, id, NotificationStatus::Failed, Some(&why))
                .await
                .map_err(retry)?;
            return Err(JobError::Permanent(why));
        }
        Err(other) => return Err(other),
    };
    if !Notification::start_sending(&mut conn, id)
        .await
        .map_err(retry)?
    {
        return Ok(());
    }
    // No connection is held while the message travels.
    drop(conn);
    let sent = match target {
        Target::Email(to) => match &app.mailer {
            Some(mailer) => {
                mailer
                    .send(Email {
                        to,
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                        message_id: message_id(app, &notification),
                    })
                    .await
            }
            None => Err(Failure::Permanent(
                "email is not configured on this server (SMTP_URL)".into(),
            )),
        },
        Target::Slack(url) => match &rendered.slack {
            Some(message) => super::slack::post(&app.http, &url, message).await,
            None => Err(Failure::Permanent(
                "this notification has no Slack form".into(),
            )),
        },
    };
    let mut conn = app.db().await.map_err(retry)?;
    let last = job.attempts >= job.max_attempts;
    let (status, error, outcome) = match sent {
        Ok(()) => (NotificationStatus::Sent, None, Ok(())),
        Err(Failure::Permanent(why)) => (
            NotificationStatus::Failed,
            Some(why.clone()),
            Err(JobError::Permanent(why)),
        ),
        Err(Failure::Retry(why) | Failure::RetryAfter(why, _)) if last => {
            let why = format!("gave up after {} attempts: {why}", job.attempts);
            (
                NotificationStatus::Failed,
                Some(why.clone()),
                Err(JobError::Permanent(why)),
            )
        }
        Err(Failure::Retry(why)) => (
            NotificationStatus::Pending,
            Some(why.clone()),
            Err(JobError::Retry(why)),
        ),
        Err(Failure::RetryAfter(why, after)) => (
            NotificationStatus::Pending,
            Some(why.clone()),
            Err(JobError::RetryAfter(why, after)),
        ),
    };
    Notification::settle(&mut conn, id, status, error.as_deref())
        .await
        .map_err(retry)?;
    crate::metrics::get().notification_settled(notification.channel, status);
    match status {
        NotificationStatus::Sent => {
            tracing::info!(notification = id, channel = %notification.channel, "notification sent");
        }
        _ => {
            tracing::warn!(notification = id, channel = %notification.channel, status = %status, error = error.as_deref().unwrap_or_default(), "notification not sent");
        }
    }
    outcome
}

/// The `Message-ID` of a notification's email: the same on every attempt.
fn message_id(app: &App, notification: &Notification) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(notification.idempotency_key.as_bytes());
    let host = app
        .config
        .public_url
        .host_str()
        .unwrap_or("lectern.invalid");
    format!("<notification-{}@{host}>", hex::encode(&digest[..16]))
}

/// The address of user `user_id`, as a mailbox with their name.
async fn mailbox(conn: &mut AsyncPgConnection, user_id: i64) -> Result<Target, JobError> {
    let user = User::find(conn, user_id).await.map_err(retry)?;
    let address = user
        .email
        .clone()
        .ok_or_else(|| JobError::Permanent(format!("{} has no email address", user.login)))?;
    let mailbox = format!(
        "{} <{address}>",
        user.name.as_deref().unwrap_or(&user.login)
    )
    .parse()
    .or_else(|_| address.parse())
    .map_err(|e| JobError::Permanent(format!("{address} is not an address: {e}")))?;
    Ok(Target::Email(mailbox))
}

/// A daily digest, for the staff member it is for.
async fn compose_digest(
    app: &App,
    conn: &mut AsyncPgConnection,
    notification: &Notification,
) -> Result<(Target, Rendered), JobError> {
    let user_id = notification
        .user_id
        .ok_or_else(|| JobError::Permanent("a digest is for a person".into()))?;
    let target = mailbox(conn, user_id).await?;
    let course = Course::find(conn, notification.course_id)
        .await
        .map_err(retry)?;
    let loaded = super::digest::load(conn, course.id, notification.created_at)
        .await
        .map_err(retry)?;
    let url = format!(
        "{}/courses/{}",
        app.config.public_url.as_str().trim_end_matches('/'),
        course.slug
    );
    let digest = super::digest::digest(course.name, course.slug, loaded, url);
    Ok((
        target,
        Rendered {
            subject: render::digest_subject(&digest),
            text: render::digest_text(&digest),
            html: render::digest_html(&digest),
            slack: None,
        },
    ))
}

/// The notification as its recipient may read it, and where it goes.
async fn compose(
    app: &App,
    conn: &mut AsyncPgConnection,
    notification: &Notification,
) -> Result<(Target, Notice), JobError> {
    let build_id = notification
        .build_id
        .ok_or_else(|| JobError::Permanent("this kind of notification is not sent yet".into()))?;
    let build = Build::find(conn, build_id).await.map_err(retry)?;
    let repository = Repository::find(conn, build.repository_id)
        .await
        .map_err(retry)?;
    let student = User::find(conn, repository.owner_id).await.map_err(retry)?;
    let course = Course::find(conn, build.course_id).await.map_err(retry)?;
    let assignment = Assignment::find(conn, build.assignment_id)
        .await
        .map_err(retry)?;
    // Hidden tests: staff see them; others once they are released.
    let reader = notification.user_id.unwrap_or(0);
    let release = Assignment::hidden_release(conn, &[assignment.id], reader)
        .await
        .map_err(retry)?;
    let sees_hidden = release.first().is_some_and(|(_, released_at, role)| {
        crate::auth::access::sees_hidden(false, *role, *released_at, chrono::Utc::now())
    });
    let target = match notification.channel {
        NotificationChannel::Email => mailbox(conn, reader).await?,
        NotificationChannel::Slack => {
            let sealed = Course::slack_webhook(conn, course.id)
                .await
                .map_err(retry)?
                .ok_or_else(|| {
                    JobError::Permanent("the course no longer has a Slack webhook".into())
                })?;
            let url = app
                .cipher
                .open(&super::slack::sealing_context(course.id), &sealed)
                .map_err(|_| {
                    JobError::Permanent(
                        "the course's Slack webhook cannot be opened (was LECTERN_SECRET_KEY changed?); set it again".into(),
                    )
                })?;
            Target::Slack(String::from_utf8_lossy(&url).into_owned())
        }
    };
    let results = TestResult::for_build(conn, build.id).await.map_err(retry)?;
    let failing: Vec<String> = results
        .iter()
        .filter(|r| sees_hidden || !r.hidden)
        .filter(|r| matches!(r.outcome, TestOutcome::Failed | TestOutcome::Errored))
        .map(|r| {
            if r.suite.is_empty() {
                r.name.clone()
            } else {
                format!("{}.{}", r.suite, r.name)
            }
        })
        .collect();
    let hidden_ran = build.hidden_tests_sha256.is_some() || results.iter().any(|r| r.hidden);
    let score = if sees_hidden {
        build.score.clone()
    } else {
        build.visible_score.clone().or_else(|| {
            // Without hidden tests, the score is all visible.
            (!hidden_ran).then(|| build.score.clone()).flatten()
        })
    };
    let notice = Notice {
        kind: notification.kind,
        course: course.name.clone(),
        course_slug: course.slug.clone(),
        assignment: assignment.title.clone(),
        student: match &student.name {
            Some(name) => format!("{} ({name})", student.login),
            None => student.login.clone(),
        },
        number: build.number,
        status: build.status,
        reason: build
            .status_reason
            .clone()
            .filter(|_| build.status != BuildStatus::Passed),
        branch: build.branch.clone(),
        pr_number: build.pr_number,
        commit_sha: build.commit_sha.clone(),
        commit_message: build.commit_message.clone(),
        score: score.zip(build.max_score.clone()),
        previous_score: match build.retry_of {
            Some(old) if notification.kind == crate::db::enums::NotificationKind::Regrade => {
                let old = Build::find(conn, old).await.map_err(retry)?;
                if sees_hidden {
                    old.score
                } else {
                    old.visible_score.or(old.score.filter(|_| !hidden_ran))
                }
            }
            _ => None,
        },
        more_failing: failing.len().saturating_sub(MAX_NAMED_FAILURES),
        failing: failing.into_iter().take(MAX_NAMED_FAILURES).collect(),
        hidden_withheld: hidden_ran && !sees_hidden,
        late: build.late,
        url: format!(
            "{}/builds/{}",
            app.config.public_url.as_str().trim_end_matches('/'),
            build.id
        ),
    };
    Ok((target, notice))
}
