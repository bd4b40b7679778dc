//! Helpers every resolver uses to reach the app, the database and the viewer.

use async_graphql::{Context, ID};

use crate::app::App;
use crate::auth::{CurrentUser, Viewer};
use crate::db::DbConn;
use crate::error::{AppError, GqlResult};

/// The app, put into the schema's data when it was built.
pub fn app<'a>(ctx: &Context<'a>) -> GqlResult<&'a App> {
    ctx.data::<App>().map_err(|_| {
        AppError::Internal(anyhow::anyhow!("the schema was built without the app")).into()
    })
}

/// A database connection from the pool.
pub async fn db(ctx: &Context<'_>) -> GqlResult<DbConn> {
    Ok(app(ctx)?.db().await?)
}

/// The request's viewer (anonymous when the request carried none).
pub fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    static ANONYMOUS: Viewer = Viewer(None);
    ctx.data::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// The signed-in user, or UNAUTHENTICATED.
pub fn signed_in<'a>(ctx: &Context<'a>) -> GqlResult<&'a CurrentUser> {
    Ok(viewer(ctx).require()?)
}

/// A numeric database id from a GraphQL `ID`; anything else names no object.
pub fn parse_id(id: &ID) -> Result<i64, AppError> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AppError::NotFound)
}
