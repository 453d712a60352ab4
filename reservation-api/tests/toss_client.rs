//! The real Toss client against the sandbox over a loopback socket: every
//! operation, and every failure mode mapped to the outcome the payment flow
//! must see. The recurring check after an unknown outcome is the one the
//! flow will make: look the payment up by orderId and trust what it says.

use std::sync::Arc;
use std::time::Duration;

use reservation_api::payments::provider::{
    ChargeRequest, ChargeStatus, Outcome, PaymentProvider, RefundRequest,
};
use reservation_api::toss::sandbox::{
    self, create_payment, FailMode, SandboxConfig, SandboxHandle,
};
use reservation_api::toss::{
    CancelRequest, ConfirmRequest, IdempotencyKey, PaymentOutcome, PaymentStatus, TossClient,
    TossError, UnknownReason,
};

const SECRET: &str = "test_sk_client_tests";
const AMOUNT: i64 = 55_000;

/// A sandbox whose timeout switches stay silent far longer than the
/// client's request timeout, so a simulated timeout is always one.
async fn sandbox() -> SandboxHandle {
    let config = SandboxConfig {
        secret_key: SECRET.into(),
        timeout_sleep: Duration::from_secs(30),
        ..SandboxConfig::default()
    };
    sandbox::spawn("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// A client with a generous timeout, so that a slow, loaded machine never
/// turns an ordinary call into a timeout.
fn client(sb: &SandboxHandle) -> TossClient {
    client_with(sb, SECRET, Duration::from_secs(10))
}

fn client_with_key(sb: &SandboxHandle, key: &str) -> TossClient {
    client_with(sb, key, Duration::from_secs(10))
}

/// A client for the calls that are meant to time out (the sandbox stays
/// silent for 30 s).
fn impatient(sb: &SandboxHandle) -> TossClient {
    client_with(sb, SECRET, Duration::from_millis(300))
}

fn client_with(sb: &SandboxHandle, key: &str, request_timeout: Duration) -> TossClient {
    TossClient::new(&sb.base_url(), key, Duration::from_secs(2), request_timeout).unwrap()
}

fn order(tag: &str) -> String {
    format!("res-{tag}-{}", uuid::Uuid::new_v4().simple())
}

async fn new_payment(sb: &SandboxHandle, order_id: &str, fail_with: Option<&str>) -> String {
    let mode = fail_with.map(|c| FailMode::parse(c).expect("known test code"));
    create_payment(&sb.base_url(), order_id, AMOUNT, mode)
        .await
        .unwrap()
}

fn confirm_req(payment_key: &str, order_id: &str) -> ConfirmRequest {
    ConfirmRequest {
        payment_key: payment_key.into(),
        order_id: order_id.into(),
        amount: AMOUNT,
    }
}

fn refund(amount: Option<i64>) -> CancelRequest {
    CancelRequest {
        cancel_reason: "buyer changed their mind".into(),
        cancel_amount: amount,
    }
}

async fn status_of_order(c: &TossClient, order_id: &str) -> PaymentStatus {
    c.payment_by_order(order_id).await.unwrap().unwrap().status
}

fn expect_done(outcome: PaymentOutcome) -> reservation_api::toss::Payment {
    match outcome {
        PaymentOutcome::Done(p) => p,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn expect_unknown(outcome: PaymentOutcome) -> UnknownReason {
    match outcome {
        PaymentOutcome::Unknown(r) => r,
        other => panic!("expected Unknown, got {other:?}"),
    }
}

// ----- the happy path -----

#[tokio::test]
async fn confirm_charges_and_both_lookups_find_the_payment() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("ok");
    let key = new_payment(&sb, &order_id, None).await;

    let before = c.payment_by_key(&key).await.unwrap().unwrap();
    assert_eq!(before.status, PaymentStatus::Ready);
    assert_eq!(before.approved_at, None);

    let p = expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(p.status, PaymentStatus::Done);
    assert_eq!((p.total_amount, p.balance_amount), (AMOUNT, AMOUNT));
    assert_eq!(p.order_id, order_id);
    assert!(p.approved_at.is_some());
    assert!(p.method.is_some());

    assert_eq!(c.payment_by_key(&key).await.unwrap(), Some(p.clone()));
    assert_eq!(c.payment_by_order(&order_id).await.unwrap(), Some(p));
}

#[tokio::test]
async fn lookups_of_unknown_payments_are_none() {
    let sb = sandbox().await;
    let c = client(&sb);
    assert_eq!(c.payment_by_key("tsbx_nope").await.unwrap(), None);
    assert_eq!(c.payment_by_order(&order("none")).await.unwrap(), None);
}

#[tokio::test]
async fn a_retried_confirm_replays_the_first_answer_instead_of_failing() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("retry");
    let key = new_payment(&sb, &order_id, None).await;
    let first = expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    let second = expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(first, second);
}

#[tokio::test]
async fn toss_works_as_the_payment_port() {
    let sb = sandbox().await;
    let provider: Arc<dyn PaymentProvider> = Arc::new(client(&sb));
    assert_eq!(provider.name(), "toss");
    let order_id = order("dyn");
    let key = new_payment(&sb, &order_id, None).await;
    let req = ChargeRequest {
        payment_key: key.clone(),
        order_id: order_id.clone(),
        amount_krw: AMOUNT,
    };
    let Outcome::Done(charge) = provider.confirm(&req).await.unwrap() else {
        panic!("the confirm was not done");
    };
    assert_eq!(
        (charge.status, charge.provider_status.as_str()),
        (ChargeStatus::Charged, "DONE")
    );
    assert_eq!(charge.amount_krw, AMOUNT);
    assert!(charge.approved_at_ms.is_some());
    assert_eq!(
        provider.charge_of_order(&order_id).await.unwrap(),
        Some(charge.clone())
    );

    let refund = RefundRequest {
        payment_key: key.clone(),
        order_id: order_id.clone(),
        refund_id: "r1".into(),
        reason: "ticketon refund r1".into(),
        amount_krw: Some(5_000),
    };
    let Outcome::Done(refunded) = provider.refund(&refund).await.unwrap() else {
        panic!("the refund was not done");
    };
    assert_eq!(refunded.status, ChargeStatus::PartlyRefunded);
    // The same refund id again is the same refund, not a second one.
    let Outcome::Done(again) = provider.refund(&refund).await.unwrap() else {
        panic!("the retried refund was not done");
    };
    assert_eq!(again.refunds.len(), 1);
    assert_eq!(again.refunds[0].reason, "ticketon refund r1");
    assert_eq!(
        provider.charge_by_key(&key).await.unwrap().unwrap().refunds,
        again.refunds
    );
    assert_eq!(provider.charge_by_key("tsbx_nope").await.unwrap(), None);
}

// ----- definitive answers: declined / rejected, nothing charged -----

#[tokio::test]
async fn a_declined_card_is_declined_and_aborts_the_payment() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("decline");
    let key = new_payment(&sb, &order_id, Some("REJECT_CARD_PAYMENT")).await;
    match c
        .confirm_payment(&confirm_req(&key, &order_id))
        .await
        .unwrap()
    {
        PaymentOutcome::Declined { code, .. } => assert_eq!(code, "REJECT_CARD_PAYMENT"),
        other => panic!("expected Declined, got {other:?}"),
    }
    let p = c.payment_by_order(&order_id).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Aborted);
    assert_eq!(p.failure.unwrap().code, "REJECT_CARD_PAYMENT");
    // The retry carries the same key and gets the same decline, not a charge.
    assert!(matches!(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
        PaymentOutcome::Declined { .. }
    ));

    // The buyer tries again in a new widget session: a new key, a new chance.
    let second = new_payment(&sb, &order_id, None).await;
    expect_done(
        c.confirm_payment(&confirm_req(&second, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Done);
}

#[tokio::test]
async fn the_test_code_header_declines_too() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("hdr");
    let key = new_payment(&sb, &order_id, None).await;
    let declining = c.with_test_code("REJECT_CARD_COMPANY").unwrap();
    assert!(matches!(
        declining.confirm_payment(&confirm_req(&key, &order_id)).await.unwrap(),
        PaymentOutcome::Declined { code, .. } if code == "REJECT_CARD_COMPANY"
    ));
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Aborted);
}

