//! Who is in a course: invites, joining, roles, leaving.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, TimeDelta, Utc};

use super::context::{app, db, parse_id, signed_in};
use super::courses::CourseNode;
use super::users::UserNode;
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::Role;
use crate::db::models::invite::RedeemError;
use crate::db::models::membership::RosterError;
use crate::db::models::{Invite, InviteState, Member, Membership, User};
use crate::error::{AppError, GqlResult};

#[derive(Default)]
pub struct RosterMutation;

/// A new invite.
#[derive(InputObject)]
struct CreateInviteInput {
    course_id: ID,
    role: Role,
    /// When the invite stops working; at most a year ahead. Null: never.
    expires_at: Option<DateTime<Utc>>,
    /// How many people may join with it. Null: no limit.
    max_uses: Option<i32>,
}

const MAX_INVITE_LIFETIME: TimeDelta = TimeDelta::days(366);
const MAX_INVITE_USES: i32 = 10_000;

impl From<RosterError> for AppError {
    fn from(err: RosterError) -> Self {
        match err {
            RosterError::LastInstructor => AppError::BadRequest(err.to_string()),
            RosterError::NotMember => AppError::NotFound,
            RosterError::Db(db) => db.into(),
        }
    }
}

impl From<RedeemError> for AppError {
    fn from(err: RedeemError) -> Self {
        match err {
            RedeemError::Db(db) => db.into(),
            RedeemError::UnknownCode => AppError::NotFound,
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

#[Object]
impl RosterMutation {
    /// Creates an invite code for a role. Instructors only.
    async fn create_invite(
        &self,
        ctx: &Context<'_>,
        input: CreateInviteInput,
    ) -> GqlResult<InviteNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access =
            access::course(&mut conn, me, parse_id(&input.course_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let now = Utc::now();
        if let Some(at) = input.expires_at {
            if at <= now {
                return Err(AppError::invalid("expiresAt", "must be in the future").into());
            }
            if at - now > MAX_INVITE_LIFETIME {
                return Err(
                    AppError::invalid("expiresAt", "must be at most a year from now").into(),
                );
            }
        }
        if let Some(max) = input.max_uses
            && !(1..=MAX_INVITE_USES).contains(&max)
        {
            return Err(AppError::invalid(
                "maxUses",
                format!("must be between 1 and {MAX_INVITE_USES}"),
            )
            .into());
        }
        let invite = Invite::create(
            &mut conn,
            access.course.id,
            input.role,
            input.expires_at,
            input.max_uses,
            me.user.id,
        )
        .await?;
        tracing::info!(course = access.course.id, invite = invite.id, role = %invite.role, "invite created");
        Ok(InviteNode(invite))
    }

    /// Revokes an invite; people who joined with it stay. Instructors only.
    async fn revoke_invite(&self, ctx: &Context<'_>, id: ID) -> GqlResult<InviteNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (invite, _) = access::invite(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        Ok(InviteNode(Invite::revoke(&mut conn, invite.id).await?))
    }

    /// Joins the course an invite code belongs to. Someone already in the course keeps their
    /// role unless the invite grants a higher one.
    async fn join_course(&self, ctx: &Context<'_>, code: String) -> GqlResult<CourseNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (membership, course) = Invite::redeem(&mut conn, &code, me.user.id).await?;
        tracing::info!(course = course.id, user = me.user.id, role = %membership.role, "joined course");
        Ok(CourseNode(CourseAccess {
            course,
            role: Some(membership.role),
            admin: me.is_admin,
        }))
    }

    /// Changes a member's role. Instructors only; a course always keeps an instructor.
    async fn set_member_role(
        &self,
        ctx: &Context<'_>,
        course_id: ID,
        user_id: ID,
        role: Role,
    ) -> GqlResult<MembershipNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let user_id = parse_id(&user_id)?;
        let membership = Membership::set_role(&mut conn, access.course.id, user_id, role).await?;
        let user = User::find(&mut conn, user_id).await?;
        Ok(MembershipNode(Member { membership, user }))
    }

    /// Removes someone from a course. Instructors only; a course always keeps an instructor.
    async fn remove_member(&self, ctx: &Context<'_>, course_id: ID, user_id: ID) -> GqlResult<ID> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        Membership::remove(&mut conn, access.course.id, parse_id(&user_id)?).await?;
        Ok(user_id)
    }

    /// Leaves a course. The last instructor cannot leave.
    async fn leave_course(&self, ctx: &Context<'_>, course_id: ID) -> GqlResult<ID> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&course_id)?, Need::Member).await?;
        Membership::remove(&mut conn, access.course.id, me.user.id).await?;
        Ok(course_id)
    }
}

/// Someone's place in a course.
pub struct MembershipNode(pub Member);

#[Object(name = "Membership")]
impl MembershipNode {
    async fn user(&self) -> UserNode {
        UserNode(self.0.user.clone())
    }
    async fn role(&self) -> Role {
        self.0.membership.role
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.membership.created_at
    }
}

/// An invitation to join a course with a role.
pub struct InviteNode(pub Invite);

#[Object(name = "Invite")]
impl InviteNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The link to share: opening it signed in joins the course.
    async fn join_url(&self, ctx: &Context<'_>) -> GqlResult<String> {
        let base = app(ctx)?
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Ok(format!("{base}/join/{}", self.0.code))
    }
    async fn role(&self) -> Role {
        self.0.role
    }
    async fn state(&self) -> InviteState {
        self.0.state(Utc::now())
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn max_uses(&self) -> Option<i32> {
        self.0.max_uses
    }
    async fn uses(&self) -> i32 {
        self.0.uses
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
