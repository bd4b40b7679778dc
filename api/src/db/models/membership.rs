//! Who belongs to which course, and as what.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use crate::db::enums::Role;
use crate::db::models::User;
use crate::db::schema::{courses, memberships, users};

/// One person's membership of one course.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = memberships, check_for_backend(diesel::pg::Pg))]
pub struct Membership {
    pub course_id: i64,
    pub user_id: i64,
    pub role: Role,
    pub invite_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A membership with its person, as the roster shows it.
#[derive(Clone, Debug)]
pub struct Member {
    pub membership: Membership,
    pub user: User,
}

/// Why a change of roles was refused.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("a course needs at least one instructor; make someone else instructor first")]
    LastInstructor,
    #[error("not a member of this course")]
    NotMember,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl Membership {
    /// `user_id`'s role in `course_id`, if a member.
    /// The course's instructors who signed in with GitHub (so have a token), longest-standing
    /// first.
    pub async fn instructors_with_token(
        conn: &mut AsyncPgConnection,
        course_id: i64,
    ) -> QueryResult<Vec<i64>> {
        use crate::db::schema::users;
        memberships::table
            .inner_join(users::table)
            .filter(memberships::course_id.eq(course_id))
            .filter(memberships::role.eq(Role::Instructor))
            .filter(users::github_token_encrypted.is_not_null())
            .order((memberships::created_at, memberships::user_id))
            .select(memberships::user_id)
            .load(conn)
            .await
    }

    pub async fn role_of(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
    ) -> QueryResult<Option<Role>> {
        memberships::table
            .find((course_id, user_id))
            .select(memberships::role)
            .first(conn)
            .await
            .optional()
    }

    pub async fn find(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
    ) -> QueryResult<Membership> {
        memberships::table
            .find((course_id, user_id))
            .select(Membership::as_select())
            .first(conn)
            .await
    }

    /// The course's members, optionally of one role, instructors first, then by login.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        role: Option<Role>,
    ) -> QueryResult<Vec<Member>> {
        let mut query = memberships::table
            .inner_join(users::table)
            .filter(memberships::course_id.eq(course_id))
            .select((Membership::as_select(), User::as_select()))
            .into_boxed();
        if let Some(role) = role {
            query = query.filter(memberships::role.eq(role));
        }
        let mut members: Vec<Member> = query
            .load::<(Membership, User)>(conn)
            .await?
            .into_iter()
            .map(|(membership, user)| Member { membership, user })
            .collect();
        members.sort_by(|a, b| {
            b.membership.role.cmp(&a.membership.role).then_with(|| {
                a.user
                    .login
                    .to_lowercase()
                    .cmp(&b.user.login.to_lowercase())
            })
        });
        Ok(members)
    }

    /// Adds `user_id` to the course with `role`, or raises their role to `role` if it is
    /// higher than the one they have. Returns the membership and whether anything changed.
    pub async fn join(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
        role: Role,
        invite_id: Option<i64>,
    ) -> QueryResult<(Membership, bool)> {
        let existing = memberships::table
            .find((course_id, user_id))
            .select(Membership::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        match existing {
            Some(current) if current.role >= role => Ok((current, false)),
            Some(_) => {
                let updated = diesel::update(memberships::table.find((course_id, user_id)))
                    .set((
                        memberships::role.eq(role),
                        memberships::invite_id.eq(invite_id),
                    ))
                    .returning(Membership::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((updated, true))
            }
            None => {
                let inserted = diesel::insert_into(memberships::table)
                    .values((
                        memberships::course_id.eq(course_id),
                        memberships::user_id.eq(user_id),
                        memberships::role.eq(role),
                        memberships::invite_id.eq(invite_id),
                    ))
                    .returning(Membership::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((inserted, true))
            }
        }
    }

    /// Changes a member's role; refuses to leave the course without an instructor.
    pub async fn set_role(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
        role: Role,
    ) -> Result<Membership, RosterError> {
        conn.transaction(async move |conn| {
            let current = Self::lock_roster(conn, course_id, user_id).await?;
            if current.role == Role::Instructor && role != Role::Instructor {
                Self::ensure_other_instructor(conn, course_id).await?;
            }
            Ok(
                diesel::update(memberships::table.find((course_id, user_id)))
                    .set(memberships::role.eq(role))
                    .returning(Membership::as_returning())
                    .get_result(conn)
                    .await?,
            )
        })
        .await
    }

    /// Removes a member; refuses to remove the last instructor.
    pub async fn remove(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
    ) -> Result<(), RosterError> {
        conn.transaction(async move |conn| {
            let current = Self::lock_roster(conn, course_id, user_id).await?;
            if current.role == Role::Instructor {
                Self::ensure_other_instructor(conn, course_id).await?;
            }
            diesel::delete(memberships::table.find((course_id, user_id)))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Locks the course row, serialising roster changes, and returns the member's row.
    async fn lock_roster(
        conn: &mut AsyncPgConnection,
        course_id: i64,
        user_id: i64,
    ) -> Result<Membership, RosterError> {
        courses::table
            .find(course_id)
            .select(courses::id)
            .for_update()
            .first::<i64>(conn)
            .await?;
        memberships::table
            .find((course_id, user_id))
            .select(Membership::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or(RosterError::NotMember)
    }

    async fn ensure_other_instructor(
        conn: &mut AsyncPgConnection,
        course_id: i64,
    ) -> Result<(), RosterError> {
        let instructors: i64 = memberships::table
            .filter(memberships::course_id.eq(course_id))
            .filter(memberships::role.eq(Role::Instructor))
            .count()
            .get_result(conn)
            .await?;
        if instructors <= 1 {
            Err(RosterError::LastInstructor)
        } else {
            Ok(())
        }
    }
}
