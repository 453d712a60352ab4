//! `Idempotency-Key` on POST: the first response (any status below 500) is
//! stored and returned again, byte for byte, for a retry with the same key
//! and body. Keys are scoped per caller (the buyer's userId, or the admin),
//! so one buyer cannot replay another's response.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::dto::hex;
use super::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::error::json_response;
use crate::store::IdemBegin;

const MAX_KEY_LEN: usize = 200;

fn fingerprint(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

fn key_of(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => Ok(Some(k.to_string())),
        _ => Err(Error::rejected(
            ErrorCode::InvalidIdempotencyKey,
            format!("Idempotency-Key must be 1..={MAX_KEY_LEN} visible ASCII characters"),
        )),
    }
}

/// Runs `handler` at most once per (scope, key); see module doc.
pub(super) async fn idempotent<F, Fut>(
    state: &AppState,
    scope: &str,
    headers: &HeaderMap,
    body: &[u8],
    handler: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Vec<u8>)>>,
{
    let key = match key_of(headers) {
        Ok(Some(k)) => k,
        Ok(None) => return respond(handler().await),
        Err(e) => return e.into_response(),
    };
    let svc = &state.svc;
    match svc.idempotency_begin(scope, &key, &fingerprint(body)).await {
        Err(e) => e.into_response(),
        Ok(IdemBegin::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = json_response(status, body);
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            resp
        }
        Ok(IdemBegin::InProgress) => Error::rejected(
            ErrorCode::IdempotencyInProgress,
            "a request with this Idempotency-Key is still being processed",
        )
        .into_response(),
        Ok(IdemBegin::Mismatch) => Error::Rejected {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this Idempotency-Key was used with a different request body".into(),
        }
        .into_response(),
        Ok(IdemBegin::New) => {
            let outcome = handler().await;
            let (status, bytes) = match &outcome {
                Ok((s, b)) => (*s, b.clone()),
                Err(e) => crate::http::error::status_and_body(e),
            };
            let recorded = if status.is_server_error() {
                svc.idempotency_abandon(scope, &key).await
            } else {
                svc.idempotency_complete(scope, &key, status.as_u16(), &bytes)
                    .await
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not record an idempotent response");
            }
            respond(outcome)
        }
    }
}

fn respond(outcome: Result<(StatusCode, Vec<u8>)>) -> Response {
    match outcome {
        Ok((status, body)) => json_response(status, body),
        Err(e) => e.into_response(),
    }
}
