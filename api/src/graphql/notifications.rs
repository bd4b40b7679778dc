//! Notifications: what each person hears by email, a course's Slack channel, and what became
//! of the messages (for the course's staff).

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{app, db, parse_id, signed_in};
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::{NotificationChannel, NotificationKind, NotificationStatus, NotifyWhen};
use crate::db::models::Course;
use crate::db::models::notification::{Notification, Preference};
use crate::error::{AppError, GqlResult};
use crate::notify::outbox::STUDENT_DEFAULT;
use crate::notify::slack;

/// How far back the dashboard looks for messages that did not go.
const PROBLEMS_DAYS: i64 = 7;

/// Where a preference comes from.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreferenceSource {
    /// Set for this course.
    Course,
    /// The person's default.
    Default,
    /// Nothing set: Lectern's own default.
    BuiltIn,
}

/// What the viewer hears by email about builds in a course.
#[derive(SimpleObject)]
pub struct MyNotifications {
    /// Your own builds (as a student) and, for staff, every student's build.
    email: NotifyWhen,
    /// Staff: one email a day summing up the course's builds.
    daily_digest: bool,
    source: PreferenceSource,
    /// Whether this server sends email at all (`SMTP_URL`).
    email_enabled: bool,
    /// The address mail goes to (your verified GitHub email); null when there is none.
    address: Option<String>,
}

/// A course's Slack channel, as its instructors see it: the webhook URL is never shown back.
#[derive(SimpleObject)]
pub struct SlackSettings {
    configured: bool,
    /// Where the webhook goes and its last four characters.
    webhook_hint: Option<String>,
    when: NotifyWhen,
}

/// A channel whose messages did not go lately.
#[derive(SimpleObject)]
pub struct ChannelProblem {
    channel: NotificationChannel,
    /// Messages given up on (or unconfirmed) in the last seven days.
    failures: i64,
    last_error: Option<String>,
    last_at: DateTime<Utc>,
}

/// One message about a build, for the course's staff.
pub struct NotificationNode(pub Notification, pub Option<String>);

