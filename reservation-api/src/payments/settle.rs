//! Settling an attempt from the provider's records: after an unknown outcome, on a
//! retried request, and in the reconciler. The provider is asked what happened to
//! *this* attempt; only its answer moves the attempt out of `pending`.

use super::provider::{Charge, ChargeStatus, Outcome, ProviderError};
use crate::domain::payment::{
    charged_action, judge_attempt, seat_still_payable, AttemptVerdict, ChargedAction, PaymentState,
    RefundState,
};
use crate::error::{Error, Result};
use crate::store::{self, ChargedInfo, PaymentRecord, RefundRecord, RefundTarget, StoreError};

use super::confirm::{charge_request, refunded};
use super::{PayOutcome, Payments};

/// The provider's record of one attempt.
/// What settling a charged attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    /// The seats were sold and the tickets issued (now, or before).
    Issued,
    /// The buyer cannot have the seats: this full refund is to be made.
    Refund(RefundRecord),
    /// The attempt was already refunded.
    Cancelled,
}

struct Finding {
    charge: Option<Charge>,
    /// The order was charged under another paymentKey.
    other_charged: bool,
}

impl Payments {
    /// Looks the attempt up by orderId (the reconciliation lookup); when
    /// the order's record is another attempt, by its own paymentKey.
    async fn look_up(&self, attempt: &PaymentRecord) -> Result<Finding, ProviderError> {
        let by_order = self
            .provider
            .charge_of_order(&attempt.reservation_id)
            .await?;
        match by_order {
            Some(c) if c.payment_key == attempt.payment_key => Ok(Finding {
                charge: Some(c),
                other_charged: false,
            }),
            Some(other) => Ok(Finding {
                other_charged: other.status.is_charged() || other.status == ChargeStatus::Refunded,
                charge: self.provider.charge_by_key(&attempt.payment_key).await?,
            }),
            None => Ok(Finding {
                charge: None,
                other_charged: false,
            }),
        }
    }

    /// Settles a pending attempt from the provider's records. `may_reconfirm`:
    /// when the provider has it ready (our confirm never took effect), send the same
    /// confirm once more (same idempotency key, so it cannot charge twice).
    pub(super) async fn resolve(
        &self,
        attempt: PaymentRecord,
        may_reconfirm: bool,
    ) -> Result<PayOutcome> {
        let mut may_reconfirm = may_reconfirm;
        loop {
            let finding = match self.look_up(&attempt).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(order = %attempt.reservation_id, error = %e,
                        "payment lookup failed; the attempt stays pending");
                    return Ok(PayOutcome::Pending(attempt));
                }
            };
            match judge_attempt(finding.charge.as_ref(), finding.other_charged) {
                AttemptVerdict::Charged => {
                    let Some(charge) = finding.charge else {
                        return Ok(PayOutcome::Pending(attempt));
                    };
                    return self.settle_charge(&attempt, &charge).await;
                }
                AttemptVerdict::Refunded => {
                    let provider_status = finding
                        .charge
                        .as_ref()
                        .map_or("", |c| c.provider_status.as_str());
                    self.store
                        .cancel_attempt(&attempt.id, provider_status, self.now_ms())
                        .await?;
                    return Err(refunded(true));
                }
                AttemptVerdict::NotCharged { code, message } => {
                    let provider_status =
                        finding.charge.as_ref().map(|c| c.provider_status.as_str());
                    return self.decline(&attempt, provider_status, code, message).await;
                }
                AttemptVerdict::Unconfirmed if may_reconfirm => {
                    may_reconfirm = false;
                    let req = charge_request(&attempt);
                    match self.provider.confirm(&req).await {
                        Ok(Outcome::Done(charge)) => {
                            return self.settle_charge(&attempt, &charge).await
                        }
                        Ok(Outcome::Declined {
                            code,
                            message,
                            provider_status,
                        }) => {
                            return self
                                .decline(&attempt, provider_status.as_deref(), code, message)
                                .await;
                        }
                        // Unknown again, or the provider unreachable: look once more.
                        Ok(Outcome::Unknown(_)) | Err(_) => continue,
                    }
                }
                AttemptVerdict::Unconfirmed | AttemptVerdict::Unclear => {
                    return Ok(PayOutcome::Pending(attempt));
                }
            }
        }
    }

    /// Settles an attempt the provider charged: tickets, or a full refund.
    pub(super) async fn settle_charge(
        &self,
        attempt: &PaymentRecord,
        charge: &Charge,
    ) -> Result<PayOutcome> {
        let info = ChargedInfo {
            provider_status: charge.provider_status.clone(),
            approved_at_ms: charge.approved_at_ms,
        };
        let now = self.now_ms();
        match store::retrying(|| self.settle_charged_once(&attempt.id, &info, now)).await? {
            Settled::Issued => {
                let payment = self
                    .store
                    .get_payment(&attempt.id)
                    .await?
                    .ok_or_else(|| Error::Internal("the payment vanished".into()))?;
                Ok(PayOutcome::Paid(self.receipt(payment).await?))
            }
            Settled::Refund(refund) => {
                tracing::warn!(order = %attempt.reservation_id,
                    "charged after the seats were lost; refunding in full");
                let target = RefundTarget {
                    refund,
                    payment_key: attempt.payment_key.clone(),
                    reservation_id: attempt.reservation_id.clone(),
                };
                let state = self.drive_refund(&target).await?;
                Err(refunded(state == RefundState::Done))
            }
            Settled::Cancelled => Err(refunded(true)),
        }
    }
}

