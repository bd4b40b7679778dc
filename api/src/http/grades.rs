//! `GET /courses/{slug}/grades.csv`: the course's grade matrix as a spreadsheet download,
//! for its staff.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::{Need, Viewer, access};
use crate::db::models::GradeMatrix;
use crate::error::AppResult;
use crate::grading::export;

pub async fn csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let me = viewer.require()?;
    let mut conn = state.app.db().await?;
    let access = access::course_by_slug(&mut conn, me, &slug, Need::Staff).await?;
    let matrix = GradeMatrix::load(&mut conn, access.course.id).await?;
    tracing::info!(
        course = access.course.id,
        user = me.user.id,
        "grades exported"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-grades.csv\"", access.course.slug),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        export::csv(&matrix),
    )
        .into_response())
}
