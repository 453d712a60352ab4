//! The rules of a payment attempt, as plain functions: what the payment
//! provider's record of an attempt means for Ticketon, and whether a charged
//! attempt may still become tickets.
//!
//! These decide money, so they are kept free of IO and tested row by row.
//! The one rule of every provider: an unknown outcome is never a failure.
//! Here that means an attempt is `failed` only when the provider *said* it
//! was not charged, and `done` only when it said it was and the seats were
//! still the buyer's in the same transaction that sells them.
//!
//! [`Charge`] is a provider's record in Ticketon's words; each provider
//! adapter (`toss/`) translates its own into it.

use crate::domain::hold::seat_is_free;
use crate::domain::SeatStatus;
use crate::error::{DomainError, ErrorCode};

/// Where a charge stands at the payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeStatus {
    /// Created by the checkout step, not yet confirmed: no money moved.
    Ready,
    /// The provider is still working on it (or waits for a deposit).
    InProgress,
    /// Confirmed: the buyer was charged.
    Charged,
    /// Charged, then partly refunded: some of the charge still stands.
    PartlyRefunded,
    /// Charged, then fully refunded.
    Refunded,
    /// Confirmation failed (for example the card was declined): no money
    /// moved.
    Aborted,
    /// The checkout session ran out before confirmation: no money moved.
    Expired,
    /// A status this version does not know; treated as "look again later".
    Other,
}

impl ChargeStatus {
    /// True when the buyer holds a charge (possibly partly refunded): the
    /// question the reconciliation after an unknown outcome asks.
    pub fn is_charged(self) -> bool {
        matches!(self, ChargeStatus::Charged | ChargeStatus::PartlyRefunded)
    }
}

/// Why the provider did not charge, as it recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeFailure {
    pub code: String,
    pub message: String,
}

/// One refund of a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRefund {
    pub amount_krw: i64,
    /// The reason Ticketon sent with the refund: how a refund whose answer
    /// was lost is recognised afterwards.
    pub reason: String,
}

/// A payment provider's record of one charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The provider's key of the charge (Toss's paymentKey).
    pub payment_key: String,
    /// Ticketon's reservationId.
    pub order_id: String,
    pub status: ChargeStatus,
    /// The provider's own spelling of the status, stored as
    /// `provider_status` for operators.
    pub provider_status: String,
    pub amount_krw: i64,
    /// Unix ms of the approval; `None` before it.
    pub approved_at_ms: Option<i64>,
    /// Oldest first.
    pub refunds: Vec<ChargeRefund>,
    pub failure: Option<ChargeFailure>,
}

/// A payment attempt's state in Ticketon's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Written before Toss is asked; the outcome is not settled yet.
    Pending,
    /// Charged; the tickets were issued in the same transaction.
    Done,
    /// Not charged (declined, or Toss says it never charged this attempt).
    Failed,
    /// Charged, then fully refunded because the seats were no longer the
    /// buyer's (or the order was already paid by another attempt).
    Cancelled,
}

/// A refund Ticketon asked Toss for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Pending,
    Done,
    /// Toss refused the refund: nothing was refunded.
    Failed,
}

macro_rules! spelled {
    ($ty:ident, $($variant:ident => $s:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($ty::$variant),)+ _ => None }
            }
        }
    };
}

spelled!(PaymentState, Pending => "pending", Done => "done", Failed => "failed", Cancelled => "cancelled");
spelled!(RefundState, Pending => "pending", Done => "done", Failed => "failed");

/// What the provider's record of one attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The buyer holds a charge for this attempt: settle it (tickets, or a
    /// refund when the seats are gone).
    Charged,
    /// Charged and already fully refunded at the provider.
    Refunded,
    /// The provider will not charge this attempt.
    NotCharged { code: String, message: String },
    /// The provider has it ready: our confirm did not take effect (yet).
    /// Sending the same confirm again is safe (providers deduplicate it).
    Unconfirmed,
    /// A status Ticketon does not know: wait and look again.
    Unclear,
}

