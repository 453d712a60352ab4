//! The rules of a hold: which selections are allowed, when a seat counts as
//! free, what a buyer who lost a race is told, and what a hold's status is at
//! a given instant.
//!
//! Expiry is decided here from `expires_at` and `now`, never by a background
//! job: the sweeper only tidies rows up, so an expired hold stops blocking
//! its seats at the exact millisecond it ends, on every strategy.

use crate::domain::status::{ReservationStatus, SeatStatus};
use crate::error::{DomainError, ErrorCode};

/// A buyer's seat choice after validation: distinct ids in ascending order.
/// Ascending order is the fixed lock order that keeps concurrent
/// transactions from deadlocking on each other's seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSelection(Vec<i64>);

impl SeatSelection {
    pub fn new(seat_ids: &[i64], max_seats_per_order: u32) -> Result<Self, DomainError> {
        if seat_ids.is_empty() {
            return Err(DomainError::new(
                ErrorCode::NoSeats,
                "seatIds must name at least one seat",
            ));
        }
        let mut ids = seat_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != seat_ids.len() {
            return Err(DomainError::new(
                ErrorCode::DuplicateSeat,
                "seatIds names a seat twice",
            ));
        }
        if ids.len() > max_seats_per_order as usize {
            return Err(DomainError::new(
                ErrorCode::TooManySeats,
                format!(
                    "at most {max_seats_per_order} seats per order, got {}",
                    ids.len()
                ),
            ));
        }
        Ok(SeatSelection(ids))
    }

    pub fn ids(&self) -> &[i64] {
        &self.0
    }
}

/// What a hold attempt needs to know about one seat row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatState {
    pub id: i64,
    pub event_id: String,
    pub status: SeatStatus,
    pub hold_expires_at_ms: Option<i64>,
    pub price_krw: i64,
    pub version: i64,
}

/// A held seat whose hold has ended is free, whatever its row still says.
pub fn seat_is_free(status: SeatStatus, hold_expires_at_ms: Option<i64>, now_ms: i64) -> bool {
    match status {
        SeatStatus::Available => true,
        SeatStatus::Held => hold_expires_at_ms.is_none_or(|exp| exp <= now_ms),
        SeatStatus::Sold => false,
    }
}

