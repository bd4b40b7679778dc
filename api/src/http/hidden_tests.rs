//! `PUT /assignments/{id}/hidden-tests`: an instructor uploads an assignment's hidden tests
//! as a gzipped tar (the request body, up to 16 MB); `DELETE` removes them. The archive is
//! unpacked once on upload, so a broken one is refused then rather than at the next build.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::{Need, Viewer, access};
use crate::builds::hidden;
use crate::db::models::{Assignment, AssignmentChanges};
use crate::error::{AppError, AppResult};

/// The largest request body: the archive.
pub const MAX_BODY: usize = hidden::MAX_ARCHIVE;

/// Assignment `id`, when the viewer is an instructor of its course and may change it.
async fn instructors(
    conn: &mut diesel_async::AsyncPgConnection,
    me: &crate::auth::CurrentUser,
    id: &str,
) -> AppResult<Assignment> {
    let id = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{id:?} is not an assignment id")))?;
    let (assignment, access) = access::assignment(conn, me, id, Need::Instructor).await?;
    access.ensure_writable()?;
    Ok(assignment)
}

pub async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let me = viewer.require()?;
    let mut conn = state.app.db().await?;
    let assignment = instructors(&mut conn, me, &id).await?;
    if assignment.hidden_tests_repo.is_some() {
        return Err(AppError::BadRequest(
            "this assignment's hidden tests come from a git repository; clear hiddenTestsRepo first".into(),
        ));
    }
    let archive = body.to_vec();
    let checked = archive.clone();
    let (files, digest) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let files = hidden::unpack(&checked, dir.path())?;
        let digest = hidden::digest(dir.path()).map_err(|e| e.to_string())?;
        Ok::<_, String>((files, digest))
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
    .map_err(|why| AppError::BadRequest(format!("{why}; upload a .tar.gz of the test files")))?;
    let changes = AssignmentChanges {
        hidden_tests_archive: Some(Some(archive)),
        ..AssignmentChanges::default()
    };
    Assignment::update(&mut conn, assignment.id, &changes).await?;
    tracing::info!(assignment = assignment.id, by = me.user.id, files, %digest, "hidden tests uploaded");
    Ok(axum::Json(serde_json::json!({ "files": files, "digest": digest })).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let me = viewer.require()?;
    let mut conn = state.app.db().await?;
    let assignment = instructors(&mut conn, me, &id).await?;
    let changes = AssignmentChanges {
        hidden_tests_archive: Some(None),
        ..AssignmentChanges::default()
    };
    Assignment::update(&mut conn, assignment.id, &changes).await?;
    tracing::info!(
        assignment = assignment.id,
        by = me.user.id,
        "hidden tests removed"
    );
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
