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
            serve_socket(socket, state.schema.clone(), protocol, data).await;
        })
}

/// Close code of graphql-transport-ws when `connection_init` does not come in time.
const INIT_TIMEOUT_CODE: u16 = 4408;
/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the protocol on `socket`, closing it with 4408 when the client does not initialise
/// the connection in time. Outgoing messages pass through a channel so that the close can
/// be sent whatever the protocol is doing.
async fn serve_socket(
    socket: axum::extract::ws::WebSocket,
    schema: crate::graphql::LecternSchema,
    protocol: GraphQLProtocol,
    data: async_graphql::Data,
) {
    use futures::{SinkExt as _, StreamExt as _};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (mut sink, stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(32);
    let forward = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let initialised = Arc::new(AtomicBool::new(false));
    let seen = initialised.clone();
    let stream = stream.inspect(move |message| {
        if let Ok(Message::Text(text)) = message
            && text.contains("connection_init")
        {
            seen.store(true, Ordering::Relaxed);
        }
    });
    let outgoing = tokio_util::sync::PollSender::new(tx.clone())
        .sink_map_err(|_| axum::Error::new("the connection is closing"));
    let graphql = GraphQLWebSocket::new_with_pair(outgoing, stream, schema, protocol)
        .with_data(data)
        .keepalive_timeout(std::time::Duration::from_secs(60))
        .serve();
    let timeout = async {
        tokio::time::sleep(INIT_TIMEOUT).await;
        if initialised.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = graphql => {}
        () = timeout => {
            let close = CloseFrame {
                code: INIT_TIMEOUT_CODE,
                reason: "Connection initialisation timeout".into(),
            };
            let _ = tx.send(Message::Close(Some(close))).await;
        }
    }
    drop(tx);
    let _ = forward.await;
}
