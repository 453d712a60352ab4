//! The payment use cases: confirm a payment and issue tickets, settle
//! every unknown outcome from the provider's own records, refund what
//! cannot become tickets, and cancel single tickets. They drive a
//! [`provider::PaymentProvider`] (the port) and know no provider. Described in
//! `proto-notes/reservation-api.md` ("Payments and tickets").
//!
//! Money and tickets must agree whatever fails in between, so every step
//! that talks to the provider is bracketed by database writes: a `pending` row
//! (attempt or refund) is committed *before* the call, and the effect of the
//! answer is committed *after* it in one transaction. A crash or an unknown
//! answer in between leaves the `pending` row, which [`reconciler`] settles
//! from the provider's records within a bounded time.

pub mod access_token;
mod confirm;
pub mod provider;
pub mod reconciler;
mod refund;
mod settle;
mod tickets;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::clock::Clock;
use crate::store::{PaymentRecord, SqlStore, TicketRecord};
use provider::PaymentProvider;

pub use access_token::BuyerKeys;
pub use confirm::PayRequest;
pub use tickets::{Holder, TicketCancel};

/// How the reconciler runs.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileSettings {
    /// How often it looks for pending attempts and refunds.
    pub interval: Duration,
    /// How long a pending row is left to the request that wrote it before
    /// the reconciler takes it over.
    pub grace: Duration,
}

#[derive(Debug)]
pub struct Payments {
    pub store: SqlStore,
    pub provider: Arc<dyn PaymentProvider>,
    pub clock: Arc<dyn Clock>,
    pub keys: BuyerKeys,
    pub reconcile: ReconcileSettings,
    /// KRW of every charge settled into tickets (by a request or by the
    /// reconciler), counted once, at the commit that issues them.
    pub revenue_won: Counter,
}

/// A paid reservation as the buyer receives it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub payment: PaymentRecord,
    pub tickets: Vec<TicketRecord>,
    pub access_token: String,
}

/// What a payment request ended in, short of an error.
#[derive(Debug, Clone)]
pub enum PayOutcome {
    /// Charged and ticketed.
    Paid(Receipt),
    /// The provider's answer is not known yet; the reconciler will settle the
    /// attempt and a retry of the same request will report it.
    Pending(PaymentRecord),
}

impl Payments {
    pub fn new(
        store: SqlStore,
        provider: Arc<dyn PaymentProvider>,
        clock: Arc<dyn Clock>,
        token_secret: &[u8],
        reconcile: ReconcileSettings,
    ) -> Self {
        Payments {
            store,
            provider,
            clock,
            keys: BuyerKeys::from_token_secret(token_secret),
            reconcile,
            revenue_won: Counter::default(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The receipt of a settled (`done`) attempt. The access token is
    /// derived from the settlement time, so it is the same on every call.
    pub async fn receipt(&self, payment: PaymentRecord) -> crate::Result<Receipt> {
        let tickets = self.store.tickets_of_payment(&payment.id).await?;
        let issued_at = payment.settled_at_ms.unwrap_or(payment.updated_at_ms);
        let access_token =
            self.keys
                .access_token(&payment.user_id, &payment.reservation_id, issued_at);
        Ok(Receipt {
            payment,
            tickets,
            access_token,
        })
    }
}