#[tokio::test]
async fn an_expired_session_is_declined() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("expired");
    let key = new_payment(&sb, &order_id, Some("NOT_FOUND_PAYMENT_SESSION")).await;
    assert!(matches!(
        c.confirm_payment(&confirm_req(&key, &order_id)).await.unwrap(),
        PaymentOutcome::Declined { code, .. } if code == "NOT_FOUND_PAYMENT_SESSION"
    ));
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Expired);
}

#[tokio::test]
async fn a_wrong_amount_is_rejected_and_charges_nothing() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("amount");
    let key = new_payment(&sb, &order_id, None).await;
    let tampered = ConfirmRequest {
        amount: AMOUNT - 1,
        ..confirm_req(&key, &order_id)
    };
    match c.confirm_payment(&tampered).await {
        Err(TossError::Rejected { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, "INVALID_REQUEST"))
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let p = c.payment_by_order(&order_id).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Ready);
    assert_eq!(p.approved_at, None);
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_everywhere() {
    let sb = sandbox().await;
    let good = client(&sb);
    let bad = client_with_key(&sb, "test_sk_wrong");
    let order_id = order("auth");
    let key = new_payment(&sb, &order_id, None).await;
    let unauthorized = |r: Result<_, TossError>| matches!(r, Err(TossError::Rejected { status: 401, ref code, .. }) if code == "UNAUTHORIZED_KEY");
    assert!(unauthorized(
        bad.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .map(|_| ())
    ));
    assert!(unauthorized(bad.payment_by_key(&key).await.map(|_| ())));
    assert!(unauthorized(
        bad.payment_by_order(&order_id).await.map(|_| ())
    ));
    assert!(unauthorized(
        bad.cancel_payment(
            &key,
            &refund(None),
            &IdempotencyKey::cancel(&order_id, "full")
        )
        .await
        .map(|_| ())
    ));
    // Nothing happened on the bad key's behalf.
    assert_eq!(
        status_of_order(&good, &order_id).await,
        PaymentStatus::Ready
    );
}

