//! The sandbox's in-memory payments and their state machine, without IO:
//! READY → DONE / ABORTED / EXPIRED, DONE → PARTIAL_CANCELED → CANCELED.
//!
//! The rules mirror what Toss answers, because the client's outcome table
//! is only as good as the answers it is tested against: confirming twice is
//! `ALREADY_PROCESSED_PAYMENT`, a wrong amount is refused and charges
//! nothing, a refund above the balance is `NOT_CANCELABLE_AMOUNT`.
//! Time is passed in, so the session expiry is testable without sleeping.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use super::test_code::{FailMode, InjectedError};
use crate::toss::model::{Cancel, CancelRequest, ConfirmRequest, Failure, Payment, PaymentStatus};

/// A Toss error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_REQUEST", message)
    }
}

impl From<InjectedError> for ApiError {
    fn from(e: InjectedError) -> Self {
        ApiError::new(e.status, e.code, e.message)
    }
}

/// Toss's method label for card payments (Toss answers in Korean).
const CARD_METHOD: &str = "카드";
const MAX_CANCEL_REASON_CHARS: usize = 200;

struct Entry {
    payment: Payment,
    /// One-shot failure for the first confirm of this payment.
    fail_with: Option<FailMode>,
}

pub(super) struct Ledger {
    payments: HashMap<String, Entry>,
    /// orderId → paymentKeys, oldest first: an order may see several widget
    /// sessions before one is confirmed.
    orders: HashMap<String, Vec<String>>,
    session_ttl: Duration,
    transactions: u64,
}

/// What the sandbox holds in total: the figures a sale's money check
/// compares with the tickets sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LedgerTotals {
    /// Payments created (every status).
    pub payments: u64,
    /// Payments ever confirmed (DONE, then maybe refunded).
    pub captured_payments: u64,
    /// What those confirmations charged, in KRW.
    pub captured_krw: i64,
    /// Everything refunded since, in KRW.
    pub refunded_krw: i64,
}

impl Ledger {
    /// The totals over every payment.
    pub(super) fn totals(&self) -> LedgerTotals {
        let mut totals = LedgerTotals::default();
        for entry in self.payments.values() {
            let p = &entry.payment;
            totals.payments += 1;
            if matches!(
                p.status,
                PaymentStatus::Done | PaymentStatus::PartialCanceled | PaymentStatus::Canceled
            ) {
                totals.captured_payments += 1;
                totals.captured_krw += p.total_amount;
                totals.refunded_krw += p.cancels().iter().map(|c| c.cancel_amount).sum::<i64>();
            }
        }
        totals
    }

    /// `session_ttl`: how long a READY payment can still be confirmed.
    pub(super) fn new(session_ttl: Duration) -> Self {
        Ledger {
            payments: HashMap::new(),
            orders: HashMap::new(),
            session_ttl,
            transactions: 0,
        }
    }

    /// The widget step: a READY payment for `order_id`.
    pub(super) fn create(
        &mut self,
        payment_key: String,
        order_id: &str,
        amount: i64,
        fail_with: Option<FailMode>,
        now: OffsetDateTime,
    ) -> Result<Payment, ApiError> {
        validate_order_id(order_id)?;
        if amount <= 0 {
            return Err(ApiError::new(
                400,
                "BELOW_MINIMUM_AMOUNT",
                "The amount must be positive.",
            ));
        }
        if self.order_is_settled(order_id) {
            return Err(ApiError::new(
                400,
                "DUPLICATED_ORDER_ID",
                "This orderId was already approved or canceled; use another orderId.",
            ));
        }
        let payment = Payment {
            payment_key: payment_key.clone(),
            order_id: order_id.to_string(),
            status: PaymentStatus::Ready,
            total_amount: amount,
            balance_amount: amount,
            currency: Some("KRW".into()),
            method: None,
            requested_at: now,
            approved_at: None,
            cancels: None,
            failure: None,
        };
        self.orders
            .entry(order_id.to_string())
            .or_default()
            .push(payment_key.clone());
        self.payments.insert(
            payment_key,
            Entry {
                payment: payment.clone(),
                fail_with,
            },
        );
        Ok(payment)
    }

    pub(super) fn get(&self, payment_key: &str) -> Option<&Payment> {
        self.payments.get(payment_key).map(|e| &e.payment)
    }

