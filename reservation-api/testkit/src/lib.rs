//! What the reservation-api's integration tests share, by concern:
//! [`db`] (real databases and Redis per test), [`tokens`] (test keys and
//! admission tokens), [`server`] (a server on port 0 and its HTTP calls),
//! and [`payments`] (the payment rig with failure injection and the
//! money/ticket invariants).
//!
//! A library rather than a `tests/common` module, so that every test binary
//! links what it uses and nothing is dead code.

pub mod db;
pub mod payments;
pub mod server;
pub mod tokens;

pub use db::{redis_cleanup, redis_url, TestDb};
pub use server::{start, TestServer};
pub use tokens::{now_s, token, token_for, token_with_entry, ADMIN_KEY, QUEUE, SECRET};
