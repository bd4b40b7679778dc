//! Subscriptions over graphql-transport-ws at `GET /graphql/ws`.
//!
//! async-graphql runs the operations; this module holds the connection to the protocol's
//! rules and close codes, which async-graphql answers differently (1002 and 1011):
//!
//! | code | when |
//! |------|------|
//! | 4400 | a message that is not JSON or not a client message of the protocol |
//! | 4401 | `subscribe` before `connection_init` was acknowledged |
//! | 4403 | `connection_init` without a valid session (signed out, or it expired) |
//! | 4408 | no `connection_init` within ten seconds |
//! | 4409 | `subscribe` with the id of a subscription still running |
//! | 4429 | a second `connection_init` |
//!
//! A subscription that is refused (another student's build, say) gets an `error` message
//! for that id, like the query it mirrors: the connection and its other subscriptions go on.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use crate::auth::Viewer;

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message a client may send (subscription documents are far smaller).
const MAX_MESSAGE: usize = 64 * 1024;
/// Read buffer per connection (the default, 128 KiB, is zeroed on each read: with a
/// thousand sockets that was the largest cost of fanning a log line out).
const READ_BUFFER: usize = 4 * 1024;

/// Upgrades to graphql-transport-ws. The session cookie sent with the upgrade
/// authenticates the connection (its `Origin` is checked like a POST's); the decision is
/// given at `connection_init`, as the protocol wants. Each subscription is then authorized
/// like the query it mirrors.
pub async fn subscribe(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    if chosen_protocol(&headers) != Some(WebSocketProtocols::GraphQLWS) {
        return (
            StatusCode::BAD_REQUEST,
            "only the graphql-transport-ws protocol is spoken here (Sec-WebSocket-Protocol: graphql-transport-ws)",
        )
            .into_response();
    }
    upgrade
        .protocols(["graphql-transport-ws"])
        .max_message_size(MAX_MESSAGE)
        // tungstenite zero-fills this much on every read; clients send little.
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _open = crate::metrics::Held::new(&crate::metrics::get().websocket_connections);
            let signed_in = viewer.0.is_some();
            let mut data = async_graphql::Data::default();
            data.insert(viewer);
            serve(socket, state.schema.clone(), protocol, data, signed_in).await;
        })
}

/// The protocol async-graphql picks from `Sec-WebSocket-Protocol`: the first it knows.
fn chosen_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

/// A rule of the protocol broken: the socket is closed with this code and reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: String,
}

