//! Reading a request body, with the defences every body needs: a size cap
//! (413 `payload_too_large`), a bound on the pauses within it (408
//! `request_timeout`: each pause, and the whole body, bounded by the header
//! read timeout, so a client that declares a body and trickles it or stops
//! sending it cannot hold its connection), and a lingering read of what is left of a
//! refused body, so that a client that writes its whole body before reading
//! (Python's `urllib`, curl) reads the 413 instead of a reset connection.
//! Every failure is this crate's `Error`, so it answers in the API's error
//! shape (axum's own body extractors answer in plain text).

use axum::extract::{FromRequest, Request};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use ticketon_runtime::connections::{declared_length, drain, expects_continue, BodyDeadline};

use super::AppState;
use crate::error::{Error, ErrorCode};

/// Request bodies are small JSON documents: an event of 200 sections is
/// about 20 KB.
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request's whole body, read within these limits (the lingering read is
/// `ticketon_runtime::connections::drain`).
#[derive(Debug)]
pub(super) struct RequestBody(pub(super) Bytes);

fn too_large() -> Error {
    Error::rejected(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

impl FromRequest<AppState> for RequestBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = declared_length(req.headers());
        let linger = !expects_continue(req.headers());
        let mut body = req.into_body();
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            if linger {
                drain(&mut body).await;
            }
            return Err(too_large());
        }
        let deadline = BodyDeadline::new(state.body_read_timeout);
        let mut buf = BytesMut::new();
        loop {
            let frame = tokio::time::timeout_at(deadline.next(), body.frame())
                .await
                .map_err(|_| Error::rejected(ErrorCode::RequestTimeout, deadline.explain()))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| {
                Error::rejected(
                    ErrorCode::InvalidJson,
                    format!("could not read the body: {e}"),
                )
            })?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > MAX_BODY_BYTES {
                    if linger {
                        drain(&mut body).await;
                    }
                    return Err(too_large());
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(RequestBody(buf.freeze()))
    }
}
