//! Invites: codes that let people join a course with a given role.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rand::Rng as _;

use crate::db::enums::Role;
use crate::db::models::{Course, Membership};
use crate::db::schema::{courses, invites};

/// An invitation to a course.
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = invites, check_for_backend(diesel::pg::Pg))]
pub struct Invite {
    pub id: i64,
    pub course_id: i64,
    pub role: Role,
    pub code: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// Whether an invite can still be used, and if not why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum InviteState {
    Active,
    Expired,
    UsedUp,
    Revoked,
}

/// Why a code could not be redeemed. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("no invite has this code; check it with whoever gave it to you")]
    UnknownCode,
    #[error("this invite has expired; ask the course staff for a new one")]
    Expired,
    #[error(
        "this invite has been used as many times as allowed; ask the course staff for a new one"
    )]
    UsedUp,
    #[error("this invite was revoked; ask the course staff for a new one")]
    Revoked,
    #[error("this course is archived and takes no new members")]
    CourseArchived,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Letters and digits that cannot be mistaken for one another when read aloud or copied.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 12;

/// A fresh random invite code (60 bits).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LENGTH)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// A code as people type it — any case, with spaces or dashes — in its stored form.
pub fn normalize_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Invite {
    /// This invite's state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> InviteState {
        if self.revoked_at.is_some() {
            InviteState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            InviteState::Expired
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            InviteState::UsedUp
        } else {
            InviteState::Active
        }
    }

    pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Invite> {
        invites::table
            .find(id)
            .select(Invite::as_select())
            .first(conn)
            .await
    }

    /// Creates an invite with a fresh code.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
        max_uses: Option<i32>,
        created_by: i64,
    ) -> QueryResult<Invite> {
        diesel::insert_into(invites::table)
            .values((
                invites::course_id.eq(course_id),
                invites::role.eq(role),
                invites::code.eq(new_code()),
                invites::expires_at.eq(expires_at),
                invites::max_uses.eq(max_uses),
                invites::created_by.eq(created_by),
            ))
            .returning(Invite::as_returning())
            .get_result(conn)
            .await
    }

    /// The course's invites, newest first.
    pub async fn list(conn: &mut AsyncPgConnection, course_id: i64) -> QueryResult<Vec<Invite>> {
        invites::table
            .filter(invites::course_id.eq(course_id))
            .order((invites::created_at.desc(), invites::id.desc()))
            .select(Invite::as_select())
            .load(conn)
            .await
    }

    /// Revokes the invite (idempotent: the first revocation time is kept).
    pub async fn revoke(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Invite> {
        diesel::update(invites::table.find(id))
            .set(invites::revoked_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("coalesce(revoked_at, now())")))
            .returning(Invite::as_returning())
            .get_result(conn)
            .await
    }

    /// Joins `user_id` to the invite's course. A person already in the course with the same
    /// or a higher role keeps it and uses up nothing; concurrent redemptions of a limited
    /// invite never exceed its limit (the invite row is locked).
    pub async fn redeem(
        conn: &mut AsyncPgConnection,
        code: &str,
        user_id: i64,
    ) -> Result<(Membership, Course), RedeemError> {
        let code = normalize_code(code);
        conn.transaction(async move |conn| {
            let invite = invites::table
                .filter(invites::code.eq(&code))
                .select(Invite::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(RedeemError::UnknownCode)?;
            let course: Course = courses::table
                .find(invite.course_id)
                .select(Course::as_select())
                .first(conn)
                .await?;
            if course.is_archived() {
                return Err(RedeemError::CourseArchived);
            }
            let already = Membership::role_of(conn, course.id, user_id).await?;
            if already.is_some_and(|role| role >= invite.role) {
                let membership = Membership::find(conn, course.id, user_id).await?;
                return Ok((membership, course));
            }
            match invite.state(Utc::now()) {
                InviteState::Active => {}
                InviteState::Expired => return Err(RedeemError::Expired),
                InviteState::UsedUp => return Err(RedeemError::UsedUp),
                InviteState::Revoked => return Err(RedeemError::Revoked),
            }
            let (membership, _) =
                Membership::join(conn, course.id, user_id, invite.role, Some(invite.id)).await?;
            diesel::update(invites::table.find(invite.id))
                .set(invites::uses.eq(invites::uses + 1))
                .execute(conn)
                .await?;
            Ok((membership, course))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Invite {
        Invite {
            id: 1,
            course_id: 1,
            role: Role::Student,
            code: new_code(),
            expires_at: None,
            max_uses: None,
            uses: 0,
            revoked_at: None,
            created_by: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn codes_are_unambiguous_and_normalised() {
        let code = new_code();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        assert_eq!(normalize_code(" abcd-efgh ijkl\n"), "ABCDEFGHIJKL");
    }

    #[test]
    fn state_names_the_first_reason_an_invite_is_unusable() {
        let now = Utc::now();
        assert_eq!(invite().state(now), InviteState::Active);
        let expired = Invite {
            expires_at: Some(now - chrono::TimeDelta::seconds(1)),
            ..invite()
        };
        assert_eq!(expired.state(now), InviteState::Expired);
        let used_up = Invite {
            max_uses: Some(2),
            uses: 2,
            ..invite()
        };
        assert_eq!(used_up.state(now), InviteState::UsedUp);
        let revoked = Invite {
            revoked_at: Some(now),
            ..used_up
        };
        assert_eq!(revoked.state(now), InviteState::Revoked);
    }
}
