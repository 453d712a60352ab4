//! The status vocabularies of events, seats and reservations, and their
//! database/JSON spelling. Kept in one place because the same strings are
//! written by SQL and read by clients.

use crate::error::{DomainError, ErrorCode};

/// `draft` events are invisible to buyers; `on_sale` accept holds; `closed`
/// accept none. Events are created `on_sale` unless created as `draft`.
/// `sold_out` is set by the service itself, never by an admin: every seat
/// is sold, so it accepts no hold, and it goes back to `on_sale` when a
/// refund returns a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Draft,
    OnSale,
    Closed,
    SoldOut,
}

/// `held` and `sold` block a seat; a `held` seat whose hold has expired is
/// free again even before the sweeper rewrites it to `available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

/// `paid` is written by the payments flow (a later issue); this crate only
/// creates `held` and moves it to `released` or `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Held,
    Released,
    Expired,
    Paid,
}

macro_rules! spelled {
    ($ty:ident, $what:literal, $invalid:ident, $($variant:ident => $s:literal),+) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                match s {
                    $($s => Ok($ty::$variant),)+
                    other => Err(DomainError::new(
                        ErrorCode::$invalid,
                        format!(concat!("unknown ", $what, " {:?}"), other),
                    )),
                }
            }
        }
    };
}

spelled!(EventStatus, "event_status", InvalidEventStatus,
    Draft => "draft", OnSale => "on_sale", Closed => "closed", SoldOut => "sold_out");
spelled!(SeatStatus, "seat_status", InvalidSeatStatus, Available => "available", Held => "held", Sold => "sold");
spelled!(ReservationStatus, "reservation_status", InvalidReservationStatus,
    Held => "held", Released => "released", Expired => "expired", Paid => "paid");

impl ReservationStatus {
    /// A buyer may move their hold to `released` (giving the seats back);
    /// the other states are reached by paying, or by the clock.
    pub fn settable_by_buyer(s: &str) -> Result<Self, DomainError> {
        match ReservationStatus::parse(s)? {
            ReservationStatus::Released => Ok(ReservationStatus::Released),
            _ => Err(DomainError::new(
                ErrorCode::InvalidReservationStatus,
                "status must be \"released\"",
            )),
        }
    }
}

impl EventStatus {
    /// Admins may move an event to `on_sale` or `closed` through the API;
    /// going back to `draft` would hide live holds, and `sold_out` follows
    /// the seats, so both are refused.
    pub fn settable_by_admin(s: &str) -> Result<Self, DomainError> {
        match EventStatus::parse(s)? {
            EventStatus::Draft | EventStatus::SoldOut => Err(DomainError::new(
                ErrorCode::InvalidEventStatus,
                "status must be \"on_sale\" or \"closed\"",
            )),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_reject_unknown() {
        for s in ["draft", "on_sale", "closed", "sold_out"] {
            assert_eq!(EventStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(EventStatus::settable_by_admin("sold_out").is_err());
        assert!(EventStatus::settable_by_admin("closed").is_ok());
        for s in ["held", "released", "expired", "paid"] {
            assert_eq!(ReservationStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(SeatStatus::parse("gone").is_err());
    }

    #[test]
    fn admins_cannot_move_an_event_back_to_draft() {
        assert!(EventStatus::settable_by_admin("draft").is_err());
        assert_eq!(
            EventStatus::settable_by_admin("closed").unwrap(),
            EventStatus::Closed
        );
    }
}
