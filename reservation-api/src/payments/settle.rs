//! Settling an attempt from Toss's records: after an unknown outcome, on a
//! retried request, and in the reconciler. Toss is asked what happened to
//! *this* attempt; only its answer moves the attempt out of `pending`.

use crate::domain::payment::{judge_attempt, AttemptVerdict, RefundState};
use crate::error::{Error, Result};
use crate::store::{ChargedInfo, PaymentRecord, RefundTarget, Settled};
use crate::toss::{ConfirmRequest, Payment, PaymentOutcome, TossError};

use super::confirm::refunded;
use super::{provider_status_str, unix_ms, PayOutcome, Payments};

/// Toss's record of one attempt.
struct Finding {
    payment: Option<Payment>,
    /// The order was charged under another paymentKey.
    other_charged: bool,
}

impl Payments {
    /// Looks the attempt up by orderId (the reconciliation lookup); when
    /// the order's record is another attempt, by its own paymentKey.
    async fn look_up(&self, attempt: &PaymentRecord) -> Result<Finding, TossError> {
        let by_order = self
            .gateway
            .get_by_order_id(&attempt.reservation_id)
            .await?;
        match by_order {
            Some(p) if p.payment_key == attempt.payment_key => Ok(Finding {
                payment: Some(p),
                other_charged: false,
            }),
            Some(other) => Ok(Finding {
                other_charged: other.status.is_charged()
                    || other.status == crate::toss::PaymentStatus::Canceled,
                payment: self
                    .gateway
                    .get_by_payment_key(&attempt.payment_key)
                    .await?,
            }),
            None => Ok(Finding {
                payment: None,
                other_charged: false,
            }),
        }
    }

    /// Settles a pending attempt from Toss's records. `may_reconfirm`:
    /// when Toss has it READY (our confirm never took effect), send the same
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
            match judge_attempt(finding.payment.as_ref(), finding.other_charged) {
                AttemptVerdict::Charged => {
                    let Some(p) = finding.payment else {
                        return Ok(PayOutcome::Pending(attempt));
                    };
                    return self.settle_charge(&attempt, &p).await;
                }
                AttemptVerdict::Refunded => {
                    self.store
                        .cancel_attempt(&attempt.id, "CANCELED", self.now_ms())
                        .await?;
                    return Err(refunded(true));
                }
                AttemptVerdict::NotCharged { code, message } => {
                    let provider_status = finding
                        .payment
                        .as_ref()
                        .map(|p| provider_status_str(p.status));
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
                AttemptVerdict::Unconfirmed if may_reconfirm => {
                    may_reconfirm = false;
                    let req = ConfirmRequest {
                        payment_key: attempt.payment_key.clone(),
                        order_id: attempt.reservation_id.clone(),
                        amount: attempt.amount_krw,
                    };
                    match self.gateway.confirm(&req).await {
                        Ok(PaymentOutcome::Done(p)) => {
                            return self.settle_charge(&attempt, &p).await
                        }
                        Ok(PaymentOutcome::Declined { code, message }) => {
                            self.store
                                .fail_attempt(
                                    &attempt.id,
                                    Some("ABORTED"),
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
                        // Unknown again, or Toss unreachable: look once more.
                        Ok(PaymentOutcome::Unknown(_)) | Err(_) => continue,
                    }
                }
                AttemptVerdict::Unconfirmed | AttemptVerdict::Unclear => {
                    return Ok(PayOutcome::Pending(attempt));
                }
            }
        }
    }

    /// Settles an attempt Toss charged: tickets, or a full refund.
    pub(super) async fn settle_charge(
        &self,
        attempt: &PaymentRecord,
        p: &Payment,
    ) -> Result<PayOutcome> {
        let info = ChargedInfo {
            provider_status: provider_status_str(p.status),
            approved_at_ms: p.approved_at.map(unix_ms),
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