/// The status a client sees for a seat at `now`.
pub fn effective_seat_status(
    status: SeatStatus,
    hold_expires_at_ms: Option<i64>,
    now_ms: i64,
) -> SeatStatus {
    if seat_is_free(status, hold_expires_at_ms, now_ms) {
        SeatStatus::Available
    } else {
        status
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every seat is free; the hold would cost `amount_krw`.
    Free { amount_krw: i64 },
    /// These seats (ascending) are held or sold by someone else.
    Taken(Vec<i64>),
}

/// Judges a selection against the seat rows read for it. Seats missing from
/// `rows` or belonging to another event make the request invalid (400), not
/// a conflict: no concurrent buyer can change that.
pub fn judge_seats(
    selection: &SeatSelection,
    event_id: &str,
    rows: &[SeatState],
    now_ms: i64,
) -> Result<Verdict, DomainError> {
    let mut amount: i64 = 0;
    let mut taken = Vec::new();
    for id in selection.ids() {
        let Some(row) = rows.iter().find(|r| r.id == *id && r.event_id == event_id) else {
            return Err(DomainError::new(
                ErrorCode::SeatNotInEvent,
                format!("seat {id} does not belong to event {event_id}"),
            ));
        };
        if seat_is_free(row.status, row.hold_expires_at_ms, now_ms) {
            amount = amount.saturating_add(row.price_krw);
        } else {
            taken.push(*id);
        }
    }
    if taken.is_empty() {
        Ok(Verdict::Free { amount_krw: amount })
    } else {
        Ok(Verdict::Taken(taken))
    }
}

/// When a hold taken at `now_ms` ends.
pub fn hold_expires_at(now_ms: i64, hold_ttl_sec: u32) -> i64 {
    now_ms.saturating_add(i64::from(hold_ttl_sec) * 1_000)
}

/// The status a client sees for a reservation at `now`: a `held` row whose
/// time is up is reported `expired` before the sweeper rewrites it.
pub fn effective_reservation_status(
    status: ReservationStatus,
    expires_at_ms: i64,
    now_ms: i64,
) -> ReservationStatus {
    match status {
        ReservationStatus::Held if expires_at_ms <= now_ms => ReservationStatus::Expired,
        other => other,
    }
}

/// Only a live hold can be released; releasing twice is a conflict, so that
/// a client learns its first release (or the clock) already ended it.
pub fn check_releasable(
    status: ReservationStatus,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<(), DomainError> {
    match effective_reservation_status(status, expires_at_ms, now_ms) {
        ReservationStatus::Held => Ok(()),
        other => Err(DomainError::new(
            ErrorCode::ReservationNotHeld,
            format!("the reservation is {}, not held", other.as_str()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: i64, status: SeatStatus, exp: Option<i64>) -> SeatState {
        SeatState {
            id,
            event_id: "ev".into(),
            status,
            hold_expires_at_ms: exp,
            price_krw: 1_000 * id,
            version: 0,
        }
    }

    #[test]
    fn selections_are_sorted_distinct_and_bounded() {
        assert_eq!(SeatSelection::new(&[3, 1, 2], 4).unwrap().ids(), &[1, 2, 3]);
        assert!(matches!(
            SeatSelection::new(&[], 4),
            Err(DomainError {
                code: ErrorCode::NoSeats,
                ..
            })
        ));
        assert!(matches!(
            SeatSelection::new(&[1, 1], 4),
            Err(DomainError {
                code: ErrorCode::DuplicateSeat,
                ..
            })
        ));
        assert!(matches!(
            SeatSelection::new(&[1, 2, 3, 4, 5], 4),
            Err(DomainError {
                code: ErrorCode::TooManySeats,
                ..
            })
        ));
    }

    #[test]
    fn an_expired_hold_frees_its_seat_at_the_exact_millisecond() {
        assert!(!seat_is_free(SeatStatus::Held, Some(1_000), 999));
        assert!(seat_is_free(SeatStatus::Held, Some(1_000), 1_000));
        assert!(seat_is_free(SeatStatus::Available, None, 0));
        assert!(!seat_is_free(SeatStatus::Sold, None, i64::MAX));
        assert_eq!(
            effective_seat_status(SeatStatus::Held, Some(5), 6),
            SeatStatus::Available
        );
        assert_eq!(
            effective_seat_status(SeatStatus::Held, Some(5), 4),
            SeatStatus::Held
        );
    }

    #[test]
    fn judging_sums_prices_or_names_every_taken_seat() {
        let rows = vec![
            seat(1, SeatStatus::Available, None),
            seat(2, SeatStatus::Held, Some(100)),
            seat(3, SeatStatus::Sold, None),
        ];
        let sel = SeatSelection::new(&[1, 2], 4).unwrap();
        assert_eq!(
            judge_seats(&sel, "ev", &rows, 100).unwrap(),
            Verdict::Free { amount_krw: 3_000 }
        );
        assert_eq!(
            judge_seats(&sel, "ev", &rows, 50).unwrap(),
            Verdict::Taken(vec![2])
        );
        let sel = SeatSelection::new(&[1, 2, 3], 4).unwrap();
        assert_eq!(
            judge_seats(&sel, "ev", &rows, 50).unwrap(),
            Verdict::Taken(vec![2, 3])
        );
    }

    #[test]
    fn seats_of_another_event_or_unknown_seats_are_a_bad_request() {
        let rows = vec![seat(1, SeatStatus::Available, None)];
        let sel = SeatSelection::new(&[1], 4).unwrap();
        assert!(matches!(
            judge_seats(&sel, "other", &rows, 0),
            Err(DomainError {
                code: ErrorCode::SeatNotInEvent,
                ..
            })
        ));
        let sel = SeatSelection::new(&[1, 9], 4).unwrap();
        assert!(judge_seats(&sel, "ev", &rows, 0).is_err());
    }

    #[test]
    fn reservation_status_and_release_rules() {
        assert_eq!(hold_expires_at(1_000, 300), 301_000);
        assert_eq!(
            effective_reservation_status(ReservationStatus::Held, 10, 10),
            ReservationStatus::Expired
        );
        assert_eq!(
            effective_reservation_status(ReservationStatus::Paid, 10, 99),
            ReservationStatus::Paid
        );
        assert!(check_releasable(ReservationStatus::Held, 10, 9).is_ok());
        assert!(check_releasable(ReservationStatus::Held, 10, 10).is_err());
        assert!(check_releasable(ReservationStatus::Released, 10, 0).is_err());
    }
}
