//! What a confirm or a cancel call to Toss ended in, and the one table that
//! turns an HTTP status plus a Toss error code into that answer.
//!
//! The table is deliberately lopsided: an answer counts as `Declined` (no
//! money moved) only when Toss *said* so with a known 4xx error body.
//! Everything that leaves doubt (timeouts, 5xx, a lost connection, an
//! unreadable answer, "already processed") is `Unknown`, and an unknown
//! outcome is never a failure: the caller must look the payment up by
//! orderId before it frees the seats or tells the buyer anything.
//!
//! This file is pure (no IO) so the table can be tested row by row.

use std::fmt;

use super::model::{Payment, TossErrorBody};

/// The result of a state-changing call (confirm or cancel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Toss did it and answered with the payment: DONE after a confirm,
    /// CANCELED / PARTIAL_CANCELED after a cancel.
    Done(Payment),
    /// Toss refused for a reason on the buyer's side (card declined,
    /// payment session expired, amount not cancelable, ...). Nothing moved.
    Declined { code: String, message: String },
    /// Nobody knows whether it happened. Look the payment up by orderId
    /// (`get_by_order_id`) and act on its status; never treat this as a
    /// failure.
    Unknown(UnknownReason),
}

/// Why an outcome is unknown. Informational: every variant calls for the
/// same reaction (look the payment up by orderId), they differ only in what
/// to log and how soon a lookup is worth trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownReason {
    /// No answer within the request timeout. Toss may have charged.
    Timeout,
    /// The TCP/TLS connection could not be opened. The request was almost
    /// certainly not sent, but "almost" is not enough to call it a failure.
    Connect(String),
    /// The connection broke after the request was sent.
    ConnectionLost(String),
    /// Toss answered 5xx: it may have done the work before failing.
    ServerError {
        status: u16,
        code: String,
        message: String,
    },
    /// `ALREADY_PROCESSED_PAYMENT`, `ALREADY_CANCELED_PAYMENT`,
    /// `DUPLICATED_ORDER_ID`: an earlier attempt (maybe ours, whose answer
    /// we lost) already changed the payment.
    AlreadyProcessed { code: String, message: String },
    /// Toss asks to try again later (`PROVIDER_ERROR`, a request with the
    /// same idempotency key still running, rate limits).
    Retryable {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer arrived but could not be understood, or a 2xx answer that
    /// does not describe what was asked (wrong orderId, amount or status).
    BadResponse(String),
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownReason::Timeout => write!(f, "timed out waiting for Toss"),
            UnknownReason::Connect(e) => write!(f, "could not connect to Toss: {e}"),
            UnknownReason::ConnectionLost(e) => write!(f, "connection to Toss lost: {e}"),
            UnknownReason::ServerError {
                status,
                code,
                message,
            } => write!(f, "Toss answered {status} {code}: {message}"),
            UnknownReason::AlreadyProcessed { code, message } => {
                write!(f, "Toss says already processed ({code}): {message}")
            }
            UnknownReason::Retryable {
                status,
                code,
                message,
            } => write!(f, "Toss asks to retry ({status} {code}): {message}"),
            UnknownReason::BadResponse(e) => write!(f, "unusable answer from Toss: {e}"),
        }
    }
}

/// How a non-2xx answer is to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Definitive no, on the buyer's side.
    Declined { code: String, message: String },
    /// Definitive no, on Ticketon's side (bad key, bad request, unknown
    /// payment): nothing moved, but retrying will not help; it is a bug or a
    /// misconfiguration to report.
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// May or may not have happened.
    Unknown(UnknownReason),
}

/// Codes that mean the request itself was wrong. Nothing moved.
const REJECTED_CODES: &[&str] = &[
    "INVALID_REQUEST",
    "INVALID_API_KEY",
    "UNAUTHORIZED_KEY",
    "INCORRECT_BASIC_AUTH_FORMAT",
    "FORBIDDEN_REQUEST",
    "INVALID_AUTHORIZE_AUTH",
    "UNAPPROVED_ORDER_ID",
    "NOT_FOUND_PAYMENT",
    "NOT_FOUND",
    "NOT_REGISTERED_BUSINESS",
    "INVALID_UNREGISTERED_SUBMALL",
    "NOT_FOUND_TERMINAL_ID",
];

/// Codes saying an earlier attempt already changed the payment.
const ALREADY_PROCESSED_CODES: &[&str] = &[
    "ALREADY_PROCESSED_PAYMENT",
    "ALREADY_CANCELED_PAYMENT",
    "ALREADY_REFUND_PAYMENT",
    "DUPLICATED_ORDER_ID",
];

/// Codes asking to come back later; the work may still be under way.
const RETRYABLE_CODES: &[&str] = &[
    "PROVIDER_ERROR",
    "IDEMPOTENT_REQUEST_PROCESSING",
    "FORBIDDEN_CONSECUTIVE_REQUEST",
];

