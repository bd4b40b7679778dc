//! Linked repositories: their webhook, builds and recent deliveries.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::context::{db, parse_id, signed_in};
use super::users::UserNode;
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::{BuildStatus, BuildTrigger, DeliveryOutcome, WebhookStatus};
use crate::db::models::{Build, Repository, User, WebhookDelivery};
use crate::error::{AppError, GqlResult};

/// Most rows a list field returns.
const MAX_LIST: i32 = 100;

fn limit(requested: i32) -> i64 {
    i64::from(requested.clamp(1, MAX_LIST))
}

#[derive(Default)]
pub struct RepositoryQuery;

#[Object]
impl RepositoryQuery {
    /// A linked repository: its owner's, or any in a course the viewer is staff of.
    async fn repository(&self, ctx: &Context<'_>, id: ID) -> GqlResult<RepositoryNode> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let (repository, access) =
            access::repository(&mut conn, me, parse_id(&id)?, Need::Member).await?;
        Ok(RepositoryNode { repository, access })
    }
}

/// A repository as one viewer sees it.
pub struct RepositoryNode {
    pub repository: Repository,
    pub access: CourseAccess,
}

#[Object(name = "Repository")]
impl RepositoryNode {
    async fn id(&self) -> ID {
        ID(self.repository.id.to_string())
    }
    /// `owner/name` on GitHub.
    async fn full_name(&self) -> &str {
        &self.repository.full_name
    }
    async fn default_branch(&self) -> &str {
        &self.repository.default_branch
    }
    async fn private(&self) -> bool {
        self.repository.private
    }
    async fn webhook_status(&self) -> WebhookStatus {
        self.repository.webhook_status
    }
    async fn webhook_checked_at(&self) -> Option<DateTime<Utc>> {
        self.repository.webhook_checked_at
    }
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<UserNode> {
        let mut conn = db(ctx).await?;
        Ok(UserNode(
            User::find(&mut conn, self.repository.owner_id).await?,
        ))
    }
    /// Builds, newest first.
    async fn builds(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> GqlResult<Vec<BuildNode>> {
        let mut conn = db(ctx).await?;
        Ok(
            Build::list_for_repository(&mut conn, self.repository.id, limit(first))
                .await?
                .into_iter()
                .map(BuildNode)
                .collect(),
        )
    }
    /// Recent webhook deliveries, newest first, like GitHub's "Recent Deliveries". Staff only.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> GqlResult<Vec<DeliveryNode>> {
        if !self.access.is_staff() {
            return Err(AppError::Forbidden.into());
        }
        let mut conn = db(ctx).await?;
        Ok(
            WebhookDelivery::recent_for_repository(&mut conn, self.repository.id, limit(first))
                .await?
                .into_iter()
                .map(DeliveryNode)
                .collect(),
        )
    }
}

/// One build, as lists show it (the build page comes with the pipeline).
pub struct BuildNode(pub Build);

#[Object(name = "Build")]
impl BuildNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The build's number within its repository.
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn status(&self) -> BuildStatus {
        self.0.status
    }
    async fn trigger(&self) -> BuildTrigger {
        self.0.trigger
    }
    async fn branch(&self) -> Option<&str> {
        self.0.branch.as_deref()
    }
    async fn pull_request(&self) -> Option<i32> {
        self.0.pr_number
    }
    async fn commit_sha(&self) -> &str {
        &self.0.commit_sha
    }
    async fn commit_message(&self) -> &str {
        &self.0.commit_message
    }
    async fn commit_author(&self) -> Option<&str> {
        self.0.commit_author.as_deref()
    }
    /// When Lectern received the push (deadlines use this, not the commit's date).
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    async fn queued_at(&self) -> DateTime<Utc> {
        self.0.queued_at
    }
}

/// One webhook delivery and what Lectern did with it.
pub struct DeliveryNode(pub WebhookDelivery);

#[Object(name = "WebhookDelivery")]
impl DeliveryNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// GitHub's `X-GitHub-Delivery`.
    async fn delivery_id(&self) -> Option<&str> {
        self.0.delivery_id.as_deref()
    }
    async fn event(&self) -> &str {
        &self.0.event
    }
    async fn action(&self) -> Option<&str> {
        self.0.action.as_deref()
    }
    async fn outcome(&self) -> DeliveryOutcome {
        self.0.outcome
    }
    /// Why it was ignored or refused.
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
    /// The HTTP status Lectern answered with.
    async fn status_code(&self) -> i32 {
        i32::from(self.0.status_code)
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    async fn build_id(&self) -> Option<ID> {
        self.0.build_id.map(|id| ID(id.to_string()))
    }
}
