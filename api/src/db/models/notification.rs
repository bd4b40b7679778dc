//! The notification outbox and people's preferences (see [`crate::notify`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::truncate;
use crate::db::enums::{NotificationChannel, NotificationKind, NotificationStatus, NotifyWhen};
use crate::db::schema::{notification_preferences, notifications, users};

/// One message to one recipient (a person's email, or a course's Slack channel).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = notifications, check_for_backend(diesel::pg::Pg))]
pub struct Notification {
    pub id: i64,
    pub course_id: i64,
    pub build_id: Option<i64>,
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    pub user_id: Option<i64>,
    pub idempotency_key: String,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sending_since: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A notification to write.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = notifications)]
pub struct NewNotification {
    pub course_id: i64,
    pub build_id: Option<i64>,
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    pub user_id: Option<i64>,
    pub idempotency_key: String,
}

/// A channel's trouble in one course: what failed there lately.
#[derive(Clone, Debug, QueryableByName)]
pub struct ChannelProblem {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub channel: NotificationChannel,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub failures: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub last_at: DateTime<Utc>,
}

impl Notification {
    /// Writes `new` unless a notification with its key exists; its id when written.
    pub async fn insert(
        conn: &mut AsyncPgConnection,
        new: &NewNotification,
    ) -> QueryResult<Option<i64>> {
        diesel::insert_into(notifications::table)
            .values(new)
            .on_conflict(notifications::idempotency_key)
            .do_nothing()
            .returning(notifications::id)
            .get_result(conn)
            .await
            .optional()
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Notification> {
        notifications::table
            .find(id)
            .select(Notification::as_select())
            .first(conn)
            .await
    }

    /// A build's notifications, oldest first, each with the login of the person it is for
    /// (`None`: the course's Slack channel).
    pub async fn for_build(
        conn: &mut AsyncPgConnection,
        build_id: i64,
    ) -> QueryResult<Vec<(Notification, Option<String>)>> {
        notifications::table
            .left_join(users::table)
            .filter(notifications::build_id.eq(build_id))
            .order(notifications::id)
            .select((Notification::as_select(), users::login.nullable()))
            .load(conn)
            .await
    }

    /// Marks a pending notification as leaving now, counting the attempt; `false` when it
    /// is not pending (sent, given up, or another attempt has it).
    pub async fn start_sending(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
        let n = diesel::update(notifications::table)
            .filter(notifications::id.eq(id))
            .filter(notifications::status.eq(NotificationStatus::Pending))
            .set((
                notifications::status.eq(NotificationStatus::Sending),
                notifications::sending_since.eq(diesel::dsl::now),
                notifications::attempts.eq(notifications::attempts + 1),
            ))
            .execute(conn)
            .await?;
        Ok(n == 1)
    }

    /// Records how an attempt ended: `Sent`, `Pending` again (with the error, to retry),
    /// `Failed` or `Unconfirmed` (with why).
    pub async fn settle(
        conn: &mut AsyncPgConnection,
        id: i64,
        status: NotificationStatus,
        error: Option<&str>,
    ) -> QueryResult<()> {
        let sent_at = (status == NotificationStatus::Sent).then(Utc::now);
        diesel::update(notifications::table.find(id))
            .set((
                notifications::status.eq(status),
                notifications::sent_at.eq(sent_at),
                notifications::sending_since.eq(None::<DateTime<Utc>>),
                notifications::last_error.eq(error.map(|e| truncate(e, 2000))),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Per channel, the notifications of course `course_id` given up on or unconfirmed since
    /// `since`: what the course's staff are told about in the dashboard.
    pub async fn problems(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        since: DateTime<Utc>,
    ) -> QueryResult<Vec<ChannelProblem>> {
        diesel::sql_query(
            "SELECT DISTINCT ON (channel) channel, \
                    count(*) OVER (PARTITION BY channel) AS failures, \
                    last_error, updated_at AS last_at \
             FROM notifications \
             WHERE course_id = $1 AND status IN ('failed', 'unconfirmed') AND updated_at >= $2 \
             ORDER BY channel, updated_at DESC",
        )
        .bind::<diesel::sql_types::BigInt, _>(course_id)
        .bind::<diesel::sql_types::Timestamptz, _>(since)
        .load(conn)
        .await
    }
}

/// What someone chose to hear, for one course or (`course_id` `None`) by default.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = notification_preferences, check_for_backend(diesel::pg::Pg))]
pub struct Preference {
    pub id: i64,
    pub user_id: i64,
    pub course_id: Option<i64>,
    pub email: NotifyWhen,
    pub daily_digest: bool,
    pub updated_at: DateTime<Utc>,
}

impl Preference {
    /// The preferences of `user_id` for `course_id` and by default, in that order.
    pub async fn of(
        conn: &mut AsyncPgConnection,
        user_id: i64,
        course_id: i64,
    ) -> QueryResult<(Option<Preference>, Option<Preference>)> {
        let rows: Vec<Preference> = notification_preferences::table
            .filter(notification_preferences::user_id.eq(user_id))
            .filter(
                notification_preferences::course_id
                    .eq(course_id)
                    .or(notification_preferences::course_id.is_null()),
            )
            .select(Preference::as_select())
            .load(conn)
            .await?;
        let (course, default): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|p| p.course_id.is_some());
        Ok((course.into_iter().next(), default.into_iter().next()))
    }

    /// Sets what `user_id` hears for `course_id` (or by default).
    pub async fn set(
        conn: &mut AsyncPgConnection,
        user_id: i64,
        course_id: Option<i64>,
        email: NotifyWhen,
        daily_digest: bool,
    ) -> QueryResult<Preference> {
        diesel::sql_query(
            "INSERT INTO notification_preferences (user_id, course_id, email, daily_digest) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, course_id) DO UPDATE \
               SET email = EXCLUDED.email, daily_digest = EXCLUDED.daily_digest, updated_at = now() \
             RETURNING *",
        )
        .bind::<diesel::sql_types::BigInt, _>(user_id)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(course_id)
        .bind::<diesel::sql_types::Text, _>(email)
        .bind::<diesel::sql_types::Bool, _>(daily_digest)
        .get_result(conn)
        .await
    }

    /// Removes `user_id`'s setting for `course_id`: the default applies again.
    pub async fn clear(
        conn: &mut AsyncPgConnection,
        user_id: i64,
        course_id: i64,
    ) -> QueryResult<()> {
        diesel::delete(
            notification_preferences::table
                .filter(notification_preferences::user_id.eq(user_id))
                .filter(notification_preferences::course_id.eq(course_id)),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}
