//! `POST /graphql` and, in development mode, GraphiQL at `GET /graphql` (subscriptions are
//! in `subscriptions`).

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::auth::Viewer;

/// Executes one GraphQL request as the viewer (batches are not accepted).
pub async fn execute(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    // Only JSON bodies: a cross-site HTML form cannot send them without a CORS preflight.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(serde_json::json!({
                "errors": [{ "message": "send GraphQL requests as JSON (Content-Type: application/json)",
                             "extensions": { "code": "UNSUPPORTED_MEDIA_TYPE" } }]
            })),
        )
            .into_response();
    }
    let loaders = crate::graphql::loaders::for_request(&state.app, &viewer);
    let request = request.into_inner().data(viewer).data(loaders);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// GraphiQL, only when `LECTERN_DEV_MODE` is on.
pub async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.app.config.dev_mode {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is only served in development mode (LECTERN_DEV_MODE=true); send queries with POST /graphql",
        )
            .into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}
