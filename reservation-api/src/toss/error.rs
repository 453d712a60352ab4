//! The one error type at the boundary of the `toss` module.
//!
//! It carries only what is *not* a payment outcome: confirm and cancel
//! answer `Ok(PaymentOutcome)` for declines and unknown outcomes alike, so
//! that a caller cannot turn "we don't know" into an error by a stray `?`.
//! What remains here is configuration trouble, requests Toss refused as
//! malformed or unauthorized (nothing moved, retrying will not help), and,
//! for read-only lookups only, Toss being unreachable.

use std::net::SocketAddr;

use super::outcome::UnknownReason;

#[derive(Debug, thiserror::Error)]
pub enum TossError {
    /// Missing or malformed configuration (keys, base URL, timeouts).
    #[error("invalid Toss configuration: {0}")]
    Config(String),
    /// Refused before sending: the request could not be expressed (e.g. an
    /// idempotency key longer than Toss accepts).
    #[error("invalid Toss request: {0}")]
    InvalidInput(String),
    /// Toss refused the request as malformed or unauthorized
    /// (`UNAUTHORIZED_KEY`, `INVALID_REQUEST`, `NOT_FOUND_PAYMENT`, ...).
    /// Nothing moved; this is a bug or a misconfiguration, not the buyer's.
    #[error("Toss refused the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// A lookup could not get an answer. Only lookups return this: they
    /// change nothing, so not knowing is just "try again later".
    #[error("Toss unavailable: {0}")]
    Unavailable(UnknownReason),
    /// The sandbox could not listen on its address.
    #[error("Toss sandbox cannot listen on {addr}: {source}")]
    SandboxBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl TossError {
    /// True when the same call may succeed later without any change on our
    /// side.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TossError::Unavailable(_))
    }
}