/// Reads a non-2xx answer. `body` is `None` when the answer had no Toss
/// error body (e.g. an HTML page from a proxy): without Toss's word we do
/// not know, so that is `Unknown` even for a 4xx.
pub fn classify_error(status: u16, body: Option<TossErrorBody>) -> ErrorClass {
    let Some(TossErrorBody { code, message }) = body else {
        return ErrorClass::Unknown(UnknownReason::BadResponse(format!(
            "HTTP {status} without a Toss error body"
        )));
    };
    let code_is = |list: &[&str]| list.contains(&code.as_str());
    if status >= 500 {
        ErrorClass::Unknown(UnknownReason::ServerError {
            status,
            code,
            message,
        })
    } else if code_is(ALREADY_PROCESSED_CODES) {
        ErrorClass::Unknown(UnknownReason::AlreadyProcessed { code, message })
    } else if code_is(RETRYABLE_CODES) || status == 408 || status == 409 || status == 429 {
        ErrorClass::Unknown(UnknownReason::Retryable {
            status,
            code,
            message,
        })
    } else if code_is(REJECTED_CODES) {
        ErrorClass::Rejected {
            status,
            code,
            message,
        }
    } else if (400..500).contains(&status) {
        // Toss's long tail of 4xx codes (REJECT_CARD_PAYMENT,
        // INVALID_CARD_NUMBER, NOT_FOUND_PAYMENT_SESSION,
        // NOT_CANCELABLE_AMOUNT, ...) all say "no, and nothing happened".
        ErrorClass::Declined { code, message }
    } else {
        // 1xx/3xx are not answers Toss gives; do not guess.
        ErrorClass::Unknown(UnknownReason::BadResponse(format!(
            "unexpected HTTP {status} ({code}: {message})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Option<TossErrorBody> {
        Some(TossErrorBody {
            code: code.into(),
            message: "m".into(),
        })
    }

    fn is_unknown(c: &ErrorClass) -> bool {
        matches!(c, ErrorClass::Unknown(_))
    }

    #[test]
    fn card_declines_and_expired_sessions_are_declined() {
        for (status, code) in [
            (403, "REJECT_CARD_PAYMENT"),
            (403, "REJECT_CARD_COMPANY"),
            (400, "INVALID_CARD_NUMBER"),
            (404, "NOT_FOUND_PAYMENT_SESSION"),
            (403, "NOT_CANCELABLE_AMOUNT"),
            (403, "NOT_CANCELABLE_PAYMENT"),
        ] {
            assert_eq!(
                classify_error(status, body(code)),
                ErrorClass::Declined {
                    code: code.into(),
                    message: "m".into()
                },
                "{code}"
            );
        }
    }

    #[test]
    fn already_processed_is_unknown_not_success_nor_failure() {
        for code in [
            "ALREADY_PROCESSED_PAYMENT",
            "ALREADY_CANCELED_PAYMENT",
            "DUPLICATED_ORDER_ID",
        ] {
            assert!(matches!(
                classify_error(400, body(code)),
                ErrorClass::Unknown(UnknownReason::AlreadyProcessed { .. })
            ));
        }
    }

    #[test]
    fn every_5xx_is_unknown_whatever_the_code() {
        for code in [
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "REJECT_CARD_PAYMENT",
            "INVALID_REQUEST",
        ] {
            assert!(matches!(
                classify_error(500, body(code)),
                ErrorClass::Unknown(UnknownReason::ServerError { status: 500, .. })
            ));
        }
        assert!(is_unknown(&classify_error(503, body("X"))));
    }

    #[test]
    fn provider_error_and_concurrent_idempotent_requests_are_retryable() {
        for (status, code) in [
            (400, "PROVIDER_ERROR"),
            (409, "IDEMPOTENT_REQUEST_PROCESSING"),
            (403, "FORBIDDEN_CONSECUTIVE_REQUEST"),
            (429, "TOO_MANY_REQUESTS"),
        ] {
            assert!(matches!(
                classify_error(status, body(code)),
                ErrorClass::Unknown(UnknownReason::Retryable { .. })
            ));
        }
    }

    #[test]
    fn bad_keys_and_bad_requests_are_rejected() {
        for (status, code) in [
            (401, "UNAUTHORIZED_KEY"),
            (400, "INVALID_API_KEY"),
            (403, "INCORRECT_BASIC_AUTH_FORMAT"),
            (400, "INVALID_REQUEST"),
            (404, "NOT_FOUND_PAYMENT"),
        ] {
            assert!(matches!(
                classify_error(status, body(code)),
                ErrorClass::Rejected { .. }
            ));
        }
    }

    #[test]
    fn a_4xx_without_a_toss_body_is_unknown() {
        assert!(matches!(
            classify_error(403, None),
            ErrorClass::Unknown(UnknownReason::BadResponse(_))
        ));
    }
}