    /// The payment of an order: the one that was confirmed if any, else the
    /// latest attempt.
    pub(super) fn get_by_order(&self, order_id: &str) -> Option<&Payment> {
        let keys = self.orders.get(order_id)?;
        let mut attempts = keys.iter().filter_map(|k| self.get(k));
        attempts
            .clone()
            .find(|p| p.approved_at.is_some())
            .or_else(|| attempts.next_back())
    }

    /// Takes the one-shot `failWith` of a payment.
    pub(super) fn take_fail_with(&mut self, payment_key: &str) -> Option<FailMode> {
        self.payments.get_mut(payment_key)?.fail_with.take()
    }

    pub(super) fn confirm(
        &mut self,
        req: &ConfirmRequest,
        now: OffsetDateTime,
    ) -> Result<Payment, ApiError> {
        let settled_elsewhere = self.order_is_settled(&req.order_id);
        let ttl = self.session_ttl;
        let entry = self.payments.get_mut(&req.payment_key).ok_or_else(|| {
            ApiError::new(
                404,
                "NOT_FOUND_PAYMENT_SESSION",
                "No payment session exists for this paymentKey.",
            )
        })?;
        let p = &mut entry.payment;
        if p.order_id != req.order_id {
            return Err(ApiError::invalid_request(format!(
                "orderId {} does not belong to this paymentKey.",
                req.order_id
            )));
        }
        if p.status != PaymentStatus::Ready {
            return Err(ApiError::new(
                400,
                "ALREADY_PROCESSED_PAYMENT",
                "This is a payment that has already been processed.",
            ));
        }
        if settled_elsewhere {
            return Err(ApiError::new(
                400,
                "DUPLICATED_ORDER_ID",
                "This orderId was already approved with another paymentKey.",
            ));
        }
        if now - p.requested_at > ttl {
            p.status = PaymentStatus::Expired;
            return Err(ApiError::new(
                404,
                "NOT_FOUND_PAYMENT_SESSION",
                "The payment session has expired.",
            ));
        }
        // The published error table has no dedicated amount-mismatch code;
        // the sandbox answers INVALID_REQUEST and charges nothing.
        if req.amount != p.total_amount {
            return Err(ApiError::invalid_request(format!(
                "The amount {} does not match the payment amount {}.",
                req.amount, p.total_amount
            )));
        }
        p.status = PaymentStatus::Done;
        p.method = Some(CARD_METHOD.into());
        p.approved_at = Some(now);
        Ok(p.clone())
    }

    /// Records a refused confirmation the way Toss does: a decline aborts
    /// the payment (with the reason in `failure`), an expired session
    /// expires it. Errors that leave the payment untouched change nothing.
    pub(super) fn fail_confirm(&mut self, payment_key: &str, error: &InjectedError) {
        let Some(entry) = self.payments.get_mut(payment_key) else {
            return;
        };
        let p = &mut entry.payment;
        if p.status != PaymentStatus::Ready || error.leaves_payment_untouched() {
            return;
        }
        if error.code == "NOT_FOUND_PAYMENT_SESSION" {
            p.status = PaymentStatus::Expired;
        } else {
            p.status = PaymentStatus::Aborted;
            p.failure = Some(Failure {
                code: error.code.to_string(),
                message: error.message.to_string(),
            });
        }
    }

    pub(super) fn cancel(
        &mut self,
        payment_key: &str,
        req: &CancelRequest,
        now: OffsetDateTime,
    ) -> Result<Payment, ApiError> {
        let reason = req.cancel_reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_CANCEL_REASON_CHARS {
            return Err(ApiError::invalid_request(format!(
                "cancelReason must be 1..={MAX_CANCEL_REASON_CHARS} characters."
            )));
        }
        if req.cancel_amount.is_some_and(|a| a <= 0) {
            return Err(ApiError::invalid_request("cancelAmount must be positive."));
        }
        self.transactions += 1;
        let transaction = self.transactions;
        let entry = self.payments.get_mut(payment_key).ok_or_else(|| {
            ApiError::new(404, "NOT_FOUND_PAYMENT", "The payment does not exist.")
        })?;
        let p = &mut entry.payment;
        match p.status {
            PaymentStatus::Done | PaymentStatus::PartialCanceled => {}
            PaymentStatus::Canceled => {
                return Err(ApiError::new(
                    400,
                    "ALREADY_CANCELED_PAYMENT",
                    "This payment has already been canceled.",
                ))
            }
            _ => {
                return Err(ApiError::new(
                    403,
                    "NOT_CANCELABLE_PAYMENT",
                    "This payment cannot be canceled.",
                ))
            }
        }
        let amount = req.cancel_amount.unwrap_or(p.balance_amount);
        if amount > p.balance_amount {
            return Err(ApiError::new(
                403,
                "NOT_CANCELABLE_AMOUNT",
                format!(
                    "The cancel amount {amount} exceeds the cancelable balance {}.",
                    p.balance_amount
                ),
            ));
        }
        p.balance_amount -= amount;
        p.status = if p.balance_amount == 0 {
            PaymentStatus::Canceled
        } else {
            PaymentStatus::PartialCanceled
        };
        p.cancels.get_or_insert_with(Vec::new).push(Cancel {
            cancel_amount: amount,
            cancel_reason: reason.to_string(),
            canceled_at: now,
            transaction_key: Some(format!("{}-tx{transaction}", p.payment_key)),
            refundable_amount: Some(p.balance_amount),
        });
        Ok(p.clone())
    }

