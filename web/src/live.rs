//! GraphQL subscriptions over graphql-transport-ws at `/graphql/ws`, on the same origin:
//! the browser sends the session cookie with the upgrade.

use futures::{SinkExt as _, StreamExt as _};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use serde_json::{Value, json};

/// How a subscription ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// The server completed it (a build's log: the build ended and all of it was sent).
    Complete,
    /// The server refused it or it failed: the message to show.
    Refused(String),
    /// The connection dropped or was closed (with the close code when there was one):
    /// worth trying again.
    Lost(Option<u16>),
}

fn socket_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let (protocol, host) = location
        .map(|l| {
            (
                l.protocol().unwrap_or_default(),
                l.host().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}/graphql/ws")
}

/// Runs one subscription, calling `on_data` with each result's `data`, until it ends.
pub async fn subscribe(query: &str, variables: Value, mut on_data: impl FnMut(Value)) -> End {
    let Ok(socket) = WebSocket::open_with_protocol(&socket_url(), "graphql-transport-ws") else {
        return End::Lost(None);
    };
    let (mut sink, mut stream) = socket.split();
    let send = |value: Value| Message::Text(value.to_string());
    if sink
        .send(send(json!({ "type": "connection_init", "payload": {} })))
        .await
        .is_err()
    {
        return End::Lost(None);
    }
    let mut subscribed = false;
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Bytes(_)) => continue,
            Err(WebSocketError::ConnectionClose(close)) => {
                return match close.code {
                    4403 => End::Refused("Your session has expired: sign in again.".into()),
                    code => End::Lost(Some(code)),
                };
            }
            Err(_) => return End::Lost(None),
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match message["type"].as_str() {
            Some("connection_ack") if !subscribed => {
                subscribed = true;
                let subscribe = json!({ "id": "1", "type": "subscribe",
                    "payload": { "query": query, "variables": variables } });
                if sink.send(send(subscribe)).await.is_err() {
                    return End::Lost(None);
                }
            }
            Some("ping") => {
                let _ = sink.send(send(json!({ "type": "pong" }))).await;
            }
            Some("next") => {
                if let Some(error) = message["payload"]["errors"].get(0) {
                    return End::Refused(error_message(error));
                }
                on_data(message["payload"]["data"].clone());
            }
            Some("error") => {
                let first = message["payload"].get(0).cloned().unwrap_or(Value::Null);
                return End::Refused(error_message(&first));
            }
            Some("complete") => return End::Complete,
            _ => {}
        }
    }
    End::Lost(None)
}

fn error_message(error: &Value) -> String {
    error["message"]
        .as_str()
        .unwrap_or("the server refused the subscription")
        .to_owned()
}
