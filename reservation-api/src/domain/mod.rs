//! Ticketon's reservation rules as plain Rust: no IO, no clock, no database.
//!
//! Storage and seat-lock strategies ask these functions what to do (is this
//! seat free at `now`? is this selection allowed? may this hold be
//! released?), so the rules are the same on every backend and every strategy
//! and can be tested without one.

pub mod event;
pub mod hold;
pub mod payment;
pub mod sales;
pub mod seat_map;
pub mod session;
pub mod status;
pub mod ticket;

pub use event::{NewEvent, SectionSpec};
pub use hold::{judge_seats, SeatSelection, SeatState, Verdict};
pub use seat_map::{SeatMap, SeatView, SectionSummary};
pub use status::{EventStatus, ReservationStatus, SeatStatus};