    /// An order is settled once one of its payments was approved; it then
    /// takes no new widget session and no second confirmation.
    fn order_is_settled(&self, order_id: &str) -> bool {
        self.orders.get(order_id).is_some_and(|keys| {
            keys.iter()
                .filter_map(|k| self.get(k))
                .any(|p| p.approved_at.is_some())
        })
    }
}

/// Toss's orderId rule: 6 to 64 characters of `[A-Za-z0-9_-]`.
fn validate_order_id(order_id: &str) -> Result<(), ApiError> {
    let ok_len = (6..=64).contains(&order_id.len());
    let ok_chars = order_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(ApiError::invalid_request(
            "orderId must be 6 to 64 characters of letters, digits, '-' and '_'.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-01-01 12:00 +09:00);

    fn ledger_with(amount: i64) -> Ledger {
        let mut l = Ledger::new(Duration::minutes(10));
        l.create("pk1".into(), "order-1", amount, None, T0).unwrap();
        l
    }

    fn confirm_req(amount: i64) -> ConfirmRequest {
        ConfirmRequest {
            payment_key: "pk1".into(),
            order_id: "order-1".into(),
            amount,
        }
    }

    fn cancel_req(amount: Option<i64>) -> CancelRequest {
        CancelRequest {
            cancel_reason: "buyer asked".into(),
            cancel_amount: amount,
        }
    }

    #[test]
    fn totals_count_what_was_captured_and_refunded() {
        let mut l = ledger_with(30_000);
        l.confirm(&confirm_req(30_000), T0).unwrap();
        l.cancel("pk1", &cancel_req(Some(10_000)), T0).unwrap();
        l.create("pk2".into(), "order-2", 5_000, None, T0).unwrap();
        assert_eq!(
            l.totals(),
            LedgerTotals {
                payments: 2,
                captured_payments: 1,
                captured_krw: 30_000,
                refunded_krw: 10_000,
            }
        );
    }

    #[test]
    fn confirm_charges_once() {
        let mut l = ledger_with(10_000);
        let p = l.confirm(&confirm_req(10_000), T0).unwrap();
        assert_eq!(p.status, PaymentStatus::Done);
        assert_eq!(p.approved_at, Some(T0));
        assert_eq!(p.balance_amount, 10_000);
        let again = l.confirm(&confirm_req(10_000), T0).unwrap_err();
        assert_eq!(again.code, "ALREADY_PROCESSED_PAYMENT");
        assert_eq!(again.status, 400);
    }

    #[test]
    fn a_wrong_amount_is_refused_and_charges_nothing() {
        let mut l = ledger_with(10_000);
        let err = l.confirm(&confirm_req(9_000), T0).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "INVALID_REQUEST"));
        assert_eq!(l.get("pk1").unwrap().status, PaymentStatus::Ready);
        assert!(l.confirm(&confirm_req(10_000), T0).is_ok());
    }

    #[test]
    fn an_old_session_expires() {
        let mut l = ledger_with(10_000);
        let late = T0 + Duration::minutes(11);
        let err = l.confirm(&confirm_req(10_000), late).unwrap_err();
        assert_eq!(err.code, "NOT_FOUND_PAYMENT_SESSION");
        assert_eq!(l.get("pk1").unwrap().status, PaymentStatus::Expired);
    }

    #[test]
    fn partial_cancels_then_full_cancel() {
        let mut l = ledger_with(10_000);
        l.confirm(&confirm_req(10_000), T0).unwrap();
        let p = l.cancel("pk1", &cancel_req(Some(3_000)), T0).unwrap();
        assert_eq!(p.status, PaymentStatus::PartialCanceled);
        assert_eq!(p.balance_amount, 7_000);
        let too_much = l.cancel("pk1", &cancel_req(Some(7_001)), T0).unwrap_err();
        assert_eq!(
            (too_much.status, too_much.code.as_str()),
            (403, "NOT_CANCELABLE_AMOUNT")
        );
        let p = l.cancel("pk1", &cancel_req(None), T0).unwrap();
        assert_eq!(p.status, PaymentStatus::Canceled);
        assert_eq!(p.balance_amount, 0);
        assert_eq!(
            p.cancels()
                .iter()
                .map(|c| c.cancel_amount)
                .collect::<Vec<_>>(),
            vec![3_000, 7_000]
        );
        let again = l.cancel("pk1", &cancel_req(None), T0).unwrap_err();
        assert_eq!(again.code, "ALREADY_CANCELED_PAYMENT");
    }

    #[test]
    fn unconfirmed_payments_cannot_be_canceled() {
        let mut l = ledger_with(10_000);
        let err = l.cancel("pk1", &cancel_req(None), T0).unwrap_err();
        assert_eq!(err.code, "NOT_CANCELABLE_PAYMENT");
        let err = l.cancel("nope", &cancel_req(None), T0).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (404, "NOT_FOUND_PAYMENT"));
    }

    #[test]
    fn bad_cancel_inputs_are_invalid_requests() {
        let mut l = ledger_with(10_000);
        l.confirm(&confirm_req(10_000), T0).unwrap();
        for req in [
            cancel_req(Some(0)),
            cancel_req(Some(-5)),
            CancelRequest {
                cancel_reason: " ".into(),
                cancel_amount: None,
            },
        ] {
            assert_eq!(
                l.cancel("pk1", &req, T0).unwrap_err().code,
                "INVALID_REQUEST"
            );
        }
        assert_eq!(l.get("pk1").unwrap().balance_amount, 10_000);
    }

    #[test]
    fn a_decline_aborts_and_a_provider_error_does_not() {
        let mut l = ledger_with(10_000);
        let Some(FailMode::Error(provider)) = FailMode::parse("PROVIDER_ERROR") else {
            panic!()
        };
        l.fail_confirm("pk1", &provider);
        assert_eq!(l.get("pk1").unwrap().status, PaymentStatus::Ready);
        let Some(FailMode::Error(reject)) = FailMode::parse("REJECT_CARD_PAYMENT") else {
            panic!()
        };
        l.fail_confirm("pk1", &reject);
        let p = l.get("pk1").unwrap();
        assert_eq!(p.status, PaymentStatus::Aborted);
        assert_eq!(p.failure.as_ref().unwrap().code, "REJECT_CARD_PAYMENT");
    }

    #[test]
    fn an_order_lookup_prefers_the_confirmed_attempt() {
        let mut l = ledger_with(10_000);
        l.create("pk2".into(), "order-1", 10_000, None, T0).unwrap();
        assert_eq!(l.get_by_order("order-1").unwrap().payment_key, "pk2");
        l.confirm(&confirm_req(10_000), T0).unwrap();
        assert_eq!(l.get_by_order("order-1").unwrap().payment_key, "pk1");
        // Once settled, the order takes neither a new session nor a second charge.
        let second = ConfirmRequest {
            payment_key: "pk2".into(),
            order_id: "order-1".into(),
            amount: 10_000,
        };
        assert_eq!(
            l.confirm(&second, T0).unwrap_err().code,
            "DUPLICATED_ORDER_ID"
        );
        assert_eq!(
            l.create("pk3".into(), "order-1", 10_000, None, T0)
                .unwrap_err()
                .code,
            "DUPLICATED_ORDER_ID"
        );
        assert!(l.get_by_order("order-9").is_none());
    }

    #[test]
    fn creation_validates_order_id_and_amount() {
        let mut l = Ledger::new(Duration::minutes(10));
        assert!(l.create("a".into(), "short", 1000, None, T0).is_err());
        assert!(l.create("b".into(), "has space!", 1000, None, T0).is_err());
        assert!(l.create("c".into(), "order-ok", 0, None, T0).is_err());
        assert!(l.create("d".into(), "order-ok", 1000, None, T0).is_ok());
    }

    #[test]
    fn fail_with_is_one_shot() {
        let mut l = Ledger::new(Duration::minutes(10));
        l.create("pk".into(), "order-1", 1000, Some(FailMode::Timeout), T0)
            .unwrap();
        assert_eq!(l.take_fail_with("pk"), Some(FailMode::Timeout));
        assert_eq!(l.take_fail_with("pk"), None);
    }
}
