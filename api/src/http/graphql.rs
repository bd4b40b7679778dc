//! `POST /graphql` and, in development mode, GraphiQL at `GET /graphql` (subscriptions are
//! in `subscriptions`).

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{AppState, REQUEST_ID};
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
    let request = request.into_inner();
    let metrics = crate::metrics::get();
    let operation = metrics.operation_label(
        request
            .operation_name
            .as_deref()
            .or_else(|| crate::metrics::first_operation_name(&request.query)),
    );
    let started = std::time::Instant::now();
    let mut response = state
        .schema
        .execute(request.data(viewer).data(loaders))
        .await;
    let outcome = if response.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    metrics
        .graphql_operations
        .with_label_values(&[&operation, outcome])
        .observe(started.elapsed().as_secs_f64());
    // The request's id in every error, so that a report of one can be found in the logs.
    if let Some(id) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        for error in &mut response.errors {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", id);
        }
    }
    GraphQLResponse::from(response).into_response()
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
