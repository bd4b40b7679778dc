//! A graphql-transport-ws client over a real WebSocket (tokio-tungstenite).

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects with a small read buffer: tungstenite zero-fills the whole buffer on each read,
/// which with the default 128 KiB and a thousand clients costs more than the messages.
async fn connect(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<
    (
        Socket,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    tokio_tungstenite::connect_async_with_config(request, Some(config), false).await
}

pub struct WsClient {
    socket: Socket,
}

/// How a connection or a subscription ended.
#[derive(Debug, PartialEq)]
pub enum End {
    /// The server completed the subscription.
    Complete,
    /// The server sent an error for it.
    Error(Value),
    /// The server closed the socket with this code.
    Closed(u16),
}

impl WsClient {
    /// Opens `base`'s `/graphql/ws` without initialising the connection.
    pub async fn open(base: &str, cookie: &str) -> anyhow::Result<Self> {
        Self::connect_with_protocol(base, cookie, "graphql-transport-ws")
            .await?
            .map_err(|end| anyhow::anyhow!("upgrade refused: {end:?}"))
    }

    /// Opens `base`'s `/graphql/ws` asking for `protocol`, without initialising.
    pub async fn connect_with_protocol(
        base: &str,
        cookie: &str,
        protocol: &str,
    ) -> anyhow::Result<Result<Self, End>> {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", protocol.parse()?);
        headers.insert("cookie", cookie.parse()?);
        match connect(request).await {
            Ok((socket, _)) => Ok(Ok(Self { socket })),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Ok(Err(End::Closed(response.status().as_u16())))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Sends `text` as it is, valid protocol message or not.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Sends `connection_init` (again).
    pub async fn init(&mut self) -> anyhow::Result<()> {
        self.send(json!({ "type": "connection_init", "payload": {} }))
            .await
    }

    /// Reads until the socket ends; how it ended.
    pub async fn end(&mut self) -> anyhow::Result<End> {
        loop {
            if let Err(end) = self.next().await? {
                return Ok(end);
            }
        }
    }

    /// Opens `base`'s `/graphql/ws` with `cookie` (may be empty) and `origin`, and
    /// initialises the connection. `Err(code)`-like failures come back as `End::Closed`.
    pub async fn connect(
        base: &str,
        cookie: &str,
        origin: Option<&str>,
    ) -> anyhow::Result<Result<Self, End>> {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        if !cookie.is_empty() {
            headers.insert("cookie", cookie.parse()?);
        }
        if let Some(origin) = origin {
            headers.insert("origin", origin.parse()?);
        }
        let (socket, _) = match connect(request).await {
            Ok(connected) => connected,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                return Ok(Err(End::Closed(response.status().as_u16())));
            }
            Err(err) => return Err(err.into()),
        };
        let mut client = Self { socket };
        client
            .send(json!({ "type": "connection_init", "payload": {} }))
            .await?;
        match client.next().await? {
            Ok(message) if message["type"] == "connection_ack" => Ok(Ok(client)),
            Ok(other) => bail!("expected connection_ack, got {other}"),
            Err(end) => Ok(Err(end)),
        }
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await?;
        Ok(())
    }

    /// The next text message as it came (pings answered), or `None` when the socket
    /// ended: for readers that time arrivals and parse later.
    pub async fn next_raw(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if text.starts_with(r#"{"type":"ping""#) {
                        self.send(json!({ "type": "pong" })).await?;
                        continue;
                    }
                    return Ok(Some(text.to_string()));
                }
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
            }
        }
    }

    /// The next protocol message, or how the socket ended.
    async fn next(&mut self) -> anyhow::Result<Result<Value, End>> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .context("no message from the server within 30 s")?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await?;
                        continue;
                    }
                    return Ok(Ok(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(Err(End::Closed(frame.map_or(1005, |f| u16::from(f.code)))));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => return Ok(Err(End::Closed(1006))),
            }
        }
    }

    /// Starts subscription `id`.
    pub async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<()> {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await
    }

    /// The next `next` payload's data of subscription `id`, or how it ended.
    pub async fn next_data(&mut self, id: &str) -> anyhow::Result<Result<Value, End>> {
        loop {
            let message = match self.next().await? {
                Ok(message) => message,
                Err(end) => return Ok(Err(end)),
            };
            if message["id"] != id {
                continue;
            }
            match message["type"].as_str() {
                Some("next") => {
                    if let Some(errors) = message["payload"].get("errors") {
                        return Ok(Err(End::Error(errors.clone())));
                    }
                    return Ok(Ok(message["payload"]["data"].clone()));
                }
                Some("error") => return Ok(Err(End::Error(message["payload"].clone()))),
                Some("complete") => return Ok(Err(End::Complete)),
                _ => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
