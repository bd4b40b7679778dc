//! Server-side sessions. The browser holds a random token in an HttpOnly cookie; the
//! database holds only its SHA-256, so a leaked table opens no session.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::db::models::User;
use crate::db::schema::{sessions, users};

/// A signed-in browser.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How often a used session's expiry is pushed forward (not on every request).
const REFRESH_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What every session token starts with, so that secret scanners (and the test that searches
/// the logs) can recognise one wherever it leaks.
pub const TOKEN_PREFIX: &str = "lectern_sess_";

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn ttl_delta(ttl: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::days(14))
}

impl Session {
    /// Opens a session for `user_id` and returns the token for the cookie.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        user_id: i64,
        ttl: Duration,
        user_agent: Option<&str>,
    ) -> QueryResult<(String, Session)> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let user_agent = user_agent.map(|ua| ua.chars().take(512).collect::<String>());
        let session = diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(hash(&token)),
                sessions::user_id.eq(user_id),
                sessions::expires_at.eq(Utc::now() + ttl_delta(ttl)),
                sessions::user_agent.eq(user_agent),
            ))
            .returning(Session::as_returning())
            .get_result(conn)
            .await?;
        Ok((token, session))
    }

    /// The session and user behind a cookie token, if it is valid and unexpired. A session in
    /// use is extended to `ttl` from now, at most every few minutes.
    pub async fn resolve(
        conn: &mut AsyncPgConnection,
        token: &str,
        ttl: Duration,
    ) -> QueryResult<Option<(Session, User)>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let found = sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq(hash(token)))
            .filter(sessions::expires_at.gt(Utc::now()))
            .select((Session::as_select(), User::as_select()))
            .first::<(Session, User)>(conn)
            .await
            .optional()?;
        let Some((mut session, user)) = found else {
            return Ok(None);
        };
        let now = Utc::now();
        if now - session.last_seen_at > REFRESH_AFTER {
            session = diesel::update(sessions::table.find(session.id))
                .set((
                    sessions::last_seen_at.eq(now),
                    sessions::expires_at.eq(now + ttl_delta(ttl)),
                ))
                .returning(Session::as_returning())
                .get_result(conn)
                .await?;
            diesel::update(users::table.find(user.id))
                .set(users::last_seen_at.eq(now))
                .execute(conn)
                .await?;
        }
        Ok(Some((session, user)))
    }

    /// Ends the session behind `token`, if any.
    pub async fn delete_by_token(conn: &mut AsyncPgConnection, token: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::token_hash.eq(hash(token))))
            .execute(conn)
            .await
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::expires_at.le(Utc::now())))
            .execute(conn)
            .await
    }
}