/// Judges the provider's record of *this* attempt (looked up by orderId,
/// or by paymentKey when the order's record is another attempt).
/// `other_attempt_charged`: the order was approved under another
/// paymentKey, so the provider will refuse to confirm this one.
pub fn judge_attempt(found: Option<&Charge>, other_attempt_charged: bool) -> AttemptVerdict {
    let Some(charge) = found else {
        return AttemptVerdict::NotCharged {
            code: "payment_not_found".into(),
            message: "the payment provider knows no payment for this paymentKey".into(),
        };
    };
    match charge.status {
        ChargeStatus::Charged | ChargeStatus::PartlyRefunded => AttemptVerdict::Charged,
        ChargeStatus::Refunded => AttemptVerdict::Refunded,
        ChargeStatus::Aborted | ChargeStatus::Expired => {
            let (code, message) = match &charge.failure {
                Some(f) => (f.code.clone(), f.message.clone()),
                None => (
                    match charge.status {
                        ChargeStatus::Expired => "payment_expired",
                        _ => "payment_aborted",
                    }
                    .into(),
                    "the payment provider did not charge this payment".into(),
                ),
            };
            AttemptVerdict::NotCharged { code, message }
        }
        ChargeStatus::Ready | ChargeStatus::InProgress if other_attempt_charged => {
            AttemptVerdict::NotCharged {
                code: "order_paid_by_other_attempt".into(),
                message: "this order was paid with another paymentKey".into(),
            }
        }
        ChargeStatus::Ready => AttemptVerdict::Unconfirmed,
        ChargeStatus::InProgress | ChargeStatus::Other => AttemptVerdict::Unclear,
    }
}

/// One seat of a reservation as the settle transaction reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatClaim {
    pub status: SeatStatus,
    pub hold_id: Option<String>,
    pub hold_expires_at_ms: Option<i64>,
}

/// A seat can still be sold to `reservation_id` if its row still names
/// that hold (even past its expiry: nobody else has taken it since), or it
/// is free. A sold seat never is.
pub fn seat_still_payable(seat: &SeatClaim, reservation_id: &str, now_ms: i64) -> bool {
    match seat.status {
        SeatStatus::Sold => false,
        SeatStatus::Held if seat.hold_id.as_deref() == Some(reservation_id) => true,
        status => seat_is_free(status, seat.hold_expires_at_ms, now_ms),
    }
}

/// Whether a reservation of `expected` seats could still be paid for:
/// every seat found and each still payable.
pub fn seats_still_payable(
    claims: &[SeatClaim],
    expected: usize,
    reservation_id: &str,
    now_ms: i64,
) -> bool {
    expected > 0
        && claims.len() == expected
        && claims
            .iter()
            .all(|c| seat_still_payable(c, reservation_id, now_ms))
}

/// What to do with a charged attempt, decided inside the transaction that
/// would sell the seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargedAction {
    /// Sell the seats, issue the tickets, mark the reservation paid.
    IssueTickets,
    /// Refund the whole charge: the buyer cannot get these seats.
    Refund { code: &'static str },
}

pub fn charged_action(
    already_paid_by_other: bool,
    seats_found: usize,
    seats_expected: usize,
    all_payable: bool,
) -> ChargedAction {
    if already_paid_by_other {
        ChargedAction::Refund {
            code: "order_already_paid",
        }
    } else if seats_found != seats_expected || !all_payable {
        ChargedAction::Refund {
            code: "seats_taken",
        }
    } else {
        ChargedAction::IssueTickets
    }
}

