//! Linked repositories: their webhook, builds and recent deliveries.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use octocrab::Octocrab;

use super::builds::BuildNode;
use super::context::{app, db, parse_id, signed_in};
use super::users::UserNode;
use crate::app::App;
use crate::auth::{CourseAccess, Need, access};
use crate::db::enums::{BuildStatus, BuildTrigger, DeliveryOutcome, WebhookStatus};
use crate::db::models::{
    Build, BuildFilter, BuildRequest, NewRepository, Repository, User, WebhookDelivery,
};
use crate::error::{AppError, GqlResult};
use crate::forge::github::api::{self, ForgeError};
use crate::forge::github::client_for_user;

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

#[derive(Default)]
pub struct RepositoryMutation;

impl From<ForgeError> for AppError {
    fn from(err: ForgeError) -> Self {
        AppError::BadRequest(err.to_string())
    }
}

/// A GitHub client acting as `user`, or a message saying how to get one.
async fn github_as(
    app: &App,
    conn: &mut AsyncPgConnection,
    user: &User,
) -> Result<Octocrab, AppError> {
    client_for_user(app, conn, user.id).await?.ok_or_else(|| {
        AppError::BadRequest(
            "link repositories after signing in with GitHub (this account has no GitHub authorization)".into(),
        )
    })
}

