//! Tickets: their states, who may move them where, and the check-in code a
//! gate verifies offline.
//!
//! The check-in code is `TK1.<ticketId>.<eventId>.<seatId>.<mac>`, where
//! `mac` is the first 16 bytes of HMAC-SHA256 over `ticketId|eventId|seatId`
//! (base64url, no padding) under a key derived from the service's token
//! secret. A gate given that key can tell a genuine code from a forged one
//! with no network; whether the ticket was already used or cancelled is the
//! admin `PATCH .../status {"status":"used"}` call's job, which allows one
//! use only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{DomainError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    Issued,
    Used,
    Cancelled,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Issued => "issued",
            TicketStatus::Used => "used",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "issued" => Some(TicketStatus::Issued),
            "used" => Some(TicketStatus::Used),
            "cancelled" => Some(TicketStatus::Cancelled),
            _ => None,
        }
    }
}

/// What a `PATCH /v1/api/tickets/{id}/status` body may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketChange {
    /// The buyer gives the ticket back for a refund.
    Cancel,
    /// A gate admits it (admin only).
    Use,
}

impl TicketChange {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "cancelled" => Ok(TicketChange::Cancel),
            "used" => Ok(TicketChange::Use),
            _ => Err(DomainError::new(
                ErrorCode::InvalidTicketStatus,
                "status must be \"cancelled\" or \"used\"",
            )),
        }
    }
}

/// Whether `change` may be applied to a ticket in `status`.
/// `refund_pending`: a cancel of this ticket is waiting for Toss.
pub fn check_change(
    status: TicketStatus,
    change: TicketChange,
    refund_pending: bool,
) -> Result<(), DomainError> {
    match (status, change) {
        (TicketStatus::Issued, TicketChange::Use) if refund_pending => Err(DomainError::new(
            ErrorCode::TicketBeingCancelled,
            "a refund of this ticket is in progress",
        )),
        (TicketStatus::Issued, _) => Ok(()),
        (TicketStatus::Used, TicketChange::Use) => Err(DomainError::new(
            ErrorCode::TicketAlreadyUsed,
            "this ticket was already used",
        )),
        (TicketStatus::Used, TicketChange::Cancel) => Err(DomainError::new(
            ErrorCode::TicketUsed,
            "a used ticket cannot be cancelled",
        )),
        (TicketStatus::Cancelled, TicketChange::Use) => Err(DomainError::new(
            ErrorCode::TicketCancelled,
            "this ticket was cancelled",
        )),
        // Cancelling twice answers the cancelled ticket again (a retry).
        (TicketStatus::Cancelled, TicketChange::Cancel) => Ok(()),
    }
}

const CHECKIN_PREFIX: &str = "TK1";
const MAC_BYTES: usize = 16;

fn mac(key: &[u8], ticket_id: &str, event_id: &str, seat_id: i64) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("{ticket_id}|{event_id}|{seat_id}").as_bytes());
    m.finalize().into_bytes()[..MAC_BYTES].to_vec()
}

/// The check-in code of a ticket (see module doc).
pub fn checkin_code(key: &[u8], ticket_id: &str, event_id: &str, seat_id: i64) -> String {
    let tag = URL_SAFE_NO_PAD.encode(mac(key, ticket_id, event_id, seat_id));
    format!("{CHECKIN_PREFIX}.{ticket_id}.{event_id}.{seat_id}.{tag}")
}

/// What a genuine check-in code names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinClaim {
    pub ticket_id: String,
    pub event_id: String,
    pub seat_id: i64,
}

/// Verifies a check-in code offline; `None` for anything forged or garbled.
pub fn verify_checkin(key: &[u8], code: &str) -> Option<CheckinClaim> {
    let mut parts = code.split('.');
    let (prefix, ticket_id, event_id, seat, tag) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || prefix != CHECKIN_PREFIX {
        return None;
    }
    let seat_id: i64 = seat.parse().ok()?;
    let given = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let expected = mac(key, ticket_id, event_id, seat_id);
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then(|| CheckinClaim {
        ticket_id: ticket_id.to_string(),
        event_id: event_id.to_string(),
        seat_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkin_code_verifies_with_its_key_only_and_resists_edits() {
        let code = checkin_code(b"k1", "t-1", "ev-1", 42);
        assert_eq!(
            verify_checkin(b"k1", &code),
            Some(CheckinClaim {
                ticket_id: "t-1".into(),
                event_id: "ev-1".into(),
                seat_id: 42
            })
        );
        assert_eq!(verify_checkin(b"k2", &code), None);
        assert_eq!(verify_checkin(b"k1", &code.replace(".42.", ".43.")), None);
        assert_eq!(verify_checkin(b"k1", &format!("{code}.x")), None);
        assert_eq!(verify_checkin(b"k1", "TK1.a.b"), None);
        assert_eq!(verify_checkin(b"k1", ""), None);
    }

    #[test]
    fn a_ticket_is_used_once_and_cancelled_only_before_use() {
        use TicketChange::*;
        use TicketStatus::*;
        assert!(check_change(Issued, Use, false).is_ok());
        assert!(check_change(Issued, Cancel, false).is_ok());
        assert!(matches!(
            check_change(Used, Use, false),
            Err(DomainError {
                code: ErrorCode::TicketAlreadyUsed,
                ..
            })
        ));
        assert!(check_change(Issued, Use, true).is_err());
        assert!(check_change(Used, Cancel, false).is_err());
        assert!(check_change(Cancelled, Use, false).is_err());
        assert!(check_change(Cancelled, Cancel, false).is_ok());
        assert!(TicketChange::parse("issued").is_err());
        assert_eq!(TicketStatus::parse("used"), Some(Used));
    }
}
