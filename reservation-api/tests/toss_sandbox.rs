//! The sandbox's own protocol, spoken with a plain HTTP client: what a
//! non-Ticketon caller (a browser step, curl, another service) sees. The
//! client-level behaviour is covered in `toss_client.rs`.

use reservation_api::toss::basic_auth_value;
use reservation_api::toss::sandbox::{self, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

const SECRET: &str = "test_sk_sandbox_tests";

async fn sandbox() -> SandboxHandle {
    sandbox::spawn(
        "127.0.0.1:0".parse().unwrap(),
        SandboxConfig::with_secret_key(SECRET),
    )
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    ticketon_runtime::test_env::http_client()
}

async fn body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn create(sb: &SandboxHandle, order_id: &str, amount: i64) -> (u16, Value) {
    let r = http()
        .post(format!("{}/v1/sandbox/payments", sb.base_url()))
        .json(&json!({"orderId": order_id, "amount": amount}))
        .send()
        .await
        .unwrap();
    body(r).await
}

async fn confirm(
    sb: &SandboxHandle,
    auth: Option<&str>,
    idempotency_key: Option<&str>,
    payload: &Value,
) -> (u16, Value) {
    let mut req = http()
        .post(format!("{}/v1/payments/confirm", sb.base_url()))
        .json(payload);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    body(req.send().await.unwrap()).await
}

#[tokio::test]
async fn the_widget_step_returns_a_payment_key_for_a_ready_payment() {
    let sb = sandbox().await;
    let (status, created) = create(&sb, "res-widget-1", 12_000).await;
    assert_eq!(status, 200);
    let key = created["paymentKey"].as_str().unwrap();
    assert_eq!(created["orderId"], "res-widget-1");
    let r = http()
        .get(format!("{}/v1/payments/{key}", sb.base_url()))
        .header("Authorization", basic_auth_value(SECRET))
        .send()
        .await
        .unwrap();
    let (status, p) = body(r).await;
    assert_eq!(status, 200);
    assert_eq!(p["status"], "READY");
    assert_eq!(p["totalAmount"], 12_000);
    assert_eq!(p["balanceAmount"], 12_000);
    assert_eq!(p["cancels"], Value::Null);
    assert_eq!(p["approvedAt"], Value::Null);
    assert!(p["requestedAt"].as_str().unwrap().ends_with("+09:00"));
}

#[tokio::test]
async fn the_widget_step_validates_like_toss() {
    let sb = sandbox().await;
    assert_eq!(
        create(&sb, "short", 1000).await.1["code"],
        "INVALID_REQUEST"
    );
    assert_eq!(
        create(&sb, "has spaces in it", 1000).await.1["code"],
        "INVALID_REQUEST"
    );
    assert_eq!(
        create(&sb, "res-zero-1", 0).await.1["code"],
        "BELOW_MINIMUM_AMOUNT"
    );
    let r = http()
        .post(format!("{}/v1/sandbox/payments", sb.base_url()))
        .json(&json!({"orderId": "res-badfail", "amount": 1000, "failWith": "NOPE"}))
        .send()
        .await
        .unwrap();
    let (status, err) = body(r).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    assert!(err["message"].as_str().unwrap().contains("SANDBOX_TIMEOUT"));
}

#[tokio::test]
async fn basic_auth_is_checked_against_the_sandbox_secret_key() {
    let sb = sandbox().await;
    let payload = json!({"paymentKey": "x", "orderId": "res-auth-1", "amount": 1});
    let (status, err) = confirm(&sb, None, None, &payload).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("UNAUTHORIZED_KEY"))
    );
    let wrong = basic_auth_value("test_sk_other");
    let (status, err) = confirm(&sb, Some(&wrong), None, &payload).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("UNAUTHORIZED_KEY"))
    );
    // The classic mistake: the key without its trailing colon.
    use base64::Engine;
    let no_colon = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    );
    let (status, err) = confirm(&sb, Some(&no_colon), None, &payload).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (403, Some("INCORRECT_BASIC_AUTH_FORMAT"))
    );
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_and_others_see_already_processed() {
    let sb = sandbox().await;
    let auth = basic_auth_value(SECRET);
    let (_, created) = create(&sb, "res-idem-1", 5_000).await;
    let payload =
        json!({"paymentKey": created["paymentKey"], "orderId": "res-idem-1", "amount": 5_000});

    let (s1, first) = confirm(&sb, Some(&auth), Some("key-A"), &payload).await;
    assert_eq!((s1, first["status"].as_str()), (200, Some("DONE")));
    let (s2, replay) = confirm(&sb, Some(&auth), Some("key-A"), &payload).await;
    assert_eq!((s2, &replay), (200, &first));

    for key in [None, Some("key-B")] {
        let (status, err) = confirm(&sb, Some(&auth), key, &payload).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("ALREADY_PROCESSED_PAYMENT")),
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn confirming_an_unknown_payment_key_is_a_missing_session() {
    let sb = sandbox().await;
    let payload = json!({"paymentKey": "tsbx_missing", "orderId": "res-missing", "amount": 1});
    let (status, err) = confirm(&sb, Some(&basic_auth_value(SECRET)), None, &payload).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("NOT_FOUND_PAYMENT_SESSION"))
    );
}

