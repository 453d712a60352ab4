//! What the operator's console reads (issue 18): an event's sales, and the
//! charges that wait for an operator, on SQLite and MariaDB.

use reqwest::Method;
use reservation_api_testkit::payments::*;
use reservation_api_testkit::*;
use serde_json::Value;

async fn admin_get(rig: &Rig, path: &str) -> (u16, Value) {
    rig.call(Method::GET, path, ADMIN_KEY, None).await
}

/// Sales move with holds, payments and cancellations; a full refund the
/// provider refuses shows in the attention list until an operator acts.
async fn sales_and_attention(db_url: &str) {
    let sb = sandbox().await;
    let rig = rig(db_url, &sb, true).await;
    let clock = rig.s.clock.clone().unwrap();
    let (event_id, a, b) = rig.s.create_event(2, 5, 60).await;
    let sales_path = format!("/v1/api/events/{event_id}/sales");

    let (st, v) = admin_get(&rig, &sales_path).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["available"].as_u64(),
            v["sold"].as_u64(),
            v["revenue"].as_i64()
        ),
        (Some(14), Some(0), Some(0)),
        "{v}"
    );
    let names: Vec<&str> = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B"]);

    // Alice pays for two A seats; Bob holds one B seat.
    let alice = token("alice");
    let (r1, amount) = rig.hold(&alice, &event_id, &a[..2]).await;
    let key = rig.widget(&r1, amount, None).await;
    let (st, paid) = rig.pay(&alice, &r1, &key, amount).await;
    assert_eq!(st, 201, "{paid}");
    let bob = token("bob");
    rig.hold(&bob, &event_id, &b[..1]).await;
    let (_, v) = admin_get(&rig, &sales_path).await;
    assert_eq!(
        (
            v["available"].as_u64(),
            v["held"].as_u64(),
            v["sold"].as_u64()
        ),
        (Some(11), Some(1), Some(2)),
        "{v}"
    );
    assert_eq!(v["revenue"].as_i64(), Some(200_000), "{v}");
    assert_eq!(v["ticketsIssued"].as_u64(), Some(2));
    assert_eq!(v["sections"][0]["revenue"].as_i64(), Some(200_000), "{v}");
    assert_eq!(v["sections"][1]["held"].as_u64(), Some(1), "{v}");

    // A cancelled ticket is refunded: it earns nothing and its seat is free.
    let access = paid["accessToken"].as_str().unwrap();
    let ticket = paid["tickets"][0]["ticketId"].as_str().unwrap();
    let (st, v) = rig
        .call(
            Method::PATCH,
            &format!("/v1/api/tickets/{ticket}/status"),
            access,
            Some(serde_json::json!({"status": "cancelled"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = admin_get(&rig, &sales_path).await;
    assert_eq!(
        (
            v["revenue"].as_i64(),
            v["ticketsCancelled"].as_u64(),
            v["sold"].as_u64()
        ),
        (Some(100_000), Some(1), Some(1)),
        "{v}"
    );

    // Nothing waits for an operator yet.
    let (st, v) = admin_get(&rig, "/v1/api/payments/attention").await;
    assert_eq!(
        (st, v["payments"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );

    // Dave is charged after his hold ran out and Erin took the seat: the
    // full refund is refused, so the charge needs an operator.
    let dave = token("dave");
    let erin = token("erin");
    let (r4, amount4) = rig.hold(&dave, &event_id, &[a[5]]).await;
    let key4 = rig
        .widget(&r4, amount4, Some("SANDBOX_TIMEOUT_AFTER_COMMIT"))
        .await;
    rig.gw.fail_next_cancel("NOT_CANCELABLE_PAYMENT");
    let late = rig.pay(&dave, &r4, &key4, amount4);
    let thief = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        clock.advance_ms(61_000);
        rig.hold(&erin, &event_id, &[a[5]]).await
    };
    let ((st, v), _) = tokio::join!(late, thief);
    assert_eq!(st, 409, "{v}");
    let (st, v) = admin_get(&rig, "/v1/api/payments/attention").await;
    assert_eq!(st, 200, "{v}");
    let stuck = v["payments"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{v}");
    assert_eq!(stuck[0]["reservationId"], r4.as_str());
    assert_eq!(stuck[0]["eventId"], event_id.as_str());
    assert_eq!(stuck[0]["paymentKey"], key4.as_str());
    assert_eq!(stuck[0]["amount"].as_i64(), Some(amount4));
    assert_eq!(stuck[0]["refundStatus"], "failed");
    assert_eq!(stuck[0]["refundFailureCode"], "NOT_CANCELABLE_PAYMENT");

    // Both are the operator's: a buyer's token and no key are refused.
    let (st, _) = rig
        .call(Method::GET, "/v1/api/payments/attention", &alice, None)
        .await;
    assert_eq!(st, 403);
    let st = rig
        .s
        .http
        .get(rig.s.url(&sales_path))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    let (st, v) = admin_get(&rig, "/v1/api/events/nope/sales").await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("event_not_found"))
    );

    rig.s.stop().await;
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_and_attention_on_sqlite() {
    let db = TestDb::sqlite();
    sales_and_attention(db.url()).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_and_attention_on_mariadb() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    sales_and_attention(db.url()).await;
    db.cleanup().await;
}
