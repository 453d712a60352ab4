//! The reconciler: settles every payment attempt and refund left `pending`
//! (a crash between the provider call and the commit, an unknown outcome, the provider
//! unreachable) from the provider's records.
//!
//! Bound: a pending row is taken over once it is `grace` old (default 5 s:
//! the request that wrote it has had its chance) and every `interval`
//! (default 2 s) after that, so with the provider answering it is settled within
//! grace + interval + one provider round trip (about 7 s by default, 30 s at the
//! outside with Toss's request timeout). A row whose provider answer is still
//! unknown is looked at again one grace period later; it is never guessed.

use std::sync::Arc;

use tokio::sync::watch;

use super::{PayOutcome, Payments};

/// Rows settled per round; the next round continues if more remain.
const BATCH: i64 = 100;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub attempts_seen: usize,
    pub attempts_settled: usize,
    pub refunds_seen: usize,
}

impl Payments {
    /// One pass over the pending rows older than the grace period.
    pub async fn reconcile_once(&self) -> crate::Result<Round> {
        let now = self.now_ms();
        let before = now - i64::try_from(self.reconcile.grace.as_millis()).unwrap_or(i64::MAX);
        let mut round = Round::default();
        for attempt in self.store.payments_to_reconcile(before, BATCH).await? {
            round.attempts_seen += 1;
            self.store.touch_attempt(&attempt.id, now).await?;
            let order = attempt.reservation_id.clone();
            match self.resolve(attempt, true).await {
                Ok(PayOutcome::Pending(_)) => {
                    tracing::info!(%order, "payment still unknown; will look again")
                }
                Ok(PayOutcome::Paid(_)) => {
                    round.attempts_settled += 1;
                    tracing::info!(%order, "reconciled a payment: tickets issued");
                }
                // A settled failure or refund is a result here, not an error.
                Err(e) => {
                    round.attempts_settled += 1;
                    tracing::info!(%order, outcome = %e, "reconciled a payment");
                }
            }
        }
        for refund in self.store.refunds_to_reconcile(before, BATCH).await? {
            round.refunds_seen += 1;
            self.store.touch_refund(&refund.refund.id, now).await?;
            if let Err(e) = self.drive_refund(&refund).await {
                tracing::warn!(refund = %refund.refund.id, error = %e, "refund round failed");
            }
        }
        Ok(round)
    }
}

pub async fn run(payments: Arc<Payments>, stop: watch::Receiver<bool>) {
    crate::periodic::every(payments.reconcile.interval, stop, || async {
        if let Err(e) = payments.reconcile_once().await {
            tracing::warn!(error = %e, "payment reconciliation failed; retrying next round");
        }
    })
    .await
}