#[tokio::test]
async fn malformed_bodies_unknown_test_codes_and_routes_answer_toss_errors() {
    let sb = sandbox().await;
    let auth = basic_auth_value(SECRET);
    let r = http()
        .post(format!("{}/v1/payments/confirm", sb.base_url()))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, err) = body(r).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );

    let r = http()
        .get(format!("{}/v1/payments/orders/res-x-000", sb.base_url()))
        .header("Authorization", &auth)
        .header("TossPayments-Test-Code", "NOT_A_CODE")
        .send()
        .await
        .unwrap();
    let (status, err) = body(r).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );

    let r = http()
        .get(format!("{}/v2/whatever", sb.base_url()))
        .send()
        .await
        .unwrap();
    let (status, err) = body(r).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("NOT_FOUND")));

    let r = http()
        .get(format!("{}/v1/payments/pk/cancel", sb.base_url()))
        .send()
        .await
        .unwrap();
    let (status, err) = body(r).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
}

#[tokio::test]
async fn ids_with_path_characters_stay_one_path_segment() {
    let sb = sandbox().await;
    let c = reservation_api::toss::TossClient::new(
        &sb.base_url(),
        SECRET,
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    // Without encoding this would be GET /v1/payments/orders/x/../../confirm.
    assert_eq!(c.payment_by_order("x/../../confirm").await.unwrap(), None);
    assert_eq!(c.payment_by_key("a b?c#d").await.unwrap(), None);
}

async fn outage(sb: &SandboxHandle, body: &Value) -> u16 {
    http()
        .put(format!("{}/v1/sandbox/outage", sb.base_url()))
        .header("Authorization", basic_auth_value(SECRET))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_outage_fails_every_payment_call_until_it_ends_and_charges_nothing() {
    let sb = sandbox().await;
    let (_, created) = create(&sb, "order-outage-1", 5_000).await;
    let key = created["paymentKey"].as_str().unwrap().to_string();
    let confirm_body = json!({"paymentKey": key, "orderId": "order-outage-1", "amount": 5_000});
    let auth = basic_auth_value(SECRET);

    assert_eq!(
        outage(&sb, &json!({"failWith": "NO_SUCH_CODE", "seconds": 5})).await,
        400
    );
    assert_eq!(
        outage(
            &sb,
            &json!({"failWith": "FAILED_INTERNAL_SYSTEM_PROCESSING", "seconds": 0})
        )
        .await,
        400
    );
    assert_eq!(
        outage(
            &sb,
            &json!({"failWith": "FAILED_INTERNAL_SYSTEM_PROCESSING", "seconds": 60})
        )
        .await,
        204
    );
    let (status, answer) = confirm(&sb, Some(&auth), None, &confirm_body).await;
    assert_eq!(status, 500);
    assert_eq!(answer["code"], "FAILED_INTERNAL_SYSTEM_PROCESSING");
    let lookup = http()
        .get(format!("{}/v1/payments/{key}", sb.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status().as_u16(), 500, "lookups fail too");
    let ledger: Value = http()
        .get(format!("{}/v1/sandbox/ledger", sb.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ledger["capturedKrw"], 0,
        "the ledger answers, and nothing was charged"
    );

    let ended = http()
        .delete(format!("{}/v1/sandbox/outage", sb.base_url()))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status().as_u16(), 204);
    let (status, answer) = confirm(&sb, Some(&auth), None, &confirm_body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "DONE");
}
