//! `GET /builds/{id}/log`: a build's whole output as a plain-text download, for the
//! viewer the build page would show it to (the hidden tests' output only to who may see it).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::{Viewer, access};
use crate::db::models::LogChunk;
use crate::error::{AppError, AppResult};

/// Chunks read from the database at a time while streaming the download.
const PAGE: i64 = 64;

/// Streams the stored chunks in order, every stream interleaved as it was written, escape
/// sequences included (as a terminal would get them).
pub async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let me = viewer.require()?;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{id:?} is not a build id")))?;
    let (build, repository, sees_hidden) =
        access::build(&mut *state.app.db().await?, me, id).await?;
    let app = state.app.clone();
    let body = async_stream::stream! {
        let mut after = None;
        loop {
            let page = async {
                let mut conn = app.db().await.map_err(std::io::Error::other)?;
                LogChunk::list(&mut conn, id, after, PAGE)
                    .await
                    .map_err(std::io::Error::other)
            }
            .await;
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    yield Err(err);
                    return;
                }
            };
            let done = (page.len() as i64) < PAGE;
            for chunk in page {
                after = Some(chunk.seq);
                // The hidden tests' output only for who may see it.
                if sees_hidden || !chunk.stream.is_hidden() {
                    yield Ok(Bytes::from(chunk.data));
                }
            }
            if done {
                return;
            }
        }
    };
    let name = format!(
        "{}-build-{}.log",
        repository.full_name.replace('/', "-"),
        build.number
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
