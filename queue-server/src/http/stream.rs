//! The two ways of watching an entry: a Server-Sent Events response body,
//! and a WebSocket after an RFC 6455 upgrade. Both frame what the entry's
//! [`StreamGuard`] yields; what to send and when is decided in `push/`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
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

/// An SSE response body: one `status` event per message, comment
/// heartbeats, and an end with a `retry:` when the server shuts down.
pub struct SseBody {
    events: Pin<Box<dyn Stream<Item = Bytes> + Send>>,
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody").finish_non_exhaustive()
    }
}

impl SseBody {
    pub fn new(stream: StreamGuard) -> Self {
        struct State {
            stream: StreamGuard,
            next_id: u64,
            done: bool,
        }
        let events = futures_util::stream::unfold(
            State {
                stream,
                next_id: 1,
                done: false,
            },
            |mut state| async move {
                if state.done {
                    return None;
                }
                let message = state.stream.recv().await;
                state.done = message.is_final();
                let event = sse_event(&message, state.next_id);
                if matches!(message, Outgoing::Status { .. }) {
                    state.next_id += 1;
                }
                Some((event, state))
            },
        );
        SseBody {
            events: Box::pin(events),
        }
    }
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

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.events
            .as_mut()
            .poll_next(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

pub(super) fn sse_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers proxied responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
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
