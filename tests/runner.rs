//! The one-process runner (`cargo run --release`) honours the settings the
//! two services document: here a non-default Toss sandbox address and secret
//! key, and a fan goes from the queue to a ticket through them.

mod support;

use std::time::{Duration, Instant};

use reservation_api::toss::basic_auth_value;
use reservation_api::toss::sandbox::create_payment;
use serde_json::{json, Value};
use support::Runner;

const ADMIN_KEY: &str = "runner-admin-key";
const QUEUE: &str = "runner-sale";
const SECRET_KEY: &str = "test_sk_runner_not_the_default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_pays_through_the_configured_sandbox_and_key() {
    let dir = std::env::temp_dir().join(format!("ticketon-runner-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runner = Runner::start(
        &dir,
        &[
            ("TOSS_SECRET_KEY", SECRET_KEY),
            ("TICKETON_ADMIN_KEY", ADMIN_KEY),
            ("TICKETON_TOKEN_SECRET", "runner-token-secret-of-32-bytes!!"),
        ],
    )
    .await;
    let (queue, reservations, sandbox) = (&runner.queue, &runner.reservations, &runner.sandbox);
    let http = ticketon_runtime::test_env::http_client();

    // The sandbox listens where it was told, and knows only the configured key.
    let with_default_key = lookup_order(&http, sandbox, "test_sk_ticketon_sandbox", "none").await;
    assert_eq!(with_default_key.status(), 401);
    let with_configured_key = lookup_order(&http, sandbox, SECRET_KEY, "none").await;
    assert_eq!(with_configured_key.status(), 404);

    let r = http
        .put(format!("{queue}/v1/api/queues/{QUEUE}"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"admissionRatePerSec": 50, "maxActive": 10, "sessionTtlSec": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .post(format!("{reservations}/v1/api/events"))
        .header("x-admin-key", ADMIN_KEY)
        .json(&json!({
            "name": "Runner Concert", "venue": "Hall", "startsAt": "2027-06-01T19:00:00+09:00",
            "queueId": QUEUE, "holdTtlSec": 300, "maxSeatsPerOrder": 4,
            "sections": [{"name": "A", "rows": 1, "seatsPerRow": 4, "price": 70000}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let event: Value = r.json().await.unwrap();
    let event_id = event["eventId"].as_str().unwrap();
    let seats: Value = http
        .get(format!("{reservations}/v1/api/events/{event_id}/seats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seat = seats[0]["seatId"].as_i64().unwrap();

    let joined: Value = http
        .post(format!("{queue}/v1/api/queues/{QUEUE}/entries"))
        .json(&json!({"userId": "fan-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = joined["entryId"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let polled: Value = http
            .get(format!("{queue}/v1/api/queues/{QUEUE}/entries/{entry}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if polled["status"] == "admitted" {
            break polled["admissionToken"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "never admitted: {polled}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let r = http
        .post(format!("{reservations}/v1/api/reservations"))
        .bearer_auth(&token)
        .json(&json!({"eventId": event_id, "seatIds": [seat]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let hold: Value = r.json().await.unwrap();
    let reservation = hold["reservationId"].as_str().unwrap();
    let amount = hold["amount"].as_i64().unwrap();
    assert_eq!(amount, 70_000);

    let payment_key = create_payment(sandbox, reservation, amount, None)
        .await
        .expect("the widget step at the configured sandbox");
    let r = http
        .post(format!("{reservations}/v1/api/payments"))
        .bearer_auth(&token)
        .json(&json!({"reservationId": reservation, "paymentKey": payment_key, "amount": amount}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(1), "{paid}");

    // The sandbox's own record, read with the configured key: charged.
    let record: Value = lookup_order(&http, sandbox, SECRET_KEY, reservation)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "DONE", "{record}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sandbox's record of an order, asked with `key`.
async fn lookup_order(
    http: &reqwest::Client,
    sandbox: &str,
    key: &str,
    order_id: &str,
) -> reqwest::Response {
    http.get(format!("{sandbox}/v1/payments/orders/{order_id}"))
        .header("authorization", basic_auth_value(key))
        .send()
        .await
        .unwrap()
}
