//! Making a refund Ticketon decided on: a Toss cancel with the refund's own
//! idempotency key, then its effect in one transaction. An unknown answer
//! is checked against the payment's list of cancels (each carries the
//! refund id in its reason); if this refund is not there yet, it stays
//! `pending` and the reconciler sends the same cancel again, which Toss
//! answers from its idempotency record instead of refunding twice.

use crate::domain::payment::RefundState;
use crate::error::Result;
use crate::store::RefundTarget;
use crate::toss::{CancelRequest, IdempotencyKey, Payment, PaymentOutcome, TossError};

use super::{provider_status_str, Payments};

fn reason_of(target: &RefundTarget) -> String {
    match &target.refund.ticket_id {
        Some(ticket) => format!(
            "ticketon refund {}: ticket {ticket} cancelled",
            target.refund.id
        ),
        None => format!(
            "ticketon refund {}: seats no longer available",
            target.refund.id
        ),
    }
}

impl Payments {
    /// Drives one pending refund as far as Toss lets it go now.
    pub(super) async fn drive_refund(&self, target: &RefundTarget) -> Result<RefundState> {
        if target.refund.status != RefundState::Pending {
            return Ok(target.refund.status);
        }
        let reason = reason_of(target);
        let req = CancelRequest {
            cancel_reason: reason.clone(),
            cancel_amount: target
                .refund
                .ticket_id
                .as_ref()
                .map(|_| target.refund.amount_krw),
        };
        let key = IdempotencyKey::cancel(&target.reservation_id, &target.refund.id);
        match self.gateway.cancel(&target.payment_key, &req, &key).await {
            Ok(PaymentOutcome::Done(p)) => {
                self.finish_refund(target, &p).await?;
                Ok(RefundState::Done)
            }
            Ok(PaymentOutcome::Declined { code, message }) => {
                self.refund_refused(target, &code, &message).await?;
                Ok(RefundState::Failed)
            }
            Err(TossError::Rejected { code, message, .. }) => {
                self.refund_refused(target, &code, &message).await?;
                Ok(RefundState::Failed)
            }
            Ok(PaymentOutcome::Unknown(why)) => {
                tracing::warn!(refund = %target.refund.id, reason = %why,
                    "refund outcome unknown; looking the payment up");
                self.check_refund(target, &reason).await
            }
            Err(e) => {
                tracing::warn!(refund = %target.refund.id, error = %e,
                    "refund not sent; it stays pending");
                self.store
                    .touch_refund(&target.refund.id, self.now_ms())
                    .await?;
                Ok(RefundState::Pending)
            }
        }
    }

    async fn check_refund(&self, target: &RefundTarget, reason: &str) -> Result<RefundState> {
        match self.gateway.get_by_payment_key(&target.payment_key).await {
            Ok(Some(p)) if p.cancels().iter().any(|c| c.cancel_reason == reason) => {
                self.finish_refund(target, &p).await?;
                Ok(RefundState::Done)
            }
            Ok(_) | Err(_) => {
                self.store
                    .touch_refund(&target.refund.id, self.now_ms())
                    .await?;
                Ok(RefundState::Pending)
            }
        }
    }

    async fn finish_refund(&self, target: &RefundTarget, p: &Payment) -> Result<()> {
        let status = provider_status_str(p.status);
        let now = self.now_ms();
        match &target.refund.ticket_id {
            Some(_) => {
                self.store
                    .finish_ticket_refund(&target.refund.id, &status, now)
                    .await
            }
            None => {
                self.store
                    .finish_full_refund(&target.refund.id, &target.refund.payment_id, &status, now)
                    .await
            }
        }
    }

    async fn refund_refused(&self, target: &RefundTarget, code: &str, message: &str) -> Result<()> {
        if target.refund.ticket_id.is_none() {
            // The buyer was charged for seats they cannot have and Toss will
            // not refund: only a person can resolve this.
            tracing::error!(refund = %target.refund.id, payment = %target.refund.payment_id,
                %code, %message, "Toss refused a full refund; needs manual action");
        }
        self.store
            .fail_refund(&target.refund.id, code, message, self.now_ms())
            .await
    }
}
