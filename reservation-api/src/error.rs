//! The reservation-api's one error type, and its one mapping to HTTP.
//!
//! Every layer (domain rules, storage, seat locks, HTTP extractors) returns
//! [`Error`], so a status code is chosen in exactly one place
//! ([`Error::status_and_body`]) and every failure reaches the client as the
//! shared `{"error":{"code","message"}}` body. Storage and lock-service
//! failures are logged here and reach the client without internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ticketon_wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or rule-breaking input (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Missing, expired or tampered credentials (401).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Valid credentials that do not grant this action (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// Some requested seats are held or sold by someone else (409).
    #[error("seats not available: {seat_ids:?}")]
    SeatUnavailable { seat_ids: Vec<i64> },
    /// A state conflict other than seats (409), e.g. an event not on sale.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// An Idempotency-Key reused with another request body (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The seats stayed locked by concurrent buyers for longer than we wait;
    /// nothing was taken and the client may retry (503).
    #[error("{message}")]
    Busy { message: String },
    /// The lock service (Redis) failed (503).
    #[error("lock service: {0}")]
    LockService(String),
    /// Toss declined the payment (card refused, session expired, ...):
    /// nothing was charged (402). `code` is Toss's code.
    #[error("payment declined ({code}): {message}")]
    PaymentDeclined { code: String, message: String },
    /// Toss refused Ticketon's request as malformed or unauthorized, or
    /// could not be reached for a lookup (502). Nothing was charged.
    #[error("payment provider: {0}")]
    PaymentProvider(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The single mapping from an error to an HTTP status and JSON body.
    /// `seat_unavailable` carries the taken seats in an extra `seatIds` field
    /// next to `code` and `message`, so clients need not parse the message.
    pub fn status_and_body(&self) -> (StatusCode, Vec<u8>) {
        let simple = |status: StatusCode, code: &str, message: &str| {
            (status, ErrorBody::new(code, message).to_json())
        };
        match self {
            Error::BadRequest { code, message } => simple(StatusCode::BAD_REQUEST, code, message),
            Error::Unauthorized { code, message } => {
                simple(StatusCode::UNAUTHORIZED, code, message)
            }
            Error::Forbidden { code, message } => simple(StatusCode::FORBIDDEN, code, message),
            Error::NotFound { code, message } => simple(StatusCode::NOT_FOUND, code, message),
            Error::Conflict { code, message } => simple(StatusCode::CONFLICT, code, message),
            Error::Unprocessable { code, message } => {
                simple(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            Error::SeatUnavailable { seat_ids } => {
                let message = format!("these seats are not available: {seat_ids:?}");
                let body = serde_json::json!({
                    "error": {"code": "seat_unavailable", "message": message, "seatIds": seat_ids}
                });
                (
                    StatusCode::CONFLICT,
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
            }
            Error::PaymentDeclined { code, message } => {
                let body = serde_json::json!({
                    "error": {"code": "payment_declined", "message": message, "tossCode": code}
                });
                (
                    StatusCode::PAYMENT_REQUIRED,
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
            }
            Error::PaymentProvider(detail) => {
                tracing::error!(%detail, "payment provider failure");
                simple(
                    StatusCode::BAD_GATEWAY,
                    "payment_provider_error",
                    "the payment provider refused or could not be reached; nothing was charged",
                )
            }
            Error::Busy { message } => {
                simple(StatusCode::SERVICE_UNAVAILABLE, "seat_busy", message)
            }
            Error::LockService(detail) => {
                tracing::error!(%detail, "lock service failure");
                simple(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "lock_service_unavailable",
                    "the seat lock service is unavailable; try again",
                )
            }
            Error::Storage(e) => {
                tracing::error!(error = %e, "storage failure");
                simple(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal storage error",
                )
            }
            Error::Migration(e) => {
                tracing::error!(error = %e, "migration failure");
                simple(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal storage error",
                )
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                simple(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl From<crate::toss::TossError> for Error {
    fn from(e: crate::toss::TossError) -> Self {
        Error::PaymentProvider(e.to_string())
    }
}

/// Builds a JSON response from a status and an already serialized body.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let mut resp = json_response(status, body);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_unavailable_is_409_and_names_the_seats() {
        let (status, body) = Error::SeatUnavailable {
            seat_ids: vec![3, 7],
        }
        .status_and_body();
        assert_eq!(status, StatusCode::CONFLICT);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "seat_unavailable");
        assert_eq!(v["error"]["seatIds"], serde_json::json!([3, 7]));
    }

    #[test]
    fn a_declined_payment_is_402_with_the_toss_code() {
        let (status, body) = Error::PaymentDeclined {
            code: "REJECT_CARD_PAYMENT".into(),
            message: "limit".into(),
        }
        .status_and_body();
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "payment_declined");
        assert_eq!(v["error"]["tossCode"], "REJECT_CARD_PAYMENT");
        let (status, _) = Error::PaymentProvider("x".into()).status_and_body();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn storage_errors_do_not_leak_details() {
        let (status, body) = Error::Storage(sqlx::Error::PoolTimedOut).status_and_body();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert!(!v["error"]["message"].as_str().unwrap().contains("pool"));
    }
}
