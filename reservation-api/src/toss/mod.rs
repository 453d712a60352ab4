//! Toss Payments: the v1 API client the payment flow charges and refunds
//! through, and a sandbox that speaks the same API on a loopback port.
//!
//! # The one rule: an unknown outcome is not a failure
//!
//! A confirm or cancel that times out, meets a 5xx, loses its connection or
//! is told `ALREADY_PROCESSED_PAYMENT` may well have moved the money. So
//! [`PaymentGateway::confirm`] and [`PaymentGateway::cancel`] answer
//! [`PaymentOutcome::Unknown`] for all of these, and the caller must then
//! look the payment up by orderId ([`PaymentGateway::get_by_order_id`];
//! the orderId is Ticketon's reservationId) and act on the status found:
//! DONE means paid, READY/ABORTED/EXPIRED means not paid. Only
//! [`PaymentOutcome::Declined`] is a definitive "no money moved".
//! Releasing seats or telling the buyer "payment failed" on `Unknown` would
//! sell a seat twice or charge for a seat the buyer never gets.
//!
//! Retrying a confirm is safe: its `Idempotency-Key` is derived from the
//! orderId and paymentKey, so Toss answers a retry with the first answer.
//! A cancel carries a caller-chosen key ([`IdempotencyKey::cancel`]).
//!
//! # Layout
//! - `model`: Toss's JSON shapes; `outcome`: the status/code → outcome table
//!   (pure); `gateway`: the trait and idempotency keys; `client`: reqwest;
//!   `auth`: Basic auth; `config`: env; `startup`: client or sandbox+client;
//!   `sandbox`: the stand-in server.
//!
//! The contract, the code table and the sandbox's switches are described
//! in `proto-notes/toss.md`.

mod auth;
mod client;
mod config;
mod error;
mod gateway;
mod model;
mod outcome;
pub mod sandbox;
mod startup;

pub use auth::basic_auth_value;
pub use client::{TossClient, IDEMPOTENCY_KEY_HEADER, TEST_CODE_HEADER};
pub use config::{
    TossArgs, TossConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SANDBOX_LISTEN,
    SANDBOX_CLIENT_KEY, SANDBOX_SECRET_KEY,
};
pub use error::TossError;
pub use gateway::{BoxFuture, IdempotencyKey, PaymentGateway, MAX_IDEMPOTENCY_KEY_LEN};
pub use model::{
    Cancel, CancelRequest, ConfirmRequest, Failure, Payment, PaymentStatus, TossErrorBody,
};
pub use outcome::{classify_error, ErrorClass, PaymentOutcome, UnknownReason};
pub use startup::{start, TossRuntime};
