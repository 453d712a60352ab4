//! The one place where an error becomes an HTTP answer: each
//! [`ErrorCode`] has exactly one status, and every failure reaches the
//! client as the shared `{"error":{"code","message", ...details}}` body.
//! Infrastructure failures are logged here and reach the client without
//! internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ticketon_wire::ErrorBody;

use crate::error::{Error, ErrorCode};

/// The status every code answers with (the tables in
/// proto-notes/reservation-api.md list the same; a test compares them).
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        InvalidJson
        | InvalidField
        | InvalidEvent
        | InvalidEventStatus
        | InvalidSeatStatus
        | InvalidReservationStatus
        | InvalidQuery
        | NoSeats
        | DuplicateSeat
        | TooManySeats
        | SeatNotInEvent
        | InvalidIdempotencyKey
        | InvalidPaymentKey
        | AmountMismatch
        | InvalidTicketStatus => StatusCode::BAD_REQUEST,
        AdminKeyRequired | TokenMissing | TokenExpired | TokenInvalid | SessionEnded => {
            StatusCode::UNAUTHORIZED
        }
        PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
        AdminKeyInvalid | WrongQueue | AdminOnly | HolderOnly => StatusCode::FORBIDDEN,
        EventNotFound | ReservationNotFound | TicketNotFound | NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        SeatUnavailable
        | EventNotOnSale
        | SoldOut
        | ReservationNotHeld
        | IdempotencyInProgress
        | ReservationNotPayable
        | ReservationAlreadyPaid
        | PaymentRefunded
        | RefundDeclined
        | TicketUsed
        | TicketAlreadyUsed
        | TicketCancelled
        | TicketBeingCancelled => StatusCode::CONFLICT,
        IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        PaymentProviderError => StatusCode::BAD_GATEWAY,
        SeatBusy | LockServiceUnavailable | DatabaseUnavailable | OverCapacity => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The status and body of `error`.
pub fn status_and_body(error: &Error) -> (StatusCode, Vec<u8>) {
    let code = error.code();
    let body = match error {
        Error::Rejected { message, .. } | Error::Busy { message } => {
            ErrorBody::new(code.as_str(), message.as_str())
        }
        Error::SeatUnavailable { seat_ids } => ErrorBody::new(
            code.as_str(),
            format!("these seats are not available: {seat_ids:?}"),
        )
        .with_detail("seatIds", seat_ids.clone()),
        Error::PaymentDeclined {
            provider_code,
            message,
        } => ErrorBody::new(code.as_str(), message.as_str())
            .with_detail("providerCode", provider_code.as_str()),
        Error::PaymentProvider(detail) => {
            tracing::error!(%detail, "payment provider failure");
            ErrorBody::new(
                code.as_str(),
                "the payment provider refused or could not be reached; nothing was charged",
            )
        }
        Error::LockService(detail) => {
            tracing::error!(%detail, "lock service failure");
            ErrorBody::new(
                code.as_str(),
                "the seat lock service is unavailable; try again",
            )
        }
        Error::Storage(e) if code == ErrorCode::DatabaseUnavailable => {
            tracing::warn!(error = %e, "database unavailable or overloaded");
            ErrorBody::new(
                code.as_str(),
                "the database is unavailable or overloaded; try again",
            )
        }
        Error::Storage(e) => {
            tracing::error!(error = %e, "storage failure");
            ErrorBody::new(code.as_str(), "internal storage error")
        }
        Error::Migration(e) => {
            tracing::error!(error = %e, "migration failure");
            ErrorBody::new(code.as_str(), "internal storage error")
        }
        Error::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            ErrorBody::new(code.as_str(), "internal error")
        }
    };
    (status_of(code), body.to_json())
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
        let (status, body) = status_and_body(&self);
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
        let (status, body) = status_and_body(&Error::SeatUnavailable {
            seat_ids: vec![3, 7],
        });
        assert_eq!(status, StatusCode::CONFLICT);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "seat_unavailable");
        assert_eq!(v["error"]["seatIds"], serde_json::json!([3, 7]));
    }

    #[test]
    fn a_declined_payment_is_402_with_the_provider_code() {
        let (status, body) = status_and_body(&Error::PaymentDeclined {
            provider_code: "REJECT_CARD_PAYMENT".into(),
            message: "limit".into(),
        });
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "payment_declined");
        assert_eq!(v["error"]["providerCode"], "REJECT_CARD_PAYMENT");
        let (status, _) = status_and_body(&Error::PaymentProvider("x".into()));
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn storage_errors_do_not_leak_details() {
        let (status, body) = status_and_body(&Error::Storage(sqlx::Error::RowNotFound));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert!(!v["error"]["message"].as_str().unwrap().contains("row"));
    }

    #[test]
    fn an_overloaded_or_unreachable_database_is_a_503_to_retry() {
        for cause in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let response = Error::Storage(cause).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        }
        let (_, body) = status_and_body(&Error::Storage(sqlx::Error::PoolTimedOut));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "database_unavailable");
        assert!(!v["error"]["message"].as_str().unwrap().contains("pool"));
    }
}
