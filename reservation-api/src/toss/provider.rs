//! Toss as a [`PaymentProvider`]: the port's requests become Toss's JSON,
//! Toss's `Payment` becomes a [`Charge`], and Toss's errors become the
//! port's. Everything Toss-specific the payment flow used to know (status
//! spellings, idempotency keys, `ABORTED` after a decline) is decided here.

use crate::payments::provider::{
    BoxFuture, Charge, ChargeFailure, ChargeRefund, ChargeRequest, ChargeStatus, Outcome,
    PaymentProvider, ProviderError, RefundRequest,
};

use super::client::TossClient;
use super::error::TossError;
use super::idempotency::IdempotencyKey;
use super::model::{CancelRequest, ConfirmRequest, Payment, PaymentStatus};
use super::outcome::PaymentOutcome;

/// The name recorded with every payment made through Toss.
pub const PROVIDER_NAME: &str = "toss";

impl PaymentProvider for TossClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn confirm<'a>(
        &'a self,
        req: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>> {
        Box::pin(async move {
            let toss = ConfirmRequest {
                payment_key: req.payment_key.clone(),
                order_id: req.order_id.clone(),
                amount: req.amount_krw,
            };
            let outcome = self.confirm_payment(&toss).await?;
            Ok(outcome_of(outcome, Some(PaymentStatus::Aborted)))
        })
    }

    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>> {
        Box::pin(async move {
            let toss = CancelRequest {
                cancel_reason: req.reason.clone(),
                cancel_amount: req.amount_krw,
            };
            let key = IdempotencyKey::cancel(&req.order_id, &req.refund_id);
            let outcome = self.cancel_payment(&req.payment_key, &toss, &key).await?;
            Ok(outcome_of(outcome, None))
        })
    }

    fn charge_by_key<'a>(
        &'a self,
        payment_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>> {
        Box::pin(async move { Ok(self.payment_by_key(payment_key).await?.map(charge_of)) })
    }

    fn charge_of_order<'a>(
        &'a self,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>> {
        Box::pin(async move { Ok(self.payment_by_order(order_id).await?.map(charge_of)) })
    }
}

/// `declined_status`: what Toss has recorded once it declined the call
/// (`ABORTED` after a confirm; nothing new after a cancel).
fn outcome_of(outcome: PaymentOutcome, declined_status: Option<PaymentStatus>) -> Outcome {
    match outcome {
        PaymentOutcome::Done(payment) => Outcome::Done(charge_of(payment)),
        PaymentOutcome::Declined { code, message } => Outcome::Declined {
            code,
            message,
            provider_status: declined_status.map(status_spelling),
        },
        PaymentOutcome::Unknown(reason) => Outcome::Unknown(reason.to_string()),
    }
}

/// Toss's `Payment` in the port's words.
pub fn charge_of(payment: Payment) -> Charge {
    let refunds = payment
        .cancels()
        .iter()
        .map(|c| ChargeRefund {
            amount_krw: c.cancel_amount,
            reason: c.cancel_reason.clone(),
        })
        .collect();
    Charge {
        status: charge_status(payment.status),
        provider_status: status_spelling(payment.status),
        approved_at_ms: payment.approved_at.map(unix_ms),
        amount_krw: payment.total_amount,
        refunds,
        failure: payment.failure.map(|f| ChargeFailure {
            code: f.code,
            message: f.message,
        }),
        payment_key: payment.payment_key,
        order_id: payment.order_id,
    }
}

fn charge_status(status: PaymentStatus) -> ChargeStatus {
    match status {
        PaymentStatus::Ready => ChargeStatus::Ready,
        PaymentStatus::InProgress | PaymentStatus::WaitingForDeposit => ChargeStatus::InProgress,
        PaymentStatus::Done => ChargeStatus::Charged,
        PaymentStatus::PartialCanceled => ChargeStatus::PartlyRefunded,
        PaymentStatus::Canceled => ChargeStatus::Refunded,
        PaymentStatus::Aborted => ChargeStatus::Aborted,
        PaymentStatus::Expired => ChargeStatus::Expired,
        PaymentStatus::Other => ChargeStatus::Other,
    }
}

