//! The signed-in person and other people as the API shows them.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::context::{app, db, signed_in, viewer};
use super::courses::CourseNode;
use crate::auth::{CourseAccess, CurrentUser};
use crate::config::CourseCreation;
use crate::db::models::{Course, User};
use crate::error::GqlResult;

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in person, or null when nobody is signed in.
    async fn me(&self, ctx: &Context<'_>) -> Option<Me> {
        viewer(ctx).0.clone().map(Me)
    }

    /// Which ways of signing in this server offers.
    async fn sign_in_options(&self, ctx: &Context<'_>) -> GqlResult<SignInOptions> {
        let config = &app(ctx)?.config;
        Ok(SignInOptions {
            dev_login: config.dev_login,
            github: config.github_oauth.is_some(),
        })
    }
}

/// Ways of signing in.
#[derive(SimpleObject)]
pub struct SignInOptions {
    /// Development sign-in by login alone (`POST /auth/dev/login`); never on in production.
    dev_login: bool,
    /// Sign-in with GitHub (`GET /auth/github/login`).
    github: bool,
}

/// The signed-in person, with what only they may see about themselves.
pub struct Me(CurrentUser);

#[Object]
impl Me {
    async fn id(&self) -> ID {
        ID(self.0.user.id.to_string())
    }
    async fn login(&self) -> &str {
        &self.0.user.login
    }
    async fn name(&self) -> Option<&str> {
        self.0.user.name.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.user.email.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.0.user.avatar_url.as_deref()
    }
    /// Platform administrators act as instructors in every course.
    async fn is_admin(&self) -> bool {
        self.0.is_admin
    }
    /// Whether this person may create courses.
    async fn can_create_courses(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(match app(ctx)?.config.course_creation {
            CourseCreation::Anyone => true,
            CourseCreation::Admins => self.0.is_admin,
        })
    }
    /// The courses this person belongs to, newest first.
    async fn courses(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
    ) -> GqlResult<Vec<CourseNode>> {
        let me = signed_in(ctx)?;
        let mut conn = db(ctx).await?;
        let courses = Course::list_for_user(&mut conn, me.user.id, include_archived).await?;
        Ok(courses
            .into_iter()
            .map(|c| {
                CourseNode(CourseAccess {
                    course: c.course,
                    role: c.role,
                    admin: me.is_admin,
                })
            })
            .collect())
    }
}

/// Another person, as course members see them. Email addresses are not shown.
pub struct UserNode(pub User);

#[Object(name = "User")]
impl UserNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn login(&self) -> &str {
        &self.0.login
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }
}
