//! Ticketon's reservation-api: events, seat maps and seat holds for fans the
//! waiting room (queue-server) has admitted.
//!
//! Layers, inside out: [`domain`] (rules, no IO) ← [`store`] (SQL on MySQL
//! or SQLite) ← [`seat_lock`] (three interchangeable ways to take seats
//! safely) ← [`service`] (use cases) ← [`http`] (axum). [`app`] wires them
//! together; [`error`] is the one error type and its one HTTP mapping.

pub mod admissions;
pub mod app;
pub mod clock;
pub mod config;
pub mod database_watch;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod outbox_relay;
pub mod payments;
pub mod periodic;
pub mod seat_lock;
pub mod service;
pub mod store;
pub mod sweeper;
pub mod toss;

pub use app::{serve, App, ServerHandle};
pub use config::Config;
pub use error::{Error, Result};
pub use seat_lock::SeatLockKind;
pub use service::{Buyer, Reservations};
