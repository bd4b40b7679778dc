//! Every webhook delivery GitHub made, with what Lectern did about it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::DeliveryOutcome;
use crate::db::schema::webhook_deliveries;

/// One recorded delivery.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDelivery {
    pub id: i64,
    pub delivery_id: Option<String>,
    pub event: String,
    pub action: Option<String>,
    pub github_repo_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub build_id: Option<i64>,
    pub outcome: DeliveryOutcome,
    pub detail: Option<String>,
    pub received_at: DateTime<Utc>,
    pub status_code: i16,
}

/// A delivery to record.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub delivery_id: Option<String>,
    pub event: String,
    pub action: Option<String>,
    pub github_repo_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub build_id: Option<i64>,
    pub outcome: DeliveryOutcome,
    pub detail: Option<String>,
    pub received_at: DateTime<Utc>,
    pub status_code: i16,
}

impl WebhookDelivery {
    /// Records a delivery. A second accepted delivery with the same id fails with a unique
    /// violation, which callers treat as "already handled".
    pub async fn record(
        conn: &mut AsyncPgConnection,
        new: &NewDelivery,
    ) -> QueryResult<WebhookDelivery> {
        diesel::insert_into(webhook_deliveries::table)
            .values(new)
            .returning(WebhookDelivery::as_returning())
            .get_result(conn)
            .await
    }

    /// The accepted delivery with this id, if any.
    pub async fn find_accepted(
        conn: &mut AsyncPgConnection,
        delivery_id: &str,
    ) -> QueryResult<Option<WebhookDelivery>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::delivery_id.eq(delivery_id))
            .filter(webhook_deliveries::outcome.ne(DeliveryOutcome::Rejected))
            .select(WebhookDelivery::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Deletes refused deliveries received before `before` (accepted ones are kept: they
    /// explain builds). Returns how many.
    pub async fn purge_rejected(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::outcome.eq(DeliveryOutcome::Rejected))
                .filter(webhook_deliveries::received_at.lt(before)),
        )
        .execute(conn)
        .await
    }

    /// A repository's recent deliveries, newest first.
    pub async fn recent_for_repository(
        conn: &mut AsyncPgConnection,
        repository_id: i64,
        limit: i64,
    ) -> QueryResult<Vec<WebhookDelivery>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::repository_id.eq(repository_id))
            .order((
                webhook_deliveries::received_at.desc(),
                webhook_deliveries::id.desc(),
            ))
            .limit(limit)
            .select(WebhookDelivery::as_select())
            .load(conn)
            .await
    }
}
