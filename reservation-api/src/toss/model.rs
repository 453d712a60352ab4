//! The JSON shapes of the Toss Payments v1 API that Ticketon reads and writes.
//!
//! They follow Toss's `Payment` object closely enough that the same structs
//! parse a real Toss answer and are what the sandbox serves: camelCase
//! fields, `null` (not `[]`) for a payment without cancels, RFC 3339 times
//! with an offset (Toss answers in `+09:00`). Fields Ticketon does not use
//! are simply not declared; serde ignores them in real Toss answers.
//!
//! Money is integer KRW (`i64`), as everywhere in Ticketon.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Toss's payment status. `Other` keeps a status added by Toss later from
/// failing the whole answer; callers treat it like any status they do not
/// expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Created by the widget step, not yet confirmed: no money moved.
    Ready,
    InProgress,
    WaitingForDeposit,
    /// Confirmed: the buyer was charged `totalAmount`.
    Done,
    /// Fully refunded.
    Canceled,
    /// Partly refunded: `balanceAmount` is what is still charged.
    PartialCanceled,
    /// Confirmation failed (e.g. the card was declined): no money moved.
    Aborted,
    /// The payment session ran out before confirmation: no money moved.
    Expired,
    #[serde(other)]
    Other,
}

impl PaymentStatus {
    /// True when the buyer holds a charge for this payment (possibly partly
    /// refunded). This is the question the reconciliation after an unknown
    /// outcome asks.
    pub fn is_charged(self) -> bool {
        matches!(self, PaymentStatus::Done | PaymentStatus::PartialCanceled)
    }
}

/// One refund of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub cancel_amount: i64,
    pub cancel_reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub canceled_at: OffsetDateTime,
    #[serde(default)]
    pub transaction_key: Option<String>,
    /// What could still be refunded after this cancel.
    #[serde(default)]
    pub refundable_amount: Option<i64>,
}

/// Why a confirmation failed, as Toss records it on an ABORTED payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// Toss's v1 `Payment` object (the subset Ticketon uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    /// Ticketon's reservationId.
    pub order_id: String,
    pub status: PaymentStatus,
    /// What the buyer was (or will be) charged, in KRW.
    pub total_amount: i64,
    /// `totalAmount` minus everything refunded so far.
    pub balance_amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    /// Toss answers a human label such as "카드"; `None` before confirmation.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
    /// `None` (JSON `null`) until the first refund, like Toss.
    #[serde(default)]
    pub cancels: Option<Vec<Cancel>>,
    #[serde(default)]
    pub failure: Option<Failure>,
}

impl Payment {
    /// The refunds, oldest first (empty when there are none).
    pub fn cancels(&self) -> &[Cancel] {
        self.cancels.as_deref().unwrap_or(&[])
    }
}

/// Body of `POST /v1/payments/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub payment_key: String,
    /// Ticketon's reservationId.
    pub order_id: String,
    /// The amount Ticketon expects to charge; Toss refuses a mismatch.
    pub amount: i64,
}

/// Body of `POST /v1/payments/{paymentKey}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub cancel_reason: String,
    /// `None` refunds the whole remaining balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_amount: Option<i64>,
}

/// Toss's error body: `{"code":"REJECT_CARD_PAYMENT","message":"..."}`.
///
/// Not Ticketon's `ErrorBody`: this is the shape Toss speaks, and the
/// sandbox must speak it too for the client to be tested against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TossErrorBody {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_toss_shaped_payment_with_extra_fields() {
        let json = r#"{
            "mId": "tosspayments", "version": "2022-11-16",
            "paymentKey": "pk1", "orderId": "res-000001", "status": "PARTIAL_CANCELED",
            "totalAmount": 15000, "balanceAmount": 5000, "currency": "KRW", "method": "카드",
            "requestedAt": "2024-02-13T12:17:57+09:00", "approvedAt": "2024-02-13T12:18:14+09:00",
            "cancels": [{"cancelAmount": 10000, "cancelReason": "seat change",
                         "canceledAt": "2024-02-13T12:20:23+09:00", "transactionKey": "tk",
                         "refundableAmount": 5000, "cancelStatus": "DONE"}],
            "failure": null, "card": {"amount": 15000}
        }"#;
        let p: Payment = serde_json::from_str(json).unwrap();
        assert_eq!(p.status, PaymentStatus::PartialCanceled);
        assert_eq!(p.balance_amount, 5000);
        assert_eq!(p.cancels().len(), 1);
        assert_eq!(p.cancels()[0].cancel_amount, 10000);
        assert!(p.approved_at.is_some());
        assert!(p.status.is_charged());
    }

    #[test]
    fn ready_payment_has_null_cancels_and_no_approval() {
        let json = r#"{"paymentKey":"pk","orderId":"o-123456","status":"READY",
            "totalAmount":1000,"balanceAmount":1000,"requestedAt":"2024-02-13T12:17:57+09:00",
            "approvedAt":null,"cancels":null}"#;
        let p: Payment = serde_json::from_str(json).unwrap();
        assert!(p.cancels().is_empty());
        assert_eq!(p.approved_at, None);
        assert!(!p.status.is_charged());
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["cancels"], serde_json::Value::Null);
        assert_eq!(back["requestedAt"], "2024-02-13T12:17:57+09:00");
    }

    #[test]
    fn an_unknown_status_does_not_fail_the_answer() {
        let json = r#"{"paymentKey":"pk","orderId":"o-123456","status":"SOMETHING_NEW",
            "totalAmount":1,"balanceAmount":1,"requestedAt":"2024-02-13T12:17:57+09:00"}"#;
        let p: Payment = serde_json::from_str(json).unwrap();
        assert_eq!(p.status, PaymentStatus::Other);
    }

    #[test]
    fn full_cancel_request_omits_the_amount() {
        let full = CancelRequest {
            cancel_reason: "r".into(),
            cancel_amount: None,
        };
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"cancelReason":"r"}"#
        );
    }
}