/// Toss's spelling of a status (`DONE`), as stored in `provider_status`.
fn status_spelling(status: PaymentStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "OTHER".into())
}

fn unix_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl From<TossError> for ProviderError {
    fn from(e: TossError) -> Self {
        match e {
            TossError::Rejected { code, message, .. } => ProviderError::Rejected { code, message },
            TossError::Unavailable(reason) => ProviderError::Unavailable(reason.to_string()),
            TossError::InvalidInput(message) => ProviderError::InvalidInput(message),
            other @ (TossError::Config(_) | TossError::SandboxBind { .. }) => {
                ProviderError::InvalidInput(other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toss::model::{Cancel, Failure};
    use time::OffsetDateTime;

    fn payment(status: PaymentStatus) -> Payment {
        Payment {
            payment_key: "pk".into(),
            order_id: "order-1".into(),
            status,
            total_amount: 15_000,
            balance_amount: 5_000,
            currency: Some("KRW".into()),
            method: None,
            requested_at: OffsetDateTime::UNIX_EPOCH,
            approved_at: Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(2)),
            cancels: Some(vec![Cancel {
                cancel_amount: 10_000,
                cancel_reason: "ticketon refund r1".into(),
                canceled_at: OffsetDateTime::UNIX_EPOCH,
                transaction_key: None,
                refundable_amount: Some(5_000),
            }]),
            failure: None,
        }
    }

    #[test]
    fn every_toss_status_has_its_charge_status_and_spelling() {
        let table = [
            (PaymentStatus::Ready, ChargeStatus::Ready, "READY"),
            (
                PaymentStatus::InProgress,
                ChargeStatus::InProgress,
                "IN_PROGRESS",
            ),
            (
                PaymentStatus::WaitingForDeposit,
                ChargeStatus::InProgress,
                "WAITING_FOR_DEPOSIT",
            ),
            (PaymentStatus::Done, ChargeStatus::Charged, "DONE"),
            (
                PaymentStatus::PartialCanceled,
                ChargeStatus::PartlyRefunded,
                "PARTIAL_CANCELED",
            ),
            (PaymentStatus::Canceled, ChargeStatus::Refunded, "CANCELED"),
            (PaymentStatus::Aborted, ChargeStatus::Aborted, "ABORTED"),
            (PaymentStatus::Expired, ChargeStatus::Expired, "EXPIRED"),
        ];
        for (toss, charge, spelling) in table {
            let c = charge_of(payment(toss));
            assert_eq!((c.status, c.provider_status.as_str()), (charge, spelling));
        }
    }

    #[test]
    fn a_payment_keeps_its_amount_approval_refunds_and_failure() {
        let mut p = payment(PaymentStatus::Aborted);
        p.failure = Some(Failure {
            code: "REJECT_CARD_PAYMENT".into(),
            message: "no".into(),
        });
        let c = charge_of(p);
        assert_eq!(c.amount_krw, 15_000);
        assert_eq!(c.approved_at_ms, Some(2_000));
        assert_eq!(
            c.refunds,
            vec![ChargeRefund {
                amount_krw: 10_000,
                reason: "ticketon refund r1".into()
            }]
        );
        assert_eq!(c.failure.unwrap().code, "REJECT_CARD_PAYMENT");
    }

    #[test]
    fn a_declined_confirm_records_aborted_and_a_declined_cancel_nothing() {
        let declined = || PaymentOutcome::Declined {
            code: "REJECT_CARD_PAYMENT".into(),
            message: "no".into(),
        };
        assert!(matches!(
            outcome_of(declined(), Some(PaymentStatus::Aborted)),
            Outcome::Declined { provider_status: Some(s), .. } if s == "ABORTED"
        ));
        assert!(matches!(
            outcome_of(declined(), None),
            Outcome::Declined {
                provider_status: None,
                ..
            }
        ));
    }
}
