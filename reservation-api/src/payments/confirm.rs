//! `POST /v1/api/payments`: check, record the attempt, confirm with the provider,
//! settle. An unknown outcome is settled from the provider's records, never taken
//! for a failure.

use super::provider::{ChargeRequest, Outcome, ProviderError};
use crate::domain::hold::effective_reservation_status;
use crate::domain::payment::{seats_still_payable, validate_payment_key, PaymentState};
use crate::domain::session::SessionStatus;
use crate::domain::ReservationStatus;
use crate::error::{Error, ErrorCode, Result};
use crate::service::Buyer;
use crate::store::{PaymentRecord, ReservationRecord};

use super::{PayOutcome, Payments};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    pub reservation_id: String,
    pub payment_key: String,
    /// Integer KRW; must equal the hold's amount.
    pub amount: i64,
}

fn reservation_not_found(id: &str) -> Error {
    Error::rejected(
        ErrorCode::ReservationNotFound,
        format!("no reservation {id:?} for this user"),
    )
}

impl Payments {
    pub async fn pay(&self, buyer: &Buyer, req: &PayRequest) -> Result<PayOutcome> {
        validate_payment_key(&req.payment_key)?;
        let resv = match self.store.get_reservation(&req.reservation_id).await? {
            Some(r) if r.user_id == buyer.user_id => r,
            _ => return Err(reservation_not_found(&req.reservation_id)),
        };
        // A retry of an attempt already made is answered from that attempt,
        // before anything else: the session may have ended because of it.
        if let Some(attempt) = self.store.find_attempt(&resv.id, &req.payment_key).await? {
            if attempt.amount_krw != req.amount {
                return Err(amount_mismatch(attempt.amount_krw, req.amount));
            }
            return self.resume(attempt).await;
        }
        // A session that ended with its hold's expiry does not refuse: the
        // seats may still be free (checked next). Paid, released or left
        // sessions do.
        if let Some(status) = self.store.session_status(&buyer.entry_id).await? {
            if !status.is_active() && status != SessionStatus::Expired {
                return Err(Error::rejected(
                    ErrorCode::SessionEnded,
                    format!(
                        "this admission's purchase session has ended ({})",
                        status.as_str()
                    ),
                ));
            }
        }
        if req.amount != resv.amount_krw {
            return Err(amount_mismatch(resv.amount_krw, req.amount));
        }
        self.check_payable(&resv).await?;
        let attempt = self
            .store
            .insert_attempt(
                &resv.id,
                &buyer.user_id,
                self.provider.name(),
                &req.payment_key,
                req.amount,
                self.now_ms(),
            )
            .await?;
        if attempt.status != PaymentState::Pending {
            // A concurrent identical request got there first and finished.
            return self.resume(attempt).await;
        }
        self.confirm(attempt).await
    }

    /// The hold must be live, or its seats still free (checked again, under
    /// lock, when the charge is settled).
    async fn check_payable(&self, resv: &ReservationRecord) -> Result<()> {
        let now = self.now_ms();
        match effective_reservation_status(resv.status, resv.expires_at_ms, now) {
            ReservationStatus::Held => Ok(()),
            ReservationStatus::Paid => Err(Error::rejected(
                ErrorCode::ReservationAlreadyPaid,
                "this reservation is already paid",
            )),
            other => {
                let claims = self.store.seat_claims(&resv.seat_ids).await?;
                if seats_still_payable(&claims, resv.seat_ids.len(), &resv.id, now) {
                    Ok(())
                } else {
                    Err(Error::rejected(
                        ErrorCode::ReservationNotPayable,
                        format!(
                            "the reservation is {} and its seats were taken",
                            other.as_str()
                        ),
                    ))
                }
            }
        }
    }

    /// Answers a request for an attempt that already exists.
    async fn resume(&self, attempt: PaymentRecord) -> Result<PayOutcome> {
        match attempt.status {
            PaymentState::Done => Ok(PayOutcome::Paid(self.receipt(attempt).await?)),
            PaymentState::Failed => Err(declined(&attempt)),
            PaymentState::Cancelled => Err(refunded(true)),
            PaymentState::Pending => {
                let refunds = self.store.refunds_of_payment(&attempt.id).await?;
                if let Some(full) = refunds.iter().find(|r| r.refund.ticket_id.is_none()) {
                    let state = self.drive_refund(full).await?;
                    return Err(refunded(state == crate::domain::payment::RefundState::Done));
                }
                self.resolve(attempt, true).await
            }
        }
    }

    /// Asks the provider to confirm, and settles whatever it answers.
    pub(super) async fn confirm(&self, attempt: PaymentRecord) -> Result<PayOutcome> {
        let req = charge_request(&attempt);
        match self.provider.confirm(&req).await {
            Ok(Outcome::Done(charge)) => self.settle_charge(&attempt, &charge).await,
            Ok(Outcome::Declined {
                code,
                message,
                provider_status,
            }) => {
                self.decline(&attempt, provider_status.as_deref(), code, message)
                    .await
            }
            Ok(Outcome::Unknown(reason)) => {
                tracing::warn!(order = %attempt.reservation_id, %reason,
                    "confirm outcome unknown; looking the payment up");
                self.resolve(attempt, true).await
            }
            Err(e @ (ProviderError::Rejected { .. } | ProviderError::InvalidInput(_))) => {
                // Definitive: nothing was charged, and retrying will not help.
                let (code, message) = match &e {
                    ProviderError::Rejected { code, message } => (code.clone(), message.clone()),
                    other => ("invalid_request".to_string(), other.to_string()),
                };
                self.store
                    .fail_attempt(&attempt.id, None, &code, &message, self.now_ms())
                    .await?;
                Err(Error::from(e))
            }
            Err(e) => Err(Error::from(e)),
        }
    }
}

fn amount_mismatch(expected: i64, got: i64) -> Error {
    Error::rejected(
        ErrorCode::AmountMismatch,
        format!("amount must be the hold's amount {expected} KRW, got {got}"),
    )
}

/// The confirm of an attempt; the same request every time, so that the
/// provider answers a retry with the first answer.
pub(super) fn charge_request(attempt: &PaymentRecord) -> ChargeRequest {
    ChargeRequest {
        payment_key: attempt.payment_key.clone(),
        order_id: attempt.reservation_id.clone(),
        amount_krw: attempt.amount_krw,
    }
}

impl Payments {
    /// Records that the provider will not charge this attempt, and answers
    /// the buyer so: 402 with the provider's code.
    pub(super) async fn decline(
        &self,
        attempt: &PaymentRecord,
        provider_status: Option<&str>,
        code: String,
        message: String,
    ) -> Result<PayOutcome> {
        self.store
            .fail_attempt(&attempt.id, provider_status, &code, &message, self.now_ms())
            .await?;
        Err(Error::PaymentDeclined {
            provider_code: code,
            message,
        })
    }
}

pub(super) fn declined(attempt: &PaymentRecord) -> Error {
    Error::PaymentDeclined {
        provider_code: attempt
            .failure_code
            .clone()
            .unwrap_or_else(|| "payment_failed".into()),
        message: attempt
            .failure_message
            .clone()
            .unwrap_or_else(|| "the payment was not charged".into()),
    }
}

pub(super) fn refunded(done: bool) -> Error {
    Error::rejected(
        ErrorCode::PaymentRefunded,
        if done {
            "the payment went through after the seats were lost, and was refunded in full"
        } else {
            "the payment went through after the seats were lost; a full refund is under way"
        },
    )
}
