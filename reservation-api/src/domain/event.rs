//! What an admin may create: an event with its sections. Validation lives
//! here so that a bad seat map is refused before any row is written.

use crate::domain::status::EventStatus;
use crate::error::{DomainError, ErrorCode};

pub const DEFAULT_HOLD_TTL_SEC: u32 = 300;
pub const DEFAULT_MAX_SEATS_PER_ORDER: u32 = 4;
/// Bounds a single create request (and the seat list it produces).
pub const MAX_SEATS_PER_EVENT: u64 = 200_000;
pub const MAX_HOLD_TTL_SEC: u32 = 3_600;
pub const MAX_SEATS_PER_ORDER_LIMIT: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub name: String,
    pub rows: u32,
    pub seats_per_row: u32,
    /// Integer won.
    pub price_krw: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub name: String,
    pub venue: String,
    /// Unix milliseconds.
    pub starts_at_ms: i64,
    pub queue_id: String,
    pub hold_ttl_sec: u32,
    pub max_seats_per_order: u32,
    pub status: EventStatus,
    pub sections: Vec<SectionSpec>,
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(DomainError::new(
            ErrorCode::InvalidEvent,
            format!("{field} must be 1..={max} characters"),
        ));
    }
    Ok(())
}

impl NewEvent {
    pub fn validate(&self) -> Result<(), DomainError> {
        text("name", &self.name, 200)?;
        text("venue", &self.venue, 200)?;
        text("queueId", &self.queue_id, 128)?;
        if matches!(self.status, EventStatus::Closed | EventStatus::SoldOut) {
            return Err(DomainError::new(
                ErrorCode::InvalidEvent,
                "an event is created as \"draft\" or \"on_sale\"",
            ));
        }
        if !(1..=MAX_HOLD_TTL_SEC).contains(&self.hold_ttl_sec) {
            return Err(DomainError::new(
                ErrorCode::InvalidEvent,
                format!("holdTtlSec must be 1..={MAX_HOLD_TTL_SEC}"),
            ));
        }
        if !(1..=MAX_SEATS_PER_ORDER_LIMIT).contains(&self.max_seats_per_order) {
            return Err(DomainError::new(
                ErrorCode::InvalidEvent,
                format!("maxSeatsPerOrder must be 1..={MAX_SEATS_PER_ORDER_LIMIT}"),
            ));
        }
        if self.sections.is_empty() {
            return Err(DomainError::new(
                ErrorCode::InvalidEvent,
                "an event needs at least one section",
            ));
        }
        let mut names = std::collections::HashSet::new();
        let mut total: u64 = 0;
        for s in &self.sections {
            text("section name", &s.name, 64)?;
            if !names.insert(s.name.as_str()) {
                return Err(DomainError::new(
                    ErrorCode::InvalidEvent,
                    format!("section {:?} appears twice", s.name),
                ));
            }
            if s.rows == 0 || s.seats_per_row == 0 {
                return Err(DomainError::new(
                    ErrorCode::InvalidEvent,
                    format!(
                        "section {:?} needs rows and seatsPerRow of at least 1",
                        s.name
                    ),
                ));
            }
            if s.price_krw < 0 {
                return Err(DomainError::new(
                    ErrorCode::InvalidEvent,
                    format!("section {:?} has a negative price", s.name),
                ));
            }
            total = total.saturating_add(u64::from(s.rows) * u64::from(s.seats_per_row));
        }
        if total > MAX_SEATS_PER_EVENT {
            return Err(DomainError::new(
                ErrorCode::InvalidEvent,
                format!(
                    "an event may have at most {MAX_SEATS_PER_EVENT} seats, this one has {total}"
                ),
            ));
        }
        Ok(())
    }

    /// Every seat of the event as (section, row, number, price), in the
    /// order they are inserted (rows and numbers start at 1).
    pub fn seats(&self) -> impl Iterator<Item = (&str, u32, u32, i64)> + '_ {
        self.sections.iter().flat_map(|s| {
            (1..=s.rows).flat_map(move |row| {
                (1..=s.seats_per_row).map(move |n| (s.name.as_str(), row, n, s.price_krw))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> NewEvent {
        NewEvent {
            name: "Concert".into(),
            venue: "Hall".into(),
            starts_at_ms: 1,
            queue_id: "q".into(),
            hold_ttl_sec: DEFAULT_HOLD_TTL_SEC,
            max_seats_per_order: DEFAULT_MAX_SEATS_PER_ORDER,
            status: EventStatus::OnSale,
            sections: vec![
                SectionSpec {
                    name: "A".into(),
                    rows: 2,
                    seats_per_row: 3,
                    price_krw: 100_000,
                },
                SectionSpec {
                    name: "B".into(),
                    rows: 1,
                    seats_per_row: 2,
                    price_krw: 50_000,
                },
            ],
        }
    }

    #[test]
    fn a_valid_event_lists_every_seat_once() {
        let e = event();
        e.validate().unwrap();
        let seats: Vec<_> = e.seats().collect();
        assert_eq!(seats.len(), 8);
        assert_eq!(seats[0], ("A", 1, 1, 100_000));
        assert_eq!(seats[5], ("A", 2, 3, 100_000));
        assert_eq!(seats[7], ("B", 1, 2, 50_000));
    }

    #[test]
    fn bad_seat_maps_are_refused() {
        let mut e = event();
        e.sections[1].name = "A".into();
        assert!(e.validate().is_err());
        let mut e = event();
        e.sections[0].rows = 0;
        assert!(e.validate().is_err());
        let mut e = event();
        e.sections[0].price_krw = -1;
        assert!(e.validate().is_err());
        let mut e = event();
        e.sections[0].rows = 1000;
        e.sections[0].seats_per_row = 1000;
        assert!(e.validate().is_err());
        let mut e = event();
        e.hold_ttl_sec = 0;
        assert!(e.validate().is_err());
        let mut e = event();
        e.status = EventStatus::Closed;
        assert!(e.validate().is_err());
        e.status = EventStatus::SoldOut;
        assert!(e.validate().is_err());
        let mut e = event();
        e.sections.clear();
        assert!(e.validate().is_err());
    }
}
