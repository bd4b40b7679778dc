//! People: signed in with GitHub (or, in development, by login alone).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::users;

#[diesel::declare_sql_function]
extern "SQL" {
    /// PostgreSQL's `lower(text)`, matching the case-insensitive unique index on logins.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A person. The encrypted GitHub token is deliberately not part of this row type: it is
/// read only by the code that calls GitHub.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub github_id: Option<i64>,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Who GitHub says signed in, with the token sealed for storage.
#[derive(Clone, Debug)]
pub struct GithubIdentity<'a> {
    pub github_id: i64,
    pub login: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub sealed_token: &'a [u8],
    pub scopes: Option<&'a str>,
}

/// Whether `login` has GitHub's shape: 1–39 letters, digits and inner hyphens.
pub fn is_valid_login(login: &str) -> bool {
    let bytes = login.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 39
        && bytes[0] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

impl User {
    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<User> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
    }

    /// Finds a user by login, ignoring case as GitHub does.
    pub async fn find_by_login(
        conn: &mut AsyncPgConnection,
        login: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(lower(users::login).eq(lower(login)))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The user with this login, created without a GitHub account when missing. Used by the
    /// development sign-in and the demo seed only.
    pub async fn find_or_create_local(
        conn: &mut AsyncPgConnection,
        login: &str,
        name: Option<&str>,
    ) -> QueryResult<User> {
        if let Some(user) = Self::find_by_login(conn, login).await? {
            return Ok(user);
        }
        let inserted = diesel::insert_into(users::table)
            .values((users::login.eq(login), users::name.eq(name)))
            .returning(User::as_returning())
            .get_result(conn)
            .await;
        match inserted {
            // Another request created it in between.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Self::find_by_login(conn, login)
                .await?
                .ok_or(diesel::result::Error::NotFound),
            other => other,
        }
    }

    /// The sealing context of a user's GitHub token.
    pub fn token_context(github_id: i64) -> String {
        format!("user:{github_id}:github-token")
    }

    /// Creates or updates the user GitHub knows as `github_id` after a sign-in, storing the
    /// sealed token. A local user with the same login (made by an operator or the demo) is
    /// claimed; a stale user holding the login for another GitHub account is renamed, since
    /// GitHub lets logins be renamed and reused.
    pub async fn upsert_from_github(
        conn: &mut AsyncPgConnection,
        github: &GithubIdentity<'_>,
    ) -> QueryResult<User> {
        let github = github.clone();
        conn.transaction(async move |conn| {
            let changes = (
                users::github_id.eq(github.github_id),
                users::login.eq(github.login),
                users::name.eq(github.name),
                users::email.eq(github.email),
                users::avatar_url.eq(github.avatar_url),
                users::github_token_encrypted.eq(github.sealed_token),
                users::github_token_scopes.eq(github.scopes),
                users::last_seen_at.eq(chrono::Utc::now()),
            );
            let mine = users::table
                .filter(users::github_id.eq(github.github_id))
                .select(users::id)
                .for_update()
                .first::<i64>(conn)
                .await
                .optional()?;
            let holder = Self::find_by_login(conn, github.login).await?;
            if let Some(holder) = &holder
                && Some(holder.id) != mine
                && (holder.github_id.is_some() || mine.is_some())
            {
                diesel::update(users::table.find(holder.id))
                    .set(users::login.eq(format!("renamed-{}", holder.id)))
                    .execute(conn)
                    .await?;
            }
            let target = mine.or(holder.filter(|h| h.github_id.is_none()).map(|h| h.id));
            match target {
                Some(id) => {
                    diesel::update(users::table.find(id))
                        .set(changes)
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                }
                None => {
                    diesel::insert_into(users::table)
                        .values(changes)
                        .returning(User::as_returning())
                        .get_result(conn)
                        .await
                }
            }
        })
        .await
    }

    /// The user's GitHub id and sealed GitHub token, when they signed in with GitHub.
    pub async fn github_token(
        conn: &mut AsyncPgConnection,
        id: i64,
    ) -> QueryResult<Option<(i64, Vec<u8>)>> {
        let row: (Option<i64>, Option<Vec<u8>>) = users::table
            .find(id)
            .select((users::github_id, users::github_token_encrypted))
            .first(conn)
            .await?;
        Ok(match row {
            (Some(github_id), Some(sealed)) => Some((github_id, sealed)),
            _ => None,
        })
    }

    /// The users marked platform administrators, by login.
    pub async fn admins(conn: &mut AsyncPgConnection) -> QueryResult<Vec<User>> {
        users::table
            .filter(users::is_admin)
            .order(users::login.asc())
            .select(User::as_select())
            .load(conn)
            .await
    }

    /// Marks this user a platform administrator (or not).
    pub async fn set_admin(
        conn: &mut AsyncPgConnection,
        id: i64,
        admin: bool,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(users::is_admin.eq(admin))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_login;

    #[test]
    fn logins_follow_githubs_rules() {
        for ok in ["a", "ada", "grace-hopper", "A1", &"x".repeat(39)] {
            assert!(is_valid_login(ok), "{ok}");
        }
        for bad in [
            "",
            "-ada",
            "ada lovelace",
            "ada_l",
            "ad@",
            &"x".repeat(40),
            "<script>",
        ] {
            assert!(!is_valid_login(bad), "{bad}");
        }
    }
}
