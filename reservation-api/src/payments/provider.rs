//! The payment port: what the payment use cases need from a payment
//! provider, in Ticketon's words. `toss/` is one adapter of it; a test can
//! be another.
//!
//! # The one rule: an unknown outcome is not a failure
//!
//! A confirm or refund that times out, meets a server error, loses its
//! connection or is told "already processed" may well have moved the money.
//! So [`PaymentProvider::confirm`] and [`PaymentProvider::refund`] answer
//! [`Outcome::Unknown`] for all of these, and the caller must then look the
//! charge up by order ([`PaymentProvider::charge_of_order`]; the order id is
//! Ticketon's reservationId) and act on the status found. Only
//! [`Outcome::Declined`] is a definitive "no money moved". Releasing seats
//! or telling the buyer "payment failed" on `Unknown` would sell a seat
//! twice or charge for a seat the buyer never gets.

use std::future::Future;
use std::pin::Pin;

pub use crate::domain::payment::{Charge, ChargeFailure, ChargeRefund, ChargeStatus};

/// A `Send` boxed future, the return type of every provider method: the
/// trait stays object-safe (`Arc<dyn PaymentProvider>`) without a macro
/// crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Confirm the charge the buyer approved in the provider's checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The provider's key of the charge, from the checkout.
    pub payment_key: String,
    /// Ticketon's reservationId.
    pub order_id: String,
    /// What Ticketon expects to charge; the provider refuses a mismatch.
    pub amount_krw: i64,
}

/// Refund all or part of a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub payment_key: String,
    /// Ticketon's reservationId.
    pub order_id: String,
    /// Names the refund in Ticketon's records (a refund row id). A retry of
    /// the same refund carries the same id and must refund only once; two
    /// refunds with different ids are two refunds even of the same amount.
    pub refund_id: String,
    /// Sent to the provider and found again in [`ChargeRefund::reason`].
    pub reason: String,
    /// `None` refunds the whole remaining balance.
    pub amount_krw: Option<i64>,
}

/// What a confirm or a refund ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the charge as it stands afterwards.
    Done(Charge),
    /// Refused for a reason on the buyer's side (card declined, session
    /// expired, amount not refundable, ...). Nothing moved.
    Declined {
        /// The provider's code, shown to the buyer as `providerCode`.
        code: String,
        message: String,
        /// The provider's status of the charge after the refusal, if it
        /// has one to record.
        provider_status: Option<String>,
    },
    /// Nobody knows whether it happened: look the charge up by order and
    /// act on its status. The text says why, for the logs.
    Unknown(String),
}

/// What is *not* an outcome: confirm and refund answer `Ok(Outcome)` for
/// declines and unknown outcomes alike, so that a stray `?` cannot turn
/// "we don't know" into an error.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The request could not be expressed to the provider. Nothing moved.
    #[error("invalid payment request: {0}")]
    InvalidInput(String),
    /// The provider refused the request as malformed or unauthorized.
    /// Nothing moved; this is a bug or a misconfiguration, not the buyer's.
    #[error("the payment provider refused the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// A lookup got no answer. Only lookups return this: they change
    /// nothing, so not knowing is just "try again later".
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
}

/// A payment provider as the payment use cases drive it.
///
/// Contract: `confirm` and `refund` answer `Ok(Outcome::Unknown)` for every
/// doubt; an `Err` from them means nothing moved and retrying as-is will
/// not help. Confirming the same request twice charges once.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// The provider's name as recorded with each payment (`toss`).
    fn name(&self) -> &'static str;

    /// Confirms a charge the buyer approved.
    fn confirm<'a>(
        &'a self,
        req: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>>;

    /// Refunds all or part of a charge.
    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>>;

    /// The charge with this key; `Ok(None)` when the provider knows none.
    fn charge_by_key<'a>(
        &'a self,
        payment_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>>;

    /// The charge the provider holds for an order (the reconciliation lookup
    /// after an unknown outcome); `Ok(None)` when there is none.
    fn charge_of_order<'a>(
        &'a self,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>>;
}
