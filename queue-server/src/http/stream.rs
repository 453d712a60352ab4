//! The two ways of watching an entry: a Server-Sent Events stream on a
//! socket taken over from hyper, and a WebSocket after an RFC 6455 upgrade. Both frame what the entry's
//! [`StreamGuard`] yields; what to send and when is decided in `push/`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::response::{self, HttpResponse};
use crate::error::QueueError;
use crate::push::{Outgoing, StreamGuard};

/// The reconnect delay an SSE client is told to use (`retry:`).
pub const SSE_RETRY_MS: u64 = 2_000;
/// Client frames larger than this close the WebSocket with 1009.
pub const MAX_CLIENT_FRAME_BYTES: usize = 1024;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the request asks for an event stream (`Accept: text/event-stream`).
pub(super) fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// The head of an event stream, written by the stream itself on the socket
/// it took over (`takeover.rs`). The body ends when the connection closes,
/// which is when the stream ends: no chunked framing to pay per event.
const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: text/event-stream\r\n\
cache-control: no-cache\r\n\
x-accel-buffering: no\r\n\
connection: close\r\n\
\r\n";

/// Runs an SSE stream on a socket taken over from hyper: the head, then one
/// `status` event per message (the first carries `retry:`), comment
/// heartbeats, and an end with a `retry:` when the server shuts down. Ends
/// when the client goes away; bytes the client sends are ignored.
pub(super) async fn run_event_stream(mut socket: TcpStream, stream: StreamGuard) {
    let mut next_id = 1;
    let mut head = Some(SSE_HEAD);
    // Only to notice the client closing: a watcher sends nothing.
    let mut ignored = [0u8; 64];
    loop {
        tokio::select! {
            message = stream.recv() => {
                let event = sse_event(&message, next_id);
                if matches!(message, Outgoing::Status { .. }) {
                    next_id += 1;
                }
                let written = match head.take() {
                    Some(head) => socket.write_all(&[head, &event[..]].concat()).await,
                    None => socket.write_all(&event).await,
                };
                if written.is_err() {
                    return;
                }
                if message.is_final() {
                    break;
                }
            }
            read = socket.read(&mut ignored) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
    let _ = socket.shutdown().await;
}

/// One message as SSE text. The first event also carries the `retry:` hint.
pub(super) fn sse_event(message: &Outgoing, id: u64) -> Bytes {
    match message {
        Outgoing::Status { json, .. } => {
            let mut event = Vec::with_capacity(json.len() + 64);
            if id == 1 {
                event.extend_from_slice(format!("retry: {SSE_RETRY_MS}\n").as_bytes());
            }
            event.extend_from_slice(format!("id: {id}\nevent: status\ndata: ").as_bytes());
            event.extend_from_slice(json);
            event.extend_from_slice(b"\n\n");
            Bytes::from(event)
        }
        Outgoing::Heartbeat => Bytes::from_static(b": keep-alive\n\n"),
        Outgoing::Reconnect => Bytes::from(format!(
            "retry: {SSE_RETRY_MS}\n: the server is restarting, reconnect\n\n"
        )),
        Outgoing::Gone => Bytes::from_static(
            b"event: gone\ndata: {\"error\":{\"code\":\"queue_not_found\",\"message\":\"the queue was deleted\"}}\n\n",
        ),
    }
}

/// Checks an RFC 6455 opening handshake; answers its `Sec-WebSocket-Accept`.
pub(super) fn websocket_accept(headers: &HeaderMap) -> Result<HeaderValue, QueueError> {
    let bad = |why: &str| QueueError::BadUpgrade(format!("not a valid WebSocket upgrade: {why}"));
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has_token(UPGRADE, "websocket") {
        return Err(bad("Upgrade must be websocket"));
    }
    if !has_token(CONNECTION, "upgrade") {
        return Err(bad("Connection must include Upgrade"));
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(bad("Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad("Sec-WebSocket-Key is missing"))?;
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .map_err(|_| bad("Sec-WebSocket-Key is not base64"))?;
    if decoded.len() != 16 {
        return Err(bad("Sec-WebSocket-Key must be 16 bytes"));
    }
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| bad("Sec-WebSocket-Key"))
}

/// The 101 answer; the WebSocket itself runs in a task of its own once
/// hyper hands the connection over.
pub(super) fn upgrade_to_websocket(
    req: &mut Request<Incoming>,
    accept: HeaderValue,
    stream: StreamGuard,
) -> HttpResponse {
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(websocket_config()),
                )
                .await;
                run_websocket(socket, stream).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = response::empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    response
}

/// Small buffers: a watcher reads nothing but pings and closes, so the
/// default 128 KiB read buffer per connection would be nearly all waste.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(MAX_CLIENT_FRAME_BYTES + 64)
        .write_buffer_size(0)
        .max_frame_size(Some(MAX_CLIENT_FRAME_BYTES))
        .max_message_size(Some(MAX_CLIENT_FRAME_BYTES))
}

async fn run_websocket<S>(mut socket: WebSocketStream<S>, stream: StreamGuard)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let close = loop {
        tokio::select! {
            message = stream.recv() => match message {
                Outgoing::Status { json, terminal } => {
                    let Ok(text) = Utf8Bytes::try_from(json) else {
                        continue;
                    };
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                    if terminal {
                        break Some((CloseCode::Normal, "done"));
                    }
                }
                Outgoing::Heartbeat => {
                    if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                        return;
                    }
                }
                Outgoing::Reconnect => break Some((CloseCode::Restart, "server restarting, reconnect")),
                Outgoing::Gone => break Some((CloseCode::Normal, "queue deleted")),
            },
            incoming = socket.next() => match incoming {
                // Pings are answered by tungstenite; anything else a client
                // sends is ignored.
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Ok(_)) => {}
                Some(Err(WsError::Capacity(_))) => break Some((CloseCode::Size, "frame too large")),
                Some(Err(_)) => return,
            },
        }
    };
    let frame = close.map(|(code, reason)| CloseFrame {
        code,
        reason: reason.into(),
    });
    // Our close frame (or the reply to the client's), then wait briefly
    // for the client's close so that the client closes the TCP connection.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if socket.close(frame).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    })
    .await;
}