// ----- unknown outcomes, and what the lookup then says -----

#[tokio::test]
async fn a_timeout_that_charged_nothing_is_unknown_and_the_lookup_says_ready() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("to-nocharge");
    let key = new_payment(&sb, &order_id, Some(FailMode::TIMEOUT)).await;
    let reason = expect_unknown(
        impatient(&sb)
            .confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(reason, UnknownReason::Timeout);
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Ready);
}

#[tokio::test]
async fn a_timeout_after_charging_is_unknown_and_the_lookup_says_done() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("to-charged");
    let key = new_payment(&sb, &order_id, Some(FailMode::TIMEOUT_AFTER_COMMIT)).await;
    let reason = expect_unknown(
        impatient(&sb)
            .confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(reason, UnknownReason::Timeout);
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Done);
    // A retry gets the answer that was never heard, not a second charge.
    let p = expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert_eq!(p.balance_amount, AMOUNT);
}

#[tokio::test]
async fn a_5xx_is_unknown_charged_nothing_and_a_retry_succeeds() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("5xx");
    let key = new_payment(&sb, &order_id, Some("FAILED_INTERNAL_SYSTEM_PROCESSING")).await;
    let reason = expect_unknown(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::ServerError { status: 500, ref code, .. } if code == "FAILED_INTERNAL_SYSTEM_PROCESSING"),
        "{reason:?}"
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Ready);
    expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_provider_error_is_unknown_and_retryable() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("provider");
    let key = new_payment(&sb, &order_id, Some("PROVIDER_ERROR")).await;
    let reason = expect_unknown(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::Retryable { status: 400, .. }),
        "{reason:?}"
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Ready);
    expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn a_lost_response_is_unknown_and_the_lookup_by_order_finds_done() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("lost");
    let key = new_payment(&sb, &order_id, Some(FailMode::RESPONSE_LOST)).await;
    let reason = expect_unknown(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::ServerError { status: 500, .. }),
        "{reason:?}"
    );
    let p = c.payment_by_order(&order_id).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Done);
    assert_eq!(p.payment_key, key);
    // The idempotent retry returns the success that was lost.
    assert_eq!(
        expect_done(
            c.confirm_payment(&confirm_req(&key, &order_id))
                .await
                .unwrap()
        ),
        p
    );
}

#[tokio::test]
async fn a_dropped_connection_is_unknown_and_the_lookup_by_order_finds_done() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("drop");
    let key = new_payment(&sb, &order_id, Some(FailMode::CONNECTION_DROPPED)).await;
    let reason = expect_unknown(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::ConnectionLost(_)),
        "{reason:?}"
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Done);
}

#[tokio::test]
async fn a_payment_confirmed_by_someone_else_is_unknown_already_processed() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("elsewhere");
    let key = new_payment(&sb, &order_id, None).await;
    // Another confirm with another idempotency key (say, a second instance
    // of the service) got there first.
    let raw = ticketon_runtime::test_env::http_client();
    let first = raw
        .post(format!("{}/v1/payments/confirm", sb.base_url()))
        .header(
            "Authorization",
            reservation_api::toss::basic_auth_value(SECRET),
        )
        .json(&confirm_req(&key, &order_id))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);

    let reason = expect_unknown(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::AlreadyProcessed { ref code, .. } if code == "ALREADY_PROCESSED_PAYMENT"),
        "{reason:?}"
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Done);
}

