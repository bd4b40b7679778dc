//! Student repositories linked to assignments, with their webhook.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::enums::WebhookStatus;
use crate::db::schema::repositories;

/// A linked GitHub repository. The webhook secret is stored sealed (see `crypto`).
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = repositories, check_for_backend(diesel::pg::Pg))]
pub struct Repository {
    pub id: i64,
    pub course_id: i64,
    pub assignment_id: i64,
    pub owner_id: i64,
    pub github_repo_id: i64,
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
    pub private: bool,
    pub webhook_id: Option<i64>,
    pub webhook_secret_encrypted: Option<Vec<u8>>,
    pub webhook_status: WebhookStatus,
    pub webhook_checked_at: Option<DateTime<Utc>>,
    pub next_build_number: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when unlinked: builds and grades stay, webhooks are no longer accepted.
    pub unlinked_at: Option<DateTime<Utc>>,
    /// The secret a rotation replaced, still accepted for [`ROTATION_GRACE`] after
    /// `webhook_secret_rotated_at` while GitHub switches over.
    pub webhook_previous_secret_encrypted: Option<Vec<u8>>,
    pub webhook_secret_rotated_at: Option<DateTime<Utc>>,
}

/// How long a rotated-out webhook secret still verifies deliveries: GitHub signs with the
/// new one as soon as it has it, but a delivery already under way carries the old one.
pub const ROTATION_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// A repository to link.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = repositories)]
pub struct NewRepository {
    pub course_id: i64,
    pub assignment_id: i64,
    pub owner_id: i64,
    pub github_repo_id: i64,
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
    pub private: bool,
}