impl Payments {
    /// In one transaction, either sells the seats, issues one ticket per
    /// seat, marks the reservation `paid`, ends the purchase session and
    /// enqueues the events; or, when the seats are no longer the buyer's,
    /// records the full refund to make. Retried whole on a deadlock.
    async fn settle_charged_once(
        &self,
        payment_id: &str,
        info: &ChargedInfo,
        now_ms: i64,
    ) -> store::Result<Settled> {
        let mut tx = self.store.begin_settlement().await?;
        let Some(payment) = tx.lock_payment(payment_id).await? else {
            return Err(StoreError::Inconsistent(format!("no payment {payment_id}")));
        };
        match payment.status {
            PaymentState::Done => return Ok(Settled::Issued),
            PaymentState::Cancelled => return Ok(Settled::Cancelled),
            // `failed` is accepted too: should the provider ever report a
            // charge for an attempt recorded as failed, the money must still
            // be matched.
            PaymentState::Pending | PaymentState::Failed => {}
        }
        if let Some(refund) = tx.full_refund(payment_id).await? {
            return Ok(Settled::Refund(refund));
        }
        let rid = payment.reservation_id.as_str();
        let Some((order, seat_ids)) = tx.lock_order(rid).await? else {
            return Err(StoreError::Inconsistent(format!(
                "payment {payment_id} has no reservation"
            )));
        };
        let paid_by_other = tx.paid_by_other(rid, payment_id).await?;
        let seats = tx.lock_seats(&seat_ids).await?;
        let all_payable = seats
            .iter()
            .all(|s| seat_still_payable(&s.claim, rid, now_ms));
        match charged_action(paid_by_other, seats.len(), seat_ids.len(), all_payable) {
            ChargedAction::Refund { code } => {
                let refund = RefundRecord::full(&payment, now_ms);
                tx.record_refund(&refund, info, code, now_ms).await?;
                tx.commit().await?;
                Ok(Settled::Refund(refund))
            }
            ChargedAction::IssueTickets => {
                tx.sell(&order, payment_id, &seats, info, now_ms).await?;
                tx.commit().await?;
                self.revenue_won.inc_by(payment.amount_krw.max(0) as u64);
                Ok(Settled::Issued)
            }
        }
    }
}
