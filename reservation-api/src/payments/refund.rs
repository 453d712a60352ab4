//! Making a refund Ticketon decided on: a provider refund with the refund's own
//! idempotency key, then its effect in one transaction. An unknown answer
//! is checked against the payment's list of cancels (each carries the
//! refund id in its reason); if this refund is not there yet, it stays
//! `pending` and the reconciler sends the same cancel again, which the provider
//! answers from its idempotency record instead of refunding twice.

use super::provider::{Charge, Outcome, ProviderError, RefundRequest};
use crate::domain::payment::RefundState;
use crate::error::Result;
use crate::store::RefundTarget;

use super::Payments;

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
    /// Drives one pending refund as far as the provider lets it go now.
    pub(super) async fn drive_refund(&self, target: &RefundTarget) -> Result<RefundState> {
        if target.refund.status != RefundState::Pending {
            return Ok(target.refund.status);
        }
        let reason = reason_of(target);
        let req = RefundRequest {
            payment_key: target.payment_key.clone(),
            order_id: target.reservation_id.clone(),
            refund_id: target.refund.id.clone(),
            reason: reason.clone(),
            amount_krw: target
                .refund
                .ticket_id
                .as_ref()
                .map(|_| target.refund.amount_krw),
        };
        match self.provider.refund(&req).await {
            Ok(Outcome::Done(charge)) => {
                self.finish_refund(target, &charge).await?;
                Ok(RefundState::Done)
            }
            Ok(Outcome::Declined { code, message, .. }) => {
                self.refund_refused(target, &code, &message).await?;
                Ok(RefundState::Failed)
            }
            Err(ProviderError::Rejected { code, message }) => {
                self.refund_refused(target, &code, &message).await?;
                Ok(RefundState::Failed)
            }
            Ok(Outcome::Unknown(why)) => {
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
        match self.provider.charge_by_key(&target.payment_key).await {
            Ok(Some(charge)) if charge.refunds.iter().any(|r| r.reason == reason) => {
                self.finish_refund(target, &charge).await?;
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

    async fn finish_refund(&self, target: &RefundTarget, charge: &Charge) -> Result<()> {
        let status = charge.provider_status.as_str();
        let now = self.now_ms();
        match &target.refund.ticket_id {
            Some(_) => Ok(self
                .store
                .finish_ticket_refund(&target.refund.id, status, now)
                .await?),
            None => Ok(self
                .store
                .finish_full_refund(&target.refund.id, &target.refund.payment_id, status, now)
                .await?),
        }
    }

    async fn refund_refused(&self, target: &RefundTarget, code: &str, message: &str) -> Result<()> {
        if target.refund.ticket_id.is_none() {
            // The buyer was charged for seats they cannot have and the provider will
            // not refund: only a person can resolve this.
            tracing::error!(refund = %target.refund.id, payment = %target.refund.payment_id,
                %code, %message, "the payment provider refused a full refund; needs manual action");
        }
        Ok(self
            .store
            .fail_refund(&target.refund.id, code, message, self.now_ms())
            .await?)
    }
}