impl Violation {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// What the connection has seen so far, to tell when a message breaks the protocol.
#[derive(Debug, Default)]
pub struct Protocol {
    signed_in: bool,
    initialised: bool,
    /// Ids of subscriptions started and not yet completed by either side.
    running: HashSet<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Protocol {
    pub fn new(signed_in: bool) -> Self {
        Self {
            signed_in,
            ..Self::default()
        }
    }

    /// Checks a message from the client before async-graphql sees it.
    pub fn incoming(&mut self, text: &str) -> Result<(), Violation> {
        let Ok(message) = serde_json::from_str::<Envelope>(text) else {
            return Err(Violation::new(
                4400,
                "Invalid message: expected a JSON object with a type",
            ));
        };
        match message.kind.as_str() {
            "connection_init" if self.initialised => {
                Err(Violation::new(4429, "Too many initialisation requests"))
            }
            "connection_init" if !self.signed_in => Err(Violation::new(
                4403,
                "Forbidden: no valid session; sign in again",
            )),
            "connection_init" => {
                self.initialised = true;
                Ok(())
            }
            "subscribe" if !self.initialised => Err(Violation::new(4401, "Unauthorized")),
            "subscribe" => {
                let Some(id) = message.id else {
                    return Err(Violation::new(
                        4400,
                        "Invalid message: subscribe needs an id",
                    ));
                };
                if self.running.contains(&id) {
                    return Err(Violation::new(
                        4409,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                self.running.insert(id);
                Ok(())
            }
            "complete" => {
                if let Some(id) = message.id {
                    self.running.remove(&id);
                }
                Ok(())
            }
            "ping" | "pong" => Ok(()),
            other => Err(Violation::new(
                4400,
                format!("Invalid message: unknown type {other:?}"),
            )),
        }
    }

    /// Notes a message to the client: an operation's `complete` or `error` frees its id.
    pub fn outgoing(&mut self, text: &str) {
        // async-graphql writes the type first; only these two need a closer look.
        if (text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#))
            && let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str(text)
        {
            self.running.remove(&id);
        }
    }

    fn initialised(&self) -> bool {
        self.initialised
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the protocol on `socket`: messages pass [`Protocol`]'s checks on their way in and
/// out; a violation, or no `connection_init` in time, closes the socket with its code.
/// Outgoing messages pass through a channel so the close can be sent whatever
/// async-graphql is doing.
async fn serve(
    socket: WebSocket,
    schema: crate::graphql::LecternSchema,
    protocol: GraphQLProtocol,
    data: async_graphql::Data,
    signed_in: bool,
) {
    use futures::{SinkExt as _, StreamExt as _, future};

    let state = Arc::new(Mutex::new(Protocol::new(signed_in)));
    let violation: Arc<Mutex<Option<Violation>>> = Arc::default();

    let (mut sink, stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(32);
    let forward = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });

    let (seen, broken) = (state.clone(), violation.clone());
    let incoming = stream.take_while(move |message| {
        let verdict = match message {
            Ok(Message::Text(text)) => lock(&seen).incoming(text.as_str()),
            Ok(Message::Binary(_)) => Err(Violation::new(4400, "Invalid message: binary")),
            _ => Ok(()),
        };
        let go_on = match verdict {
            Ok(()) => true,
            Err(v) => {
                *lock(&broken) = Some(v);
                false
            }
        };
        future::ready(go_on)
    });
    let sent = state.clone();
    let outgoing = tokio_util::sync::PollSender::new(tx.clone())
        .sink_map_err(|_| axum::Error::new("the connection is closing"))
        .with(move |message: Message| {
            if let Message::Text(text) = &message {
                lock(&sent).outgoing(text.as_str());
            }
            future::ready(Ok::<_, axum::Error>(message))
        });
    let graphql = GraphQLWebSocket::new_with_pair(outgoing, incoming, schema, protocol)
        .with_data(data)
        .keepalive_timeout(Duration::from_secs(60))
        .serve();
    let timeout = async {
        tokio::time::sleep(INIT_TIMEOUT).await;
        if lock(&state).initialised() {
            std::future::pending::<()>().await;
        }
    };
    let close = tokio::select! {
        () = graphql => lock(&violation).take(),
        () = timeout => Some(Violation::new(4408, "Connection initialisation timeout")),
    };
    if let Some(Violation { code, reason }) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tx.send(Message::Close(Some(frame))).await;
    }
    drop(tx);
    let _ = forward.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<(), Violation>) -> Option<u16> {
        result.err().map(|v| v.code)
    }

    #[test]
    fn initialisation_needs_a_session_and_happens_once() {
        let mut signed_out = Protocol::new(false);
        assert_eq!(
            code(signed_out.incoming(r#"{"type":"connection_init"}"#)),
            Some(4403)
        );

        let mut p = Protocol::new(true);
        assert_eq!(
            code(p.incoming(r#"{"type":"subscribe","id":"1","payload":{}}"#)),
            Some(4401),
            "subscribe before init"
        );
        assert_eq!(
            code(p.incoming(r#"{"type":"connection_init","payload":{}}"#)),
            None
        );
        assert_eq!(
            code(p.incoming(r#"{"type":"connection_init"}"#)),
            Some(4429)
        );
    }

    #[test]
    fn ids_are_unique_while_their_subscription_runs() {
        let mut p = Protocol::new(true);
        p.incoming(r#"{"type":"connection_init"}"#).expect("init");
        let subscribe =
            r#"{"type":"subscribe","id":"log","payload":{"query":"subscription { x }"}}"#;
        assert_eq!(code(p.incoming(subscribe)), None);
        assert_eq!(code(p.incoming(subscribe)), Some(4409));
        // Completed by the server: the id is free again.
        p.outgoing(r#"{"type":"next","id":"log","payload":{"data":{}}}"#);
        assert_eq!(code(p.incoming(subscribe)), Some(4409));
        p.outgoing(r#"{"type":"complete","id":"log"}"#);
        assert_eq!(code(p.incoming(subscribe)), None);
        // Refused by the server, or completed by the client: free as well.
        p.outgoing(r#"{"type":"error","id":"log","payload":[{"message":"no"}]}"#);
        assert_eq!(code(p.incoming(subscribe)), None);
        p.incoming(r#"{"type":"complete","id":"log"}"#)
            .expect("complete");
        assert_eq!(code(p.incoming(subscribe)), None);
    }

    #[test]
    fn anything_else_is_an_invalid_message() {
        let mut p = Protocol::new(true);
        for junk in [
            "not json",
            "[1,2]",
            r#"{"id":"1"}"#,
            r#"{"type":"start","id":"1"}"#,
            r#"{"type":"connection_terminate"}"#,
        ] {
            assert_eq!(code(p.incoming(junk)), Some(4400), "{junk}");
        }
        p.incoming(r#"{"type":"connection_init"}"#).expect("init");
        assert_eq!(
            code(p.incoming(r#"{"type":"subscribe","payload":{}}"#)),
            Some(4400)
        );
        assert_eq!(code(p.incoming(r#"{"type":"ping"}"#)), None);
        assert_eq!(code(p.incoming(r#"{"type":"pong","payload":{}}"#)), None);
    }
}
