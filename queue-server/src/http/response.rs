//! Building responses, and the one place where a `QueueError` becomes an
//! HTTP status and an error code.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use ticketon_wire::ErrorBody;

use crate::error::QueueError;
use crate::proof_of_work::PowRefusal;

/// Every answer hyper writes is one buffer: an event stream writes its own
/// (`takeover.rs`).
pub type HttpResponse = Response<Full<Bytes>>;

/// What hyper is given for a request whose connection an event stream took
/// over: never sent (`ClientIo` swallows it), and `Connection: close` makes
/// hyper let go of the connection once it is "written".
pub(super) fn taken_over() -> HttpResponse {
    let mut response = empty(StatusCode::OK);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A body serialized already (and perhaps cached).
pub(super) fn json_bytes(status: StatusCode, body: Bytes) -> HttpResponse {
    with_body(status, APPLICATION_JSON, body)
}

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    // Room for a join answer (about 200 bytes) in one allocation.
    let mut buf = Vec::with_capacity(256);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => with_body(status, APPLICATION_JSON, Bytes::from(buf)),
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            with_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                APPLICATION_JSON,
                Bytes::from(ErrorBody::new("internal", "internal error").to_json()),
            )
        }
    }
}

pub(super) fn text(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    with_body(
        status,
        HeaderValue::from_static(content_type),
        Bytes::from(body),
    )
}

pub(super) fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn with_body(status: StatusCode, content_type: HeaderValue, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// How long a client over the per-IP stream cap is asked to wait.
const STREAM_RETRY_AFTER_SEC: u32 = 5;

/// Status and stable error code of each error.
fn classify(error: &QueueError) -> (StatusCode, &'static str) {
    match error {
        QueueError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
        QueueError::InvalidField(_) => (StatusCode::BAD_REQUEST, "invalid_field"),
        QueueError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        QueueError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        QueueError::QueueNotFound(_) => (StatusCode::NOT_FOUND, "queue_not_found"),
        QueueError::EntryNotFound(_) => (StatusCode::NOT_FOUND, "entry_not_found"),
        QueueError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        QueueError::MethodNotAllowed { .. } => {
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        }
        QueueError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        QueueError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        QueueError::QueueClosed(_) => (StatusCode::CONFLICT, "queue_closed"),
        QueueError::SoldOut(_) => (StatusCode::CONFLICT, "sold_out"),
        QueueError::TooManyStreams { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
        QueueError::TooManyJoins { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_joins"),
        QueueError::BadUpgrade(_) => (StatusCode::BAD_REQUEST, "bad_upgrade"),
        QueueError::PowNotRequired(_) => (StatusCode::NOT_FOUND, "pow_not_required"),
        QueueError::ProofOfWork(refusal) => (
            StatusCode::FORBIDDEN,
            match refusal {
                PowRefusal::Required => "pow_required",
                PowRefusal::Invalid(_) => "pow_invalid",
                PowRefusal::Expired => "pow_expired",
                PowRefusal::WrongQueue => "pow_wrong_queue",
                PowRefusal::Replayed => "pow_replayed",
            },
        ),
        QueueError::ScheduleFixed(_) => (StatusCode::CONFLICT, "schedule_fixed"),
        QueueError::NoDraw(_) => (StatusCode::NOT_FOUND, "no_draw"),
        QueueError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

pub(super) fn error(error: &QueueError) -> HttpResponse {
    let (status, code) = classify(error);
    let body = ErrorBody::new(code, error.to_string());
    let mut response = with_body(status, APPLICATION_JSON, Bytes::from(body.to_json()));
    let headers = response.headers_mut();
    match error {
        QueueError::Unauthorized => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        QueueError::MethodNotAllowed { allow, .. } => {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        QueueError::Unavailable {
            retry_after_sec, ..
        }
        | QueueError::TooManyJoins {
            retry_after_sec, ..
        } => {
            headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_sec));
        }
        QueueError::TooManyStreams { .. } => {
            headers.insert(RETRY_AFTER, HeaderValue::from(STREAM_RETRY_AFTER_SEC));
        }
        _ => {}
    }
    response
}
