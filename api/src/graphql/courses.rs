//! Courses: create, rename, archive, delete, list and read.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::assignments::AssignmentNode;
use super::builds::BuildNode;
use super::context::{app, db, parse_id, signed_in};
use super::loaders::{LatestBuildKey, Loaders};
use super::roster::{InviteNode, MembershipNode};
use crate::auth::{CourseAccess, Need, access};
use crate::config::CourseCreation;
use crate::db::enums::Role;
use crate::db::models::{Assignment, Course, CourseCounts, Invite, Membership};
use crate::error::{AppError, GqlResult};
use crate::validate;

#[derive(Default)]
pub struct CourseQuery;

#[Object]
impl CourseQuery {
    /// A course the viewer belongs to, by slug.
    async fn course(&self, ctx: &Context<'_>, slug: String) -> GqlResult<CourseNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(CourseNode(
            access::course_by_slug(&mut conn, me, &slug, Need::Member).await?,
        ))
    }
}

#[derive(Default)]
pub struct CourseMutation;

/// A new course.
#[derive(InputObject)]
struct CreateCourseInput {
    /// URL identifier: lowercase letters, digits and hyphens, e.g. `cs101-fall26`.
    slug: String,
    name: String,
    #[graphql(default)]
    term: String,
}

/// Changes to a course; omitted fields stay as they are.
#[derive(InputObject)]
struct UpdateCourseInput {
    name: Option<String>,
    term: Option<String>,
}

#[Object]
impl CourseMutation {
    /// Creates a course; its creator becomes its first instructor.
    async fn create_course(
        &self,
        ctx: &Context<'_>,
        input: CreateCourseInput,
    ) -> GqlResult<CourseNode> {
        let me = signed_in(ctx)?;
        if app(ctx)?.config.course_creation == CourseCreation::Admins && !me.is_admin {
            return Err(AppError::BadRequest(
                "only platform administrators may create courses on this server; ask one to create it for you".into(),
            )
            .into());
        }
        let slug = validate::slug("slug", &input.slug)?;
        let name = validate::text("name", &input.name, 1, 200)?;
        let term = validate::text("term", &input.term, 0, 100)?;
        let mut conn = db(ctx).await?;
        let course = Course::create(&mut conn, me.user.id, &slug, &name, &term).await?;
        tracing::info!(course = course.id, slug = %course.slug, user = me.user.id, "course created");
        Ok(CourseNode(CourseAccess {
            course,
            role: Some(Role::Instructor),
            admin: me.is_admin,
        }))
    }

    /// Renames a course or changes its term. Instructors only.
    async fn update_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCourseInput,
    ) -> GqlResult<CourseNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let mut access = access::course(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        access.ensure_writable()?;
        let name = input
            .name
            .as_deref()
            .map(|n| validate::text("name", n, 1, 200))
            .transpose()?;
        let term = input
            .term
            .as_deref()
            .map(|t| validate::text("term", t, 0, 100))
            .transpose()?;
        access.course = Course::update(
            &mut conn,
            access.course.id,
            name.as_deref(),
            term.as_deref(),
        )
        .await?;
        Ok(CourseNode(access))
    }

    /// Archives a course (read-only from then on, hidden from course lists) or, with
    /// `archived: false`, restores it. Instructors only.
    async fn archive_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = true)] archived: bool,
    ) -> GqlResult<CourseNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let mut access = access::course(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        access.course = Course::set_archived(&mut conn, access.course.id, archived).await?;
        Ok(CourseNode(access))
    }

    /// Deletes a course with all its assignments, repositories and builds. Instructors only;
    /// `confirmSlug` must repeat the course's slug.
    async fn delete_course(
        &self,
        ctx: &Context<'_>,
        id: ID,
        confirm_slug: String,
    ) -> GqlResult<ID> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let access = access::course(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        if confirm_slug != access.course.slug {
            return Err(AppError::invalid(
                "confirmSlug",
                "type the course's slug to confirm deleting it",
            )
            .into());
        }
        Course::delete(&mut conn, access.course.id).await?;
        tracing::warn!(course = access.course.id, slug = %access.course.slug, user = me.user.id, "course deleted");
        Ok(id)
    }
}

/// A course as one viewer sees it.
pub struct CourseNode(pub CourseAccess);