/// The paymentKey as the checkout widget hands it over: visible ASCII, at
/// most 200 characters (Toss's limit, the strictest of the providers).
pub fn validate_payment_key(key: &str) -> Result<(), DomainError> {
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::new(
            ErrorCode::InvalidPaymentKey,
            "paymentKey must be 1..=200 visible ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(status: ChargeStatus) -> Charge {
        Charge {
            payment_key: "pk".into(),
            order_id: "order-1".into(),
            status,
            provider_status: format!("{status:?}"),
            amount_krw: 1000,
            approved_at_ms: None,
            refunds: Vec::new(),
            failure: None,
        }
    }

    #[test]
    fn only_the_provider_saying_so_makes_an_attempt_charged_or_not() {
        use AttemptVerdict::*;
        assert_eq!(
            judge_attempt(Some(&payment(ChargeStatus::Charged)), false),
            Charged
        );
        assert_eq!(
            judge_attempt(Some(&payment(ChargeStatus::PartlyRefunded)), false),
            Charged
        );
        assert_eq!(
            judge_attempt(Some(&payment(ChargeStatus::Refunded)), false),
            Refunded
        );
        assert_eq!(
            judge_attempt(Some(&payment(ChargeStatus::Ready)), false),
            Unconfirmed
        );
        assert_eq!(
            judge_attempt(Some(&payment(ChargeStatus::Other)), false),
            Unclear
        );
        assert!(matches!(judge_attempt(None, false), NotCharged { .. }));
        assert!(matches!(
            judge_attempt(Some(&payment(ChargeStatus::Ready)), true),
            NotCharged { .. }
        ));
        let mut aborted = payment(ChargeStatus::Aborted);
        aborted.failure = Some(ChargeFailure {
            code: "REJECT_CARD_PAYMENT".into(),
            message: "no".into(),
        });
        assert_eq!(
            judge_attempt(Some(&aborted), false),
            NotCharged {
                code: "REJECT_CARD_PAYMENT".into(),
                message: "no".into()
            }
        );
        assert!(matches!(
            judge_attempt(Some(&payment(ChargeStatus::Expired)), false),
            NotCharged { code, .. } if code == "payment_expired"
        ));
    }

    fn seat(status: SeatStatus, hold: Option<&str>, exp: Option<i64>) -> SeatClaim {
        SeatClaim {
            status,
            hold_id: hold.map(str::to_string),
            hold_expires_at_ms: exp,
        }
    }

    #[test]
    fn a_seat_is_payable_while_it_names_the_hold_or_is_free() {
        assert!(seat_still_payable(
            &seat(SeatStatus::Held, Some("r1"), Some(10)),
            "r1",
            5
        ));
        // Expired but untouched since: still ours.
        assert!(seat_still_payable(
            &seat(SeatStatus::Held, Some("r1"), Some(10)),
            "r1",
            50
        ));
        assert!(seat_still_payable(
            &seat(SeatStatus::Available, None, None),
            "r1",
            50
        ));
        // Another live hold, or sold (even to us): not payable.
        assert!(!seat_still_payable(
            &seat(SeatStatus::Held, Some("r2"), Some(100)),
            "r1",
            50
        ));
        assert!(seat_still_payable(
            &seat(SeatStatus::Held, Some("r2"), Some(10)),
            "r1",
            50
        ));
        assert!(!seat_still_payable(
            &seat(SeatStatus::Sold, Some("r1"), None),
            "r1",
            50
        ));
    }

    #[test]
    fn charged_attempts_become_tickets_only_with_every_seat() {
        assert_eq!(
            charged_action(false, 2, 2, true),
            ChargedAction::IssueTickets
        );
        assert_eq!(
            charged_action(false, 2, 2, false),
            ChargedAction::Refund {
                code: "seats_taken"
            }
        );
        assert_eq!(
            charged_action(false, 1, 2, true),
            ChargedAction::Refund {
                code: "seats_taken"
            }
        );
        assert_eq!(
            charged_action(true, 2, 2, true),
            ChargedAction::Refund {
                code: "order_already_paid"
            }
        );
    }

    #[test]
    fn states_round_trip_and_payment_keys_are_checked() {
        for s in ["pending", "done", "failed", "cancelled"] {
            assert_eq!(PaymentState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(RefundState::parse("done"), Some(RefundState::Done));
        assert!(PaymentState::parse("paid").is_none());
        assert!(validate_payment_key("tpk_123").is_ok());
        assert!(validate_payment_key("").is_err());
        assert!(validate_payment_key("a b").is_err());
        assert!(validate_payment_key(&"x".repeat(201)).is_err());
    }
}
