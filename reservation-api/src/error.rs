//! The reservation-api's errors, with no HTTP in them: every failure names
//! the rule it broke with an [`ErrorCode`], and the HTTP edge
//! (`http::error`) alone decides the status each code answers with.
//!
//! - [`DomainError`]: a rule of `domain` refused (no IO below it).
//! - [`Error`]: what a use case (the service, payments, seat locks, the
//!   store under them) ends in: a refused rule, taken seats, a declined
//!   payment, or an infrastructure failure whose details stay in the log.

/// Defines [`ErrorCode`]: every code the API answers with, once, with its
/// wire spelling.
macro_rules! error_codes {
    ($($variant:ident => $s:literal),+ $(,)?) => {
        /// A stable, machine-readable error code (`error.code` on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            /// Every code, for the documentation check.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $s),+ }
            }
        }
    };
}

error_codes! {
    InvalidJson => "invalid_json",
    InvalidField => "invalid_field",
    RequestTimeout => "request_timeout",
    PayloadTooLarge => "payload_too_large",
    OverCapacity => "over_capacity",
    InvalidEvent => "invalid_event",
    InvalidEventStatus => "invalid_event_status",
    InvalidSeatStatus => "invalid_seat_status",
    InvalidReservationStatus => "invalid_reservation_status",
    InvalidQuery => "invalid_query",
    NoSeats => "no_seats",
    DuplicateSeat => "duplicate_seat",
    TooManySeats => "too_many_seats",
    SeatNotInEvent => "seat_not_in_event",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidPaymentKey => "invalid_payment_key",
    AmountMismatch => "amount_mismatch",
    InvalidTicketStatus => "invalid_ticket_status",
    AdminKeyRequired => "admin_key_required",
    TokenMissing => "token_missing",
    TokenExpired => "token_expired",
    TokenInvalid => "token_invalid",
    SessionEnded => "session_ended",
    PaymentDeclined => "payment_declined",
    AdminKeyInvalid => "admin_key_invalid",
    WrongQueue => "wrong_queue",
    AdminOnly => "admin_only",
    HolderOnly => "holder_only",
    EventNotFound => "event_not_found",
    ReservationNotFound => "reservation_not_found",
    TicketNotFound => "ticket_not_found",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    SeatUnavailable => "seat_unavailable",
    EventNotOnSale => "event_not_on_sale",
    SoldOut => "sold_out",
    ReservationNotHeld => "reservation_not_held",
    IdempotencyInProgress => "idempotency_in_progress",
    ReservationNotPayable => "reservation_not_payable",
    ReservationAlreadyPaid => "reservation_already_paid",
    PaymentRefunded => "payment_refunded",
    RefundDeclined => "refund_declined",
    TicketUsed => "ticket_used",
    TicketAlreadyUsed => "ticket_already_used",
    TicketCancelled => "ticket_cancelled",
    TicketBeingCancelled => "ticket_being_cancelled",
    IdempotencyKeyReused => "idempotency_key_reused",
    Internal => "internal",
    PaymentProviderError => "payment_provider_error",
    SeatBusy => "seat_busy",
    LockServiceUnavailable => "lock_service_unavailable",
    DatabaseUnavailable => "database_unavailable",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain rule refused: which one, and why in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: String,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule refused the request: bad input, missing or wrong credentials,
    /// something that does not exist, or a state that does not allow it.
    #[error("{code}: {message}")]
    Rejected { code: ErrorCode, message: String },
    /// Some requested seats are held or sold by someone else.
    #[error("seats not available: {seat_ids:?}")]
    SeatUnavailable { seat_ids: Vec<i64> },
    /// The payment provider declined (card refused, session expired, ...):
    /// nothing was charged. `provider_code` is the provider's own code.
    #[error("payment declined ({provider_code}): {message}")]
    PaymentDeclined {
        provider_code: String,
        message: String,
    },
    /// The seats stayed locked by concurrent buyers for longer than we wait;
    /// nothing was taken and the client may retry.
    #[error("{message}")]
    Busy { message: String },
    /// The lock service (Redis) failed.
    #[error("lock service: {0}")]
    LockService(String),
    /// The payment provider refused Ticketon's request as malformed or
    /// unauthorized, or could not be reached for a lookup. Nothing was
    /// charged.
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
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Rejected {
            code,
            message: message.into(),
        }
    }

    /// The code the client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Rejected { code, .. } => *code,
            Error::SeatUnavailable { .. } => ErrorCode::SeatUnavailable,
            Error::PaymentDeclined { .. } => ErrorCode::PaymentDeclined,
            Error::Busy { .. } => ErrorCode::SeatBusy,
            Error::LockService(_) => ErrorCode::LockServiceUnavailable,
            Error::PaymentProvider(_) => ErrorCode::PaymentProviderError,
            Error::Storage(e) if is_transient(e) => ErrorCode::DatabaseUnavailable,
            Error::Storage(_) | Error::Migration(_) | Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// Storage failures that say "not now" rather than "broken": no connection
/// free within the pool's acquire timeout (overload), the database
/// unreachable (a restart), or still busy or deadlocked after the store's own
/// retries. The client is told to retry instead of being shown a fault.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(_) => {
            // `is_retryable` reads the error by reference through the store's type.
            crate::store::is_retryable_sqlx(e)
        }
        _ => false,
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Database(e) => Error::Storage(e),
            StoreError::Migration(e) => Error::Migration(e),
            StoreError::Inconsistent(message) => Error::Internal(message),
            StoreError::Refused(refusal) => refusal.into(),
        }
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        Error::Rejected {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<crate::payments::provider::ProviderError> for Error {
    fn from(e: crate::payments::provider::ProviderError) -> Self {
        Error::PaymentProvider(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }

    #[test]
    fn a_domain_refusal_keeps_its_code() {
        let e: Error = DomainError::new(ErrorCode::NoSeats, "pick a seat").into();
        assert_eq!(e.code(), ErrorCode::NoSeats);
        assert_eq!(
            Error::Storage(sqlx::Error::PoolTimedOut).code(),
            ErrorCode::DatabaseUnavailable
        );
        assert_eq!(
            Error::Storage(sqlx::Error::RowNotFound).code(),
            ErrorCode::Internal
        );
    }
}