#[Object(name = "Notification")]
impl NotificationNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> NotificationKind {
        self.0.kind
    }
    async fn channel(&self) -> NotificationChannel {
        self.0.channel
    }
    /// The login of the person it is for; null for the course's Slack channel.
    async fn recipient(&self) -> Option<&str> {
        self.1.as_deref()
    }
    async fn status(&self) -> NotificationStatus {
        self.0.status
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The viewer's email settings for the course `access` is for.
pub async fn mine(ctx: &Context<'_>, access: &CourseAccess) -> GqlResult<MyNotifications> {
    let me = signed_in(ctx)?;
    let mut conn = db(ctx).await?;
    let (course, default) = Preference::of(&mut conn, me.user.id, access.course.id).await?;
    let staff_default = if access.is_staff() {
        NotifyWhen::Never
    } else {
        STUDENT_DEFAULT
    };
    let (email, daily_digest, source) = match (course, default) {
        (Some(p), _) => (p.email, p.daily_digest, PreferenceSource::Course),
        // The default is for one's own builds; staff hear of students' only if they ask.
        (None, Some(p)) if !access.is_staff() => (p.email, false, PreferenceSource::Default),
        _ => (staff_default, false, PreferenceSource::BuiltIn),
    };
    Ok(MyNotifications {
        email,
        daily_digest,
        source,
        email_enabled: app(ctx)?.config.notify.smtp_url.is_some(),
        address: me.user.email.clone(),
    })
}

/// The course's Slack settings; null unless the viewer may change the course.
pub async fn slack_settings(
    ctx: &Context<'_>,
    access: &CourseAccess,
) -> GqlResult<Option<SlackSettings>> {
    if !access.allows(Need::Instructor) {
        return Ok(None);
    }
    let mut conn = db(ctx).await?;
    let (hint, when) = Course::slack_settings(&mut conn, access.course.id).await?;
    Ok(Some(SlackSettings {
        configured: hint.is_some(),
        webhook_hint: hint,
        when,
    }))
}

/// Channels whose messages did not go in the last week; empty for students.
pub async fn problems(ctx: &Context<'_>, access: &CourseAccess) -> GqlResult<Vec<ChannelProblem>> {
    if !access.is_staff() {
        return Ok(Vec::new());
    }
    let mut conn = db(ctx).await?;
    let since = Utc::now() - chrono::TimeDelta::days(PROBLEMS_DAYS);
    Ok(Notification::problems(&mut conn, access.course.id, since)
        .await?
        .into_iter()
        .map(|p| ChannelProblem {
            channel: p.channel,
            failures: p.failures,
            last_error: p.last_error,
            last_at: p.last_at,
        })
        .collect())
}

/// A build's notifications, for the course's staff; empty for anyone else.
pub async fn of_build(
    ctx: &Context<'_>,
    build_id: i64,
    course_id: i64,
) -> GqlResult<Vec<NotificationNode>> {
    let me = signed_in(ctx)?;
    let mut conn = db(ctx).await?;
    if access::course(&mut conn, me, course_id, Need::Staff)
        .await
        .is_err()
    {
        return Ok(Vec::new());
    }
    Ok(Notification::for_build(&mut conn, build_id)
        .await?
        .into_iter()
        .map(|(n, login)| NotificationNode(n, login))
        .collect())
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Sets what you hear by email about builds: in one course (`courseId`), or by default
    /// for your own builds in courses you set nothing for. `dailyDigest` is for a course's
    /// staff.
    async fn set_notification_preference(
        &self,
        ctx: &Context<'_>,
        course_id: Option<ID>,
        email: NotifyWhen,
        #[graphql(default = false)] daily_digest: bool,
    ) -> GqlResult<bool> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let course = match &course_id {
            Some(id) => {
                let access = access::course(&mut conn, me, parse_id(id)?, Need::Member).await?;
                if daily_digest && !access.is_staff() {
                    return Err(AppError::invalid(
                        "dailyDigest",
                        "the daily digest is for the course's staff",
                    )
                    .into());
                }
                Some(access.course.id)
            }
            None if daily_digest => {
                return Err(
                    AppError::invalid("dailyDigest", "the daily digest is set per course").into(),
                );
            }
            None => None,
        };
        Preference::set(&mut conn, me.user.id, course, email, daily_digest).await?;
        Ok(true)
    }

    /// Forgets your setting for a course: your default applies there again.
    async fn clear_notification_preference(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
    ) -> GqlResult<bool> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Member).await?;
        Preference::clear(&mut conn, me.user.id, access.course.id).await?;
        Ok(true)
    }

    /// Sets the course's Slack channel: `webhookUrl` is an incoming webhook's URL (kept
    /// encrypted, never shown back), `""` removes it, and leaving it out keeps the one set;
    /// `when` says which builds are posted. Instructors only.
    async fn set_course_slack(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        webhook_url: Option<String>,
        when: NotifyWhen,
    ) -> GqlResult<SlackSettings> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let id = access.course.id;
        let webhook = match webhook_url.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(url) => {
                let parsed = slack::check_url(url, &app.config.notify.slack_hosts)
                    .map_err(|why| AppError::invalid("webhookUrl", why))?;
                let sealed = app
                    .cipher
                    .seal(&slack::sealing_context(id), parsed.as_str().as_bytes());
                Some(Some((sealed, slack::hint(&parsed))))
            }
        };
        Course::set_slack(&mut conn, id, webhook, when).await?;
        tracing::info!(course = id, by = me.user.id, when = %when, "course Slack settings changed");
        Ok(slack_settings(ctx, &access)
            .await?
            .unwrap_or(SlackSettings {
                configured: false,
                webhook_hint: None,
                when,
            }))
    }
}
