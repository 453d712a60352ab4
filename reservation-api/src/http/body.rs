//! Reading a request body, with the defences every body needs: a size cap
//! (413 `payload_too_large`), a bound on the pauses within it (408
//! `request_timeout`, so a client that declares a body and stops sending it
//! cannot hold its connection), and a lingering read of what is left of a
//! refused body, so that a client that writes its whole body before reading
//! (Python's `urllib`, curl) reads the 413 instead of a reset connection.
//! Every failure is this crate's `Error`, so it answers in the API's error
//! shape (axum's own body extractors answer in plain text).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::AppState;
use crate::error::{Error, ErrorCode};

/// Request bodies are small JSON documents: an event of 200 sections is
/// about 20 KB.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of a refused body is still read and dropped, and for how long
/// at most (as nginx's lingering close); beyond them the connection closes.
const MAX_DRAIN_BYTES: usize = 16 << 20;
const MAX_DRAIN_TIME: Duration = Duration::from_secs(2);

/// A request's whole body, read within the limits above.
#[derive(Debug)]
pub(super) struct RequestBody(pub(super) Bytes);

fn too_large() -> Error {
    Error::rejected(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

async fn drain(body: &mut Body) {
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

impl FromRequest<AppState> for RequestBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = req.into_body();
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            drain(&mut body).await;
            return Err(too_large());
        }
        let pause = state.body_read_timeout;
        let mut buf = BytesMut::new();
        loop {
            let frame = tokio::time::timeout(pause, body.frame())
                .await
                .map_err(|_| {
                    Error::rejected(
                        ErrorCode::RequestTimeout,
                        format!("the request body stopped arriving: nothing more for {pause:?}"),
                    )
                })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| {
                Error::rejected(
                    ErrorCode::InvalidJson,
                    format!("could not read the body: {e}"),
                )
            })?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > MAX_BODY_BYTES {
                    drain(&mut body).await;
                    return Err(too_large());
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(RequestBody(buf.freeze()))
    }
}
