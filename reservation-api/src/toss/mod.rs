//! Toss Payments, one adapter of the payment port
//! ([`crate::payments::provider::PaymentProvider`]): the v1 API client, and
//! a sandbox that speaks the same API on a loopback port.
//!
//! # The one rule: an unknown outcome is not a failure
//!
//! A confirm or cancel that times out, meets a 5xx, loses its connection or
//! is told `ALREADY_PROCESSED_PAYMENT` may well have moved the money. So
//! [`TossClient::confirm_payment`] and [`TossClient::cancel_payment`]
//! answer [`PaymentOutcome::Unknown`] for all of these, and the caller must
//! then look the payment up by orderId ([`TossClient::payment_by_order`];
//! the orderId is Ticketon's reservationId) and act on the status found:
//! DONE means paid, READY/ABORTED/EXPIRED means not paid. Only
//! [`PaymentOutcome::Declined`] is a definitive "no money moved".
//!
//! Retrying a confirm is safe: its `Idempotency-Key` is derived from the
//! orderId and paymentKey, so Toss answers a retry with the first answer.
//! A cancel carries a caller-chosen key ([`IdempotencyKey::cancel`]).
//!
//! # Layout
//! - `model`: Toss's JSON shapes; `outcome`: the status/code → outcome table
//!   (pure); `idempotency`: the `Idempotency-Key`s; `client`: reqwest;
//!   `provider`: the port's types to and from Toss's; `auth`: Basic auth;
//!   `config`: settings; `startup`: client or sandbox+client; `sandbox`: the
//!   stand-in server.
//!
//! The contract, the code table and the sandbox's switches are described
//! in `proto-notes/toss.md`.

mod auth;
mod client;
mod config;
mod error;
mod idempotency;
mod model;
mod outcome;
mod provider;
pub mod sandbox;
mod startup;

pub use auth::basic_auth_value;
pub use client::{TossClient, IDEMPOTENCY_KEY_HEADER, TEST_CODE_HEADER};
pub use config::{
    TossArgs, TossConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SANDBOX_LISTEN,
    SANDBOX_CLIENT_KEY, SANDBOX_SECRET_KEY,
};
pub use error::TossError;
pub use idempotency::{IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use model::{
    Cancel, CancelRequest, ConfirmRequest, Failure, Payment, PaymentStatus, TossErrorBody,
};
pub use outcome::{classify_error, ErrorClass, PaymentOutcome, UnknownReason};
pub use provider::{charge_of, PROVIDER_NAME};
pub use startup::{start, TossRuntime};