#[Object]
impl RepositoryMutation {
    /// Links one of your GitHub repositories (`owner/name`, on which you have admin rights)
    /// to an assignment: registers Lectern's webhook on it with a fresh secret and queues a
    /// first build of its default branch.
    async fn link_repository(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        full_name: String,
    ) -> GqlResult<RepositoryNode> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?;
        let mut conn = db(ctx).await?;
        let (assignment, access) =
            access::assignment(&mut conn, me, parse_id(&assignment_id)?, Need::Member).await?;
        access.ensure_writable()?;
        let full_name = full_name
            .trim()
            .trim_start_matches("https://github.com/")
            .trim_end_matches(".git")
            .to_owned();
        if !full_name
            .split_once('/')
            .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        {
            return Err(AppError::invalid(
                "fullName",
                "write it as owner/name, e.g. octocat/hello-world",
            )
            .into());
        }
        let github = github_as(app, &mut conn, &me.user).await?;
        let remote = api::repository(&github, &full_name).await?;
        if !remote.permissions.as_ref().is_some_and(|p| p.admin) {
            return Err(AppError::BadRequest(format!(
                "you need admin rights on {} to link it (Lectern adds a webhook to it)",
                remote.full_name
            ))
            .into());
        }
        if Repository::find_by_github_id(&mut conn, remote.id)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "{} is already linked to an assignment",
                remote.full_name
            ))
            .into());
        }
        let head = api::branch_head(&github, &remote.full_name, &remote.default_branch).await?;
        let (hook_id, sealed) =
            crate::forge::github::register_hook(app, &github, &remote.full_name, remote.id).await?;
        let new = NewRepository {
            course_id: assignment.course_id,
            assignment_id: assignment.id,
            owner_id: me.user.id,
            github_repo_id: remote.id,
            full_name: remote.full_name.clone(),
            clone_url: remote.clone_url.clone(),
            default_branch: remote.default_branch.clone(),
            private: remote.private,
        };
        let stored = conn
            .transaction(async |conn| {
                let repository = Repository::create(conn, &new).await?;
                let repository = Repository::set_webhook(
                    conn,
                    repository.id,
                    Some(hook_id),
                    &sealed,
                    WebhookStatus::Pending,
                )
                .await?;
                if let Some(sha) = &head {
                    let request = BuildRequest {
                        trigger: BuildTrigger::Manual,
                        branch: Some(repository.default_branch.clone()),
                        pr_number: None,
                        commit_sha: sha.clone(),
                        commit_message: "First build after linking".to_owned(),
                        commit_author: Some(me.user.login.clone()),
                    };
                    Build::enqueue(conn, &repository, &request, None, Utc::now(), false).await?;
                }
                Ok::<_, diesel::result::Error>(repository)
            })
            .await;
        match stored {
            Ok(repository) => {
                tracing::info!(repository = repository.id, full_name = %repository.full_name, user = me.user.id, "repository linked");
                Ok(RepositoryNode { repository, access })
            }
            Err(err) => {
                // Leave nothing half-done: take the hook back off GitHub.
                if let Err(cleanup) = api::delete_hook(&github, &remote.full_name, hook_id).await {
                    tracing::warn!(error = %cleanup, hook = hook_id, "could not remove the webhook after a failed link");
                }
                Err(AppError::from(err).into())
            }
        }
    }

    /// Unlinks a repository: removes Lectern's webhook from GitHub and stops accepting its
    /// deliveries. Its builds and grades stay. The owner or the course's instructors.
    async fn unlink_repository(&self, ctx: &Context<'_>, id: ID) -> GqlResult<RepositoryNode> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?;
        let mut conn = db(ctx).await?;
        let (repository, access) =
            access::repository(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        if repository.unlinked_at.is_some() {
            return Ok(RepositoryNode { repository, access });
        }
        // The hook was registered with the owner's authorization; remove it with the same.
        let owner = User::find(&mut conn, repository.owner_id).await?;
        if let Some(hook) = repository.webhook_id {
            match github_as(app, &mut conn, &owner).await {
                Ok(github) => api::delete_hook(&github, &repository.full_name, hook).await?,
                Err(err) => {
                    tracing::warn!(repository = repository.id, error = %err, "unlinking without removing the GitHub hook");
                }
            }
        }
        let repository = Repository::unlink(&mut conn, repository.id).await?;
        tracing::info!(
            repository = repository.id,
            user = me.user.id,
            "repository unlinked"
        );
        Ok(RepositoryNode { repository, access })
    }

    /// Queues builds for branch heads that were never built (pushes whose webhook GitHub
    /// failed to deliver). Returns how many were queued. The owner or the course's staff.
    async fn sync_repository(&self, ctx: &Context<'_>, id: ID) -> GqlResult<i32> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?;
        let mut conn = db(ctx).await?;
        let (repository, access) =
            access::repository(&mut conn, me, parse_id(&id)?, Need::Member).await?;
        access.ensure_writable()?;
        if repository.unlinked_at.is_some() {
            return Err(AppError::BadRequest("this repository is unlinked".into()).into());
        }
        drop(conn);
        let queued = crate::forge::github::sync::repository(app, &repository).await?;
        Ok(i32::try_from(queued.len()).unwrap_or(i32::MAX))
    }

    /// Checks the repository's webhook and, when GitHub no longer has it, registers a new
    /// one with a fresh secret. The repository's owner or the course's instructors.
    async fn repair_webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<RepositoryNode> {
        let me = signed_in(ctx)?;
        let app = app(ctx)?;
        let mut conn = db(ctx).await?;
        let (repository, access) =
            access::repository(&mut conn, me, parse_id(&id)?, Need::Instructor).await?;
        if repository.unlinked_at.is_some() {
            return Err(AppError::BadRequest(
                "this repository is unlinked; link it again instead".into(),
            )
            .into());
        }
        let github = github_as(app, &mut conn, &me.user).await?;
        let alive = match repository.webhook_id {
            Some(hook) => api::ping_hook(&github, &repository.full_name, hook).await?,
            None => false,
        };
        let repository = if alive {
            // The ping's delivery marks the hook active when it arrives.
            repository
        } else {
            let (hook_id, sealed) = crate::forge::github::register_hook(
                app,
                &github,
                &repository.full_name,
                repository.github_repo_id,
            )
            .await?;
            tracing::info!(
                repository = repository.id,
                hook = hook_id,
                "webhook re-created"
            );
            Repository::set_webhook(
                &mut conn,
                repository.id,
                Some(hook_id),
                &sealed,
                WebhookStatus::Pending,
            )
            .await?
        };
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
    /// When it was unlinked; its builds stay readable.
    async fn unlinked_at(&self) -> Option<DateTime<Utc>> {
        self.repository.unlinked_at
    }
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<UserNode> {
        let mut conn = db(ctx).await?;
        Ok(UserNode(
            User::find(&mut conn, self.repository.owner_id).await?,
        ))
    }
    /// Builds, newest first: `first` of them numbered below `before` (the last number of
    /// the previous page), only of one status, branch or pull request when asked.
    async fn builds(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        before: Option<i32>,
        status: Option<BuildStatus>,
        branch: Option<String>,
        pull_request: Option<i32>,
    ) -> GqlResult<Vec<BuildNode>> {
        let mut conn = db(ctx).await?;
        let filter = BuildFilter {
            before,
            status,
            branch,
            pull_request,
        };
        Ok(
            Build::list_for_repository(&mut conn, self.repository.id, &filter, limit(first))
                .await?
                .into_iter()
                .map(BuildNode)
                .collect(),
        )
    }
    /// Branches built, most recently built first.
    async fn branches(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        let mut conn = db(ctx).await?;
        Ok(Build::branches(&mut conn, self.repository.id, i64::from(MAX_LIST)).await?)
    }
    /// Pull requests built, most recently built first.
    async fn pull_requests(&self, ctx: &Context<'_>) -> GqlResult<Vec<i32>> {
        let mut conn = db(ctx).await?;
        Ok(Build::pull_requests(&mut conn, self.repository.id, i64::from(MAX_LIST)).await?)
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
