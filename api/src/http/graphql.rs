//! `POST /graphql`, subscriptions over graphql-transport-ws at `GET /graphql/ws`, and, in
//! development mode, GraphiQL at `GET /graphql`.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
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
    let request = request
        .into_inner()
        .data(viewer)
        .data(crate::graphql::loaders::for_request(&state.app));
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

/// Close code of graphql-transport-ws for a connection without a valid session.
const UNAUTHORIZED: u16 = 4401;

/// Subscriptions over graphql-transport-ws. The session cookie sent with the upgrade
/// authenticates the connection (its `Origin` is checked like a POST's); without one the
/// socket is closed with 4401. Each subscription is then authorized like the query it
/// mirrors; a refused one gets an `error` message with the code, and the others go on.
pub async fn subscribe(
    State(state): State<AppState>,
    viewer: Viewer,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(64 * 1024)
        .on_upgrade(move |mut socket| async move {
            if viewer.0.is_none() {
                let close = CloseFrame {
                    code: UNAUTHORIZED,
                    reason: "Unauthorized: sign in first".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
            let mut data = async_graphql::Data::default();
            data.insert(viewer);
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .with_data(data)
                .keepalive_timeout(std::time::Duration::from_secs(60))
                .serve()
                .await;
        })
}