#[tokio::test]
async fn an_unreachable_toss_is_unknown_for_confirm_and_unavailable_for_lookups() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = TossClient::new(
        &format!("http://127.0.0.1:{port}"),
        SECRET,
        Duration::from_millis(500),
        Duration::from_millis(500),
    )
    .unwrap();
    let reason = expect_unknown(
        c.confirm_payment(&confirm_req("pk", "res-unreachable"))
            .await
            .unwrap(),
    );
    assert!(matches!(reason, UnknownReason::Connect(_)), "{reason:?}");
    let err = c.payment_by_order("res-unreachable").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn lookups_fail_as_unavailable_on_5xx_timeouts_and_drops() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("lookupfail");
    new_payment(&sb, &order_id, None).await;
    for code in [
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        FailMode::TIMEOUT,
        FailMode::CONNECTION_DROPPED,
        FailMode::RESPONSE_LOST,
    ] {
        let failing = impatient(&sb).with_test_code(code).unwrap();
        match failing.payment_by_order(&order_id).await {
            Err(e @ TossError::Unavailable(_)) => assert!(e.is_retryable()),
            other => panic!("{code}: expected Unavailable, got {other:?}"),
        }
    }
    // Without a failure switch the same lookup works.
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Ready);
}

// ----- cancels -----

async fn confirmed(sb: &SandboxHandle, c: &TossClient, tag: &str) -> (String, String) {
    let order_id = order(tag);
    let key = new_payment(sb, &order_id, None).await;
    expect_done(
        c.confirm_payment(&confirm_req(&key, &order_id))
            .await
            .unwrap(),
    );
    (order_id, key)
}

#[tokio::test]
async fn partial_cancels_add_up_and_the_balance_bounds_them() {
    let sb = sandbox().await;
    let c = client(&sb);
    let (order_id, key) = confirmed(&sb, &c, "partial").await;
    let k = |id: &str| IdempotencyKey::cancel(&order_id, id);

    let p = expect_done(
        c.cancel_payment(&key, &refund(Some(20_000)), &k("r1"))
            .await
            .unwrap(),
    );
    assert_eq!(p.status, PaymentStatus::PartialCanceled);
    assert_eq!(p.balance_amount, 35_000);

    // Same key: the first answer again, not a second refund.
    let replay = expect_done(
        c.cancel_payment(&key, &refund(Some(20_000)), &k("r1"))
            .await
            .unwrap(),
    );
    assert_eq!(replay, p);
    // Another refund of the same amount under its own key is a real one.
    let p = expect_done(
        c.cancel_payment(&key, &refund(Some(20_000)), &k("r2"))
            .await
            .unwrap(),
    );
    assert_eq!(p.balance_amount, 15_000);

    match c
        .cancel_payment(&key, &refund(Some(15_001)), &k("r3"))
        .await
        .unwrap()
    {
        PaymentOutcome::Declined { code, .. } => assert_eq!(code, "NOT_CANCELABLE_AMOUNT"),
        other => panic!("expected Declined, got {other:?}"),
    }

    let p = expect_done(
        c.cancel_payment(&key, &refund(None), &k("full"))
            .await
            .unwrap(),
    );
    assert_eq!((p.status, p.balance_amount), (PaymentStatus::Canceled, 0));
    let amounts: Vec<i64> = p.cancels().iter().map(|x| x.cancel_amount).collect();
    assert_eq!(amounts, vec![20_000, 20_000, 15_000]);
    assert_eq!(c.payment_by_order(&order_id).await.unwrap(), Some(p));
}

#[tokio::test]
async fn cancelling_again_after_a_full_cancel_is_unknown_already_processed() {
    let sb = sandbox().await;
    let c = client(&sb);
    let (order_id, key) = confirmed(&sb, &c, "recancel").await;
    expect_done(
        c.cancel_payment(&key, &refund(None), &IdempotencyKey::cancel(&order_id, "a"))
            .await
            .unwrap(),
    );
    let reason = expect_unknown(
        c.cancel_payment(&key, &refund(None), &IdempotencyKey::cancel(&order_id, "b"))
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::AlreadyProcessed { .. }),
        "{reason:?}"
    );
}