impl Repository {
    /// The sealing context of a repository's webhook secret.
    pub fn secret_context(github_repo_id: i64) -> String {
        format!("repository:{github_repo_id}:webhook-secret")
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Repository> {
        repositories::table
            .find(id)
            .select(Repository::as_select())
            .first(conn)
            .await
    }

    /// The linked repository GitHub knows by `github_repo_id`, if any.
    pub async fn find_by_github_id(
        conn: &mut AsyncPgConnection,
        github_repo_id: i64,
    ) -> QueryResult<Option<Repository>> {
        repositories::table
            .filter(repositories::github_repo_id.eq(github_repo_id))
            .filter(repositories::unlinked_at.is_null())
            .select(Repository::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The assignment's repositories (only `owner`'s when given), by name.
    pub async fn list_for_assignment(
        conn: &mut AsyncPgConnection,
        assignment_id: i64,
        owner: Option<i64>,
    ) -> QueryResult<Vec<Repository>> {
        let mut query = repositories::table
            .filter(repositories::assignment_id.eq(assignment_id))
            .filter(repositories::unlinked_at.is_null())
            .order(repositories::full_name.asc())
            .select(Repository::as_select())
            .into_boxed();
        if let Some(owner) = owner {
            query = query.filter(repositories::owner_id.eq(owner));
        }
        query.load(conn).await
    }

    /// Every linked repository, or those of one course (for the periodic catch-up sync and
    /// the operators' commands).
    pub async fn list_linked(
        conn: &mut AsyncPgConnection,
        course_id: Option<i64>,
    ) -> QueryResult<Vec<Repository>> {
        let mut query = repositories::table
            .filter(repositories::unlinked_at.is_null())
            .order(repositories::id.asc())
            .select(Repository::as_select())
            .into_boxed();
        if let Some(course_id) = course_id {
            query = query.filter(repositories::course_id.eq(course_id));
        }
        query.load(conn).await
    }

    pub async fn create(
        conn: &mut AsyncPgConnection,
        new: &NewRepository,
    ) -> QueryResult<Repository> {
        diesel::insert_into(repositories::table)
            .values(new)
            .returning(Repository::as_returning())
            .get_result(conn)
            .await
    }

    /// Records the registered webhook and its sealed secret.
    pub async fn set_webhook(
        conn: &mut AsyncPgConnection,
        id: i64,
        webhook_id: Option<i64>,
        sealed_secret: &[u8],
        status: WebhookStatus,
    ) -> QueryResult<Repository> {
        diesel::update(repositories::table.find(id))
            .set((
                repositories::webhook_id.eq(webhook_id),
                repositories::webhook_secret_encrypted.eq(sealed_secret),
                // A new hook signs with its new secret only.
                repositories::webhook_previous_secret_encrypted.eq(None::<Vec<u8>>),
                repositories::webhook_status.eq(status),
                repositories::webhook_checked_at.eq(Utc::now()),
            ))
            .returning(Repository::as_returning())
            .get_result(conn)
            .await
    }

    /// Starts a secret rotation: `sealed_secret` becomes the secret, the one it replaces
    /// stays valid for [`ROTATION_GRACE`]. Done before GitHub is told, so that deliveries
    /// signed with either verify meanwhile.
    pub async fn begin_rotation(
        conn: &mut AsyncPgConnection,
        id: i64,
        sealed_secret: &[u8],
    ) -> QueryResult<()> {
        diesel::update(repositories::table.find(id))
            .set((
                repositories::webhook_previous_secret_encrypted
                    .eq(repositories::webhook_secret_encrypted),
                repositories::webhook_secret_encrypted.eq(sealed_secret),
                repositories::webhook_secret_rotated_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Takes a rotation back (GitHub refused the new secret): the previous secret is the
    /// secret again.
    pub async fn undo_rotation(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
        diesel::update(repositories::table.find(id))
            .filter(repositories::webhook_previous_secret_encrypted.is_not_null())
            .set((
                repositories::webhook_secret_encrypted
                    .eq(repositories::webhook_previous_secret_encrypted),
                repositories::webhook_previous_secret_encrypted.eq(None::<Vec<u8>>),
                repositories::webhook_secret_rotated_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The sealed secrets a delivery may be signed with now: the secret, and the one a
    /// rotation replaced while its grace lasts.
    pub fn accepted_secrets(&self, now: DateTime<Utc>) -> Vec<&[u8]> {
        let previous = self
            .webhook_previous_secret_encrypted
            .as_deref()
            .filter(|_| {
                self.webhook_secret_rotated_at
                    .is_some_and(|at| now - at < ROTATION_GRACE)
            });
        self.webhook_secret_encrypted
            .as_deref()
            .into_iter()
            .chain(previous)
            .collect()
    }

    /// Unlinks: forgets the webhook and its secret, keeps the builds.
    pub async fn unlink(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Repository> {
        diesel::update(repositories::table.find(id))
            .set((
                repositories::unlinked_at.eq(Utc::now()),
                repositories::webhook_id.eq(None::<i64>),
                repositories::webhook_secret_encrypted.eq(None::<Vec<u8>>),
                repositories::webhook_previous_secret_encrypted.eq(None::<Vec<u8>>),
                repositories::webhook_status.eq(WebhookStatus::Missing),
            ))
            .returning(Repository::as_returning())
            .get_result(conn)
            .await
    }

    /// Marks the webhook healthy (a ping arrived) or otherwise.
    pub async fn set_webhook_status(
        conn: &mut AsyncPgConnection,
        id: i64,
        status: WebhookStatus,
    ) -> QueryResult<usize> {
        diesel::update(repositories::table.find(id))
            .set((
                repositories::webhook_status.eq(status),
                repositories::webhook_checked_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await
    }

    /// Takes the next build number of this repository (call inside the transaction that
    /// inserts the build; the row lock serialises concurrent builds).
    pub async fn take_build_number(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<i32> {
        diesel::update(repositories::table.find(id))
            .set(repositories::next_build_number.eq(repositories::next_build_number + 1))
            .returning(repositories::next_build_number - 1)
            .get_result(conn)
            .await
    }
}
