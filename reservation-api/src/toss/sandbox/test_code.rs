//! The sandbox's failure switches: the values of the
//! `TossPayments-Test-Code` header (per request, as in Toss's test mode) and
//! of `failWith` (per paymentKey, set at creation, used by its first
//! confirm).
//!
//! Two families. A Toss error code makes the sandbox answer that error the
//! way Toss would, with the matching effect on the payment (a decline aborts
//! it, a 5xx or `PROVIDER_ERROR` leaves it untouched). The `SANDBOX_*`
//! codes simulate the network and the unknown outcomes the client must
//! survive, both the "nothing happened" and the "it happened but you never
//! heard" variants, because a real Toss timeout can be either.

use std::fmt;

/// A Toss error the sandbox can be asked to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedError {
    pub code: &'static str,
    pub status: u16,
    pub message: &'static str,
}

impl InjectedError {
    /// Whether the error leaves the payment as it was (Toss asks to retry,
    /// or failed internally) rather than being a final answer about it.
    pub fn leaves_payment_untouched(&self) -> bool {
        self.status >= 500 || self.code == "PROVIDER_ERROR"
    }
}

/// The Toss codes the sandbox knows how to play. Messages are Toss's
/// English ones, shortened.
const INJECTABLE: &[InjectedError] = &[
    e(
        403,
        "REJECT_CARD_PAYMENT",
        "The payment was refused: card limit exceeded or insufficient balance.",
    ),
    e(
        403,
        "REJECT_CARD_COMPANY",
        "The card company refused the payment.",
    ),
    e(
        403,
        "REJECT_ACCOUNT_PAYMENT",
        "The payment was refused: insufficient account balance.",
    ),
    e(400, "INVALID_CARD_NUMBER", "Please check the card number."),
    e(400, "INVALID_STOPPED_CARD", "The card has been suspended."),
    e(
        400,
        "INVALID_CARD_EXPIRATION",
        "Please check the card expiration date.",
    ),
    e(
        400,
        "EXCEED_MAX_DAILY_PAYMENT_COUNT",
        "The daily number of payments was exceeded.",
    ),
    e(
        404,
        "NOT_FOUND_PAYMENT_SESSION",
        "The payment session has expired.",
    ),
    e(
        400,
        "PROVIDER_ERROR",
        "This is temporary error. Please try again in a few minutes.",
    ),
    e(
        403,
        "NOT_CANCELABLE_PAYMENT",
        "This payment cannot be canceled.",
    ),
    e(
        500,
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "The payment was not completed due to an internal error.",
    ),
    e(
        500,
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "An internal system error occurred.",
    ),
    e(
        500,
        "UNKNOWN_PAYMENT_ERROR",
        "The payment failed for an unknown reason.",
    ),
    e(
        500,
        "FAILED_REFUND_PROCESS",
        "The refund failed at the bank.",
    ),
];

const fn e(status: u16, code: &'static str, message: &'static str) -> InjectedError {
    InjectedError {
        code,
        status,
        message,
    }
}

/// The error the sandbox answers when it "fails internally", e.g. after a
/// simulated lost response.
pub(super) const INTERNAL_ERROR: InjectedError = e(
    500,
    "FAILED_INTERNAL_SYSTEM_PROCESSING",
    "An internal system error occurred.",
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Answer this Toss error.
    Error(InjectedError),
    /// `SANDBOX_TIMEOUT`: do nothing, stay silent past the client's timeout.
    Timeout,
    /// `SANDBOX_TIMEOUT_AFTER_COMMIT`: do the work (charge / refund), then
    /// stay silent past the client's timeout.
    TimeoutAfterCommit,
    /// `SANDBOX_RESPONSE_LOST`: do the work, then answer 500 as if the
    /// answer had been lost on Toss's side.
    ResponseLost,
    /// `SANDBOX_CONNECTION_DROPPED`: do the work, then close the connection
    /// without a complete answer.
    ConnectionDropped,
}

impl FailMode {
    pub const TIMEOUT: &'static str = "SANDBOX_TIMEOUT";
    pub const TIMEOUT_AFTER_COMMIT: &'static str = "SANDBOX_TIMEOUT_AFTER_COMMIT";
    pub const RESPONSE_LOST: &'static str = "SANDBOX_RESPONSE_LOST";
    pub const CONNECTION_DROPPED: &'static str = "SANDBOX_CONNECTION_DROPPED";

    /// Reads a test code; `None` for a code the sandbox does not know (the
    /// caller refuses it rather than silently ignoring a typo).
    pub fn parse(code: &str) -> Option<FailMode> {
        let code = code.trim();
        match code {
            Self::TIMEOUT => Some(FailMode::Timeout),
            Self::TIMEOUT_AFTER_COMMIT => Some(FailMode::TimeoutAfterCommit),
            Self::RESPONSE_LOST => Some(FailMode::ResponseLost),
            Self::CONNECTION_DROPPED => Some(FailMode::ConnectionDropped),
            _ => INJECTABLE
                .iter()
                .find(|e| e.code == code)
                .copied()
                .map(FailMode::Error),
        }
    }

    /// Every code `parse` accepts, for error messages and docs.
    pub fn known_codes() -> Vec<&'static str> {
        let mut codes = vec![
            Self::TIMEOUT,
            Self::TIMEOUT_AFTER_COMMIT,
            Self::RESPONSE_LOST,
            Self::CONNECTION_DROPPED,
        ];
        codes.extend(INJECTABLE.iter().map(|e| e.code));
        codes
    }
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailMode::Error(e) => e.code,
            FailMode::Timeout => Self::TIMEOUT,
            FailMode::TimeoutAfterCommit => Self::TIMEOUT_AFTER_COMMIT,
            FailMode::ResponseLost => Self::RESPONSE_LOST,
            FailMode::ConnectionDropped => Self::CONNECTION_DROPPED,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_parses_back_to_itself() {
        for code in FailMode::known_codes() {
            let mode = FailMode::parse(code).unwrap();
            assert_eq!(mode.to_string(), code);
        }
    }

    #[test]
    fn toss_codes_carry_their_http_status() {
        assert_eq!(
            FailMode::parse("REJECT_CARD_PAYMENT"),
            Some(FailMode::Error(InjectedError {
                code: "REJECT_CARD_PAYMENT",
                status: 403,
                message: "The payment was refused: card limit exceeded or insufficient balance."
            }))
        );
        let Some(FailMode::Error(e)) = FailMode::parse("FAILED_INTERNAL_SYSTEM_PROCESSING") else {
            panic!("not an error mode");
        };
        assert!(e.leaves_payment_untouched());
        let Some(FailMode::Error(e)) = FailMode::parse("REJECT_CARD_PAYMENT") else {
            panic!("not an error mode");
        };
        assert!(!e.leaves_payment_untouched());
    }

    #[test]
    fn unknown_codes_are_refused() {
        assert_eq!(FailMode::parse("REJECT_CARD"), None);
        assert_eq!(FailMode::parse(""), None);
    }
}
