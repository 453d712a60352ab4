//! The connection defences both services' HTTP servers share, because a
//! client can open sockets and send nothing, or send half a request:
//! - a cap on open connections: past it a new connection gets a canned 503
//!   with `Retry-After` at once and is closed, so the process never runs out
//!   of file descriptors and keeps answering;
//! - a header read timeout: a connection that does not finish a request
//!   head in time (a half-open request, or an idle keep-alive) is closed.
//!   Each server also bounds the pauses within a request body by it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; keep it under the process's file limit
    /// with room for the sockets of its own dependencies.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, from the moment the
    /// connection waits for one (so also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 16_384,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What a connection over the cap reads before it is closed.
pub const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 84\r\n\
\r\n\
{\"error\":{\"code\":\"over_capacity\",\"message\":\"too many open connections, retry soon\"}}";

/// Connections refused over the cap at once at most; beyond that they are
/// closed without an answer (each refusal holds its socket for a moment).
const MAX_REFUSING: usize = 1024;
/// How long a refused connection is drained before it is closed, so that
/// the client reads the 503 instead of a reset.
const REFUSAL_DRAIN: Duration = Duration::from_millis(500);

/// The refusals under way, shared by an accept loop.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<AtomicUsize>);

impl Refusals {
    /// Answers the canned 503 and closes, after draining what the client
    /// sent (closing with unread data would reset the connection under the
    /// answer).
    pub fn refuse(&self, mut stream: TcpStream) {
        if self.0.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
            self.0.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let refusing = self.0.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_DRAIN, async {
                stream.write_all(OVER_CAPACITY).await?;
                stream.shutdown().await?;
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<_, std::io::Error>(())
            })
            .await;
            refusing.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// How much of a body too large to accept is still read and dropped before
/// the 413 is sent, and for how long at most: a client that writes its whole
/// body before reading (Python's urllib, curl) then reads the 413 instead of
/// a connection reset, as nginx's lingering close gives it. Beyond these the
/// connection is closed.
const MAX_DRAIN_BYTES: usize = 16 << 20;
const MAX_DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and drops what is left of a refused request body, within the
/// bounds above.
pub async fn drain<B>(body: &mut B)
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut drained = 0;
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, async {
        while drained < MAX_DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    })
    .await;
}

/// Whether the client waits for `100 Continue` before it sends its body:
/// then a refused body is not drained (reading it would send the 100 and
/// invite the upload), and hyper's own close leaves the client with the
/// answer and nothing sent.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// How many pauses long a whole body may take: each pause is bounded by
/// the header read timeout, and so is the whole, or a client sending a
/// byte every few seconds could hold its connection for days.
const BODY_PAUSES: u32 = 3;

/// When the next piece of a request body must have come.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    pause: Duration,
    end: tokio::time::Instant,
}

impl BodyDeadline {
    /// From now, with `pause` the header read timeout.
    pub fn new(pause: Duration) -> Self {
        BodyDeadline {
            pause,
            end: tokio::time::Instant::now() + pause * BODY_PAUSES,
        }
    }

    /// The instant the next frame must arrive by.
    pub fn next(&self) -> tokio::time::Instant {
        (tokio::time::Instant::now() + self.pause).min(self.end)
    }

    /// What a client is told when it missed it.
    pub fn explain(&self) -> String {
        format!(
            "the request body did not arrive in time: at most {} ms between two pieces, {} ms in all",
            self.pause.as_millis(),
            (self.pause * BODY_PAUSES).as_millis()
        )
    }
}

/// The body size a request declares (`Content-Length`), when it does.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canned_refusal_is_a_complete_response() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed["error"]["code"], "over_capacity");
    }
}
