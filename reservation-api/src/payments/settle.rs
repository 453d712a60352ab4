//! Settling an attempt from the provider's records: after an unknown outcome, on a
//! retried request, and in the reconciler. The provider is asked what happened to
//! *this* attempt; only its answer moves the attempt out of `pending`.

use super::provider::{Charge, ChargeRequest, ChargeStatus, Outcome, ProviderError};
use crate::domain::payment::{judge_attempt, AttemptVerdict, RefundState};
use crate::error::{Error, Result};
use crate::store::{ChargedInfo, PaymentRecord, RefundTarget, Settled};

use super::confirm::refunded;
use super::{PayOutcome, Payments};

/// The provider's record of one attempt.
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
                    self.store
                        .fail_attempt(&attempt.id, provider_status, &code, &message, self.now_ms())
                        .await?;
                    return Err(Error::PaymentDeclined {
                        provider_code: code,
                        message,
                    });
                }
                AttemptVerdict::Unconfirmed if may_reconfirm => {
                    may_reconfirm = false;
                    let req = ChargeRequest {
                        payment_key: attempt.payment_key.clone(),
                        order_id: attempt.reservation_id.clone(),
                        amount_krw: attempt.amount_krw,
                    };
                    match self.provider.confirm(&req).await {
                        Ok(Outcome::Done(charge)) => {
                            return self.settle_charge(&attempt, &charge).await
                        }
                        Ok(Outcome::Declined {
                            code,
                            message,
                            provider_status,
                        }) => {
                            self.store
                                .fail_attempt(
                                    &attempt.id,
                                    provider_status.as_deref(),
                                    &code,
                                    &message,
                                    self.now_ms(),
                                )
                                .await?;
                            return Err(Error::PaymentDeclined {
                                provider_code: code,
                                message,
                            });
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
        match self
            .store
            .settle_charged(&attempt.id, &info, self.now_ms())
            .await?
        {
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