#[tokio::test]
async fn unconfirmed_or_unknown_payments_cannot_be_cancelled() {
    let sb = sandbox().await;
    let c = client(&sb);
    let order_id = order("cxl-ready");
    let key = new_payment(&sb, &order_id, None).await;
    let ik = IdempotencyKey::cancel(&order_id, "full");
    assert!(matches!(
        c.cancel_payment(&key, &refund(None), &ik).await.unwrap(),
        PaymentOutcome::Declined { code, .. } if code == "NOT_CANCELABLE_PAYMENT"
    ));
    assert!(matches!(
        c.cancel_payment("tsbx_nope", &refund(None), &ik).await,
        Err(TossError::Rejected { status: 404, code, .. }) if code == "NOT_FOUND_PAYMENT"
    ));
}

#[tokio::test]
async fn a_lost_cancel_response_is_unknown_and_the_refund_happened_once() {
    let sb = sandbox().await;
    let c = client(&sb);
    let (order_id, key) = confirmed(&sb, &c, "cxl-lost").await;
    let ik = IdempotencyKey::cancel(&order_id, "r1");
    for code in [FailMode::RESPONSE_LOST, FailMode::TIMEOUT_AFTER_COMMIT] {
        let failing = impatient(&sb).with_test_code(code).unwrap();
        let ik = IdempotencyKey::cancel(&order_id, code);
        expect_unknown(
            failing
                .cancel_payment(&key, &refund(Some(10_000)), &ik)
                .await
                .unwrap(),
        );
    }
    let p = c.payment_by_order(&order_id).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::PartialCanceled);
    assert_eq!(p.balance_amount, AMOUNT - 20_000);
    // Retrying the lost one with its key gets the answer that was lost
    // (the payment as it was after that first refund), not a third refund.
    let retry_key = IdempotencyKey::cancel(&order_id, FailMode::RESPONSE_LOST);
    let lost = expect_done(
        c.cancel_payment(&key, &refund(Some(10_000)), &retry_key)
            .await
            .unwrap(),
    );
    assert_eq!(lost.balance_amount, AMOUNT - 10_000);
    assert_eq!(lost.cancels().len(), 1);
    let now = c.payment_by_key(&key).await.unwrap().unwrap();
    assert_eq!(now.balance_amount, AMOUNT - 20_000);
    assert_eq!(now.cancels().len(), 2);
    // And a timeout that refunded nothing leaves the balance alone.
    let silent = impatient(&sb).with_test_code(FailMode::TIMEOUT).unwrap();
    let reason = expect_unknown(
        silent
            .cancel_payment(&key, &refund(Some(1_000)), &ik)
            .await
            .unwrap(),
    );
    assert_eq!(reason, UnknownReason::Timeout);
    let p = c.payment_by_key(&key).await.unwrap().unwrap();
    assert_eq!(p.balance_amount, AMOUNT - 20_000);
}

#[tokio::test]
async fn a_5xx_on_cancel_is_unknown_and_refunds_nothing() {
    let sb = sandbox().await;
    let c = client(&sb);
    let (order_id, key) = confirmed(&sb, &c, "cxl-5xx").await;
    let failing = c.with_test_code("FAILED_REFUND_PROCESS").unwrap();
    let ik = IdempotencyKey::cancel(&order_id, "full");
    let reason = expect_unknown(
        failing
            .cancel_payment(&key, &refund(None), &ik)
            .await
            .unwrap(),
    );
    assert!(
        matches!(reason, UnknownReason::ServerError { .. }),
        "{reason:?}"
    );
    assert_eq!(status_of_order(&c, &order_id).await, PaymentStatus::Done);
    // 5xx answers are not kept under the key: the retry runs for real.
    let p = expect_done(c.cancel_payment(&key, &refund(None), &ik).await.unwrap());
    assert_eq!(p.status, PaymentStatus::Canceled);
}

#[tokio::test]
async fn keys_toss_would_refuse_never_leave_the_client() {
    let sb = sandbox().await;
    let c = client(&sb);
    let (_, key) = confirmed(&sb, &c, "badkey").await;
    let too_long = IdempotencyKey::custom("k".repeat(301));
    assert!(matches!(
        c.cancel_payment(&key, &refund(None), &too_long).await,
        Err(TossError::InvalidInput(_))
    ));
    assert_eq!(
        c.payment_by_key(&key).await.unwrap().unwrap().status,
        PaymentStatus::Done
    );
}