#[Object(name = "Course")]
impl CourseNode {
    async fn id(&self) -> ID {
        ID(self.0.course.id.to_string())
    }
    async fn slug(&self) -> &str {
        &self.0.course.slug
    }
    async fn name(&self) -> &str {
        &self.0.course.name
    }
    async fn term(&self) -> &str {
        &self.0.course.term
    }
    async fn archived(&self) -> bool {
        self.0.course.is_archived()
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.course.archived_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.course.created_at
    }
    /// The viewer's role; null for an administrator who is not a member.
    async fn viewer_role(&self) -> Option<Role> {
        self.0.role
    }
    /// Whether the viewer sees everything in the course (TAs, instructors, administrators).
    async fn viewer_is_staff(&self) -> bool {
        self.0.is_staff()
    }
    /// Whether the viewer may change the course.
    async fn viewer_can_edit(&self) -> bool {
        self.0.allows(Need::Instructor)
    }
    /// What the viewer hears by email about the course's builds.
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<super::notifications::MyNotifications> {
        super::notifications::mine(ctx, &self.0).await
    }
    /// The course's Slack channel; null unless the viewer is an instructor.
    async fn slack(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Option<super::notifications::SlackSettings>> {
        super::notifications::slack_settings(ctx, &self.0).await
    }
    /// Channels whose messages did not go in the last week (staff; empty for students).
    async fn notification_problems(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<Vec<super::notifications::ChannelProblem>> {
        super::notifications::problems(ctx, &self.0).await
    }
    async fn counts(&self, ctx: &Context<'_>) -> GqlResult<CourseCounts> {
        Ok(loaders(ctx)?
            .course_counts
            .load_one(self.0.course.id)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("loading course counts: {e}")))?
            .unwrap_or_default())
    }
    /// The course's most recently queued build: any for staff, the viewer's own for a
    /// student. Null when there is none.
    async fn latest_build(&self, ctx: &Context<'_>) -> GqlResult<Option<BuildNode>> {
        let me = signed_in(ctx)?;
        let key = LatestBuildKey {
            course_id: self.0.course.id,
            owner: (!self.0.is_staff()).then_some(me.user.id),
        };
        Ok(loaders(ctx)?
            .latest_build
            .load_one(key)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("loading latest builds: {e}")))?
            .map(BuildNode))
    }
    /// Assignments by due date.
    async fn assignments(&self, ctx: &Context<'_>) -> GqlResult<Vec<AssignmentNode>> {
        let mut conn = db(ctx).await?;
        Ok(Assignment::list(&mut conn, self.0.course.id)
            .await?
            .into_iter()
            .map(|assignment| AssignmentNode {
                assignment,
                access: self.0.clone(),
            })
            .collect())
    }
    /// One assignment by slug.
    async fn assignment(&self, ctx: &Context<'_>, slug: String) -> GqlResult<AssignmentNode> {
        let mut conn = db(ctx).await?;
        let assignment = Assignment::find_by_slug(&mut conn, self.0.course.id, &slug).await?;
        Ok(AssignmentNode {
            assignment,
            access: self.0.clone(),
        })
    }
    /// The roster. Staff see everyone; students see the staff and themselves.
    async fn members(
        &self,
        ctx: &Context<'_>,
        role: Option<Role>,
    ) -> GqlResult<Vec<MembershipNode>> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let staff = self.0.is_staff();
        Ok(Membership::list(&mut conn, self.0.course.id, role)
            .await?
            .into_iter()
            .filter(|m| staff || m.membership.role >= Role::Ta || m.user.id == me.user.id)
            .map(MembershipNode)
            .collect())
    }
    /// Invites, newest first. Staff only.
    async fn invites(&self, ctx: &Context<'_>) -> GqlResult<Vec<InviteNode>> {
        if !self.0.is_staff() {
            return Err(AppError::Forbidden.into());
        }
        let mut conn = db(ctx).await?;
        Ok(Invite::list(&mut conn, self.0.course.id)
            .await?
            .into_iter()
            .map(InviteNode)
            .collect())
    }
}

/// The request's DataLoaders.
fn loaders<'a>(ctx: &'a Context<'_>) -> Result<&'a Loaders, AppError> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("no loaders in the request")))
}
