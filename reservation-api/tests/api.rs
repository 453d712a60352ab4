//! The HTTP API through a real socket, on SQLite and on MariaDB: every
//! documented status of every endpoint, idempotent retries, release and
//! expiry as seen by clients.

use reservation_api::SeatLockKind;
use reservation_api_testkit::*;
use serde_json::{json, Value};

async fn code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

async fn scenario(db_url: &str, lock: SeatLockKind, redis: Option<String>) {
    let s = start(db_url, lock, redis, true).await;
    let http = &s.http;

    // --- Events (admin) ---
    let body = json!({"name": "X", "venue": "Y", "startsAt": "2026-06-01T19:00:00Z", "queueId": QUEUE,
                      "sections": [{"name": "A", "rows": 1, "seatsPerRow": 1, "price": 1}]});
    let r = http
        .post(s.url("/v1/api/events"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (401, "admin_key_required".into()));
    let r = http
        .post(s.url("/v1/api/events"))
        .header("x-admin-key", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (403, "admin_key_invalid".into()));
    let r = http
        .post(s.url("/v1/api/events"))
        .header("x-admin-key", ADMIN_KEY)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_json".into()));
    let mut bad = body.clone();
    bad["sections"][0]["rows"] = json!(0);
    let r = http
        .post(s.url("/v1/api/events"))
        .header("x-admin-key", ADMIN_KEY)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_event".into()));
    // A misspelt or unknown setting is refused, named, never ignored.
    for (path, field) in [("", "opensAt"), ("/sections/0", "seatPerRow")] {
        let mut typo = body.clone();
        typo.pointer_mut(path)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(field.into(), json!(1));
        let r = http
            .post(s.url("/v1/api/events"))
            .header("x-admin-key", ADMIN_KEY)
            .json(&typo)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_field")),
            "{v}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }

    let (event_id, a, b) = s.create_event(2, 5, 60).await;
    assert_eq!((a.len(), b.len()), (10, 4));

    // A draft is invisible to buyers but visible to admins.
    let mut draft = body.clone();
    draft["status"] = json!("draft");
    let r = http
        .post(s.url("/v1/api/events"))
        .bearer_auth(ADMIN_KEY)
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let draft_id = r.json::<Value>().await.unwrap()["eventId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .get(s.url(&format!("/v1/api/events/{draft_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (404, "event_not_found".into()));
    let r = http
        .get(s.url(&format!("/v1/api/events/{draft_id}")))
        .header("x-admin-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // List, paginated; drafts hidden.
    let page: Value = http
        .get(s.url("/v1/api/events?limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["eventId"], event_id.as_str());
    assert_eq!(page["nextOffset"], Value::Null);
    let page: Value = http
        .get(s.url("/v1/api/events?limit=1"))
        .header("x-admin-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["nextOffset"], 1);
    let r = http
        .get(s.url("/v1/api/events?limit=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_query".into()));

    let ev: Value = http
        .get(s.url(&format!("/v1/api/events/{event_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["status"], "on_sale");
    assert_eq!(ev["holdTtlSec"], 60);
    assert_eq!(ev["startsAt"], "2026-06-01T10:00:00Z");
    assert_eq!(ev["sections"][0]["availableSeats"], 10);
    assert_eq!(ev["sections"][1]["price"], 50000);
    let r = http.get(s.url("/v1/api/events/nope")).send().await.unwrap();
    assert_eq!(code(r).await, (404, "event_not_found".into()));

    // --- Holds ---
    let alice = token("alice");
    let bob = token("bob");
    let r = http
        .post(s.url("/v1/api/reservations"))
        .json(&json!({"eventId": event_id, "seatIds": [a[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (401, "token_missing".into()));
    let mut tampered = alice.clone();
    tampered.push('x');
    let (st, v) = s.hold(&tampered, &event_id, &[a[0]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (401, "token_invalid")
    );
    let (st, v) = s
        .hold(&token_for("alice", QUEUE, now_s() - 10), &event_id, &[a[0]])
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (401, "token_expired")
    );
    let (st, v) = s
        .hold(
            &token_for("alice", "other-queue", now_s() + 600),
            &event_id,
            &[a[0]],
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (403, "wrong_queue")
    );
    let (st, v) = s.hold(&alice, &event_id, &a[0..5]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (400, "too_many_seats")
    );
    let (st, v) = s.hold(&alice, &event_id, &[a[0], a[0]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (400, "duplicate_seat")
    );
    let (_, other_a, _) = s.create_event(1, 2, 60).await;
    let (st, v) = s.hold(&alice, &event_id, &[a[0], other_a[0]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (400, "seat_not_in_event")
    );
    let (st, v) = s.hold(&alice, "nope", &[a[0]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (404, "event_not_found")
    );
    let r = http
        .post(s.url("/v1/api/reservations"))
        .bearer_auth(&alice)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_json".into()));

    let (st, held) = s.hold(&alice, &event_id, &[a[1], a[0], b[0]]).await;
    assert_eq!(st, 201, "{held}");
    assert_eq!(held["status"], "held");
    assert_eq!(held["seatIds"], json!([a[0], a[1], b[0]]));
    assert_eq!(held["amount"], 250000);
    assert_eq!(held["currency"], "KRW");
    assert_eq!(held["eventId"], event_id.as_str());
    let rid = held["reservationId"].as_str().unwrap().to_string();

    // All or none: bob asks for one taken and one free seat, gets neither.
    let (st, v) = s.hold(&bob, &event_id, &[a[1], a[2]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (409, "seat_unavailable")
    );
    assert_eq!(v["error"]["seatIds"], json!([a[1]]));
    let avail: Vec<Value> = http
        .get(s.url(&format!(
            "/v1/api/events/{event_id}/seats?section=A&status=available"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(avail.len(), 8);
    assert!(avail.iter().any(|x| x["seatId"] == a[2]));
    assert_eq!(avail[0]["price"], 100000);
    assert!(avail
        .iter()
        .all(|x| x["status"] == "available" && x["section"] == "A"));
    let held_seats: Vec<Value> = http
        .get(s.url(&format!("/v1/api/events/{event_id}/seats?status=held")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held_seats.len(), 3);
    let r = http
        .get(s.url(&format!("/v1/api/events/{event_id}/seats?status=gone")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_seat_status".into()));

    // Reservation reads and releases are the token user's only.
    let r = http
        .get(s.url(&format!("/v1/api/reservations/{rid}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["status"], "held");
    assert_eq!(got["expiresAt"], held["expiresAt"]);
    let r = http
        .get(s.url(&format!("/v1/api/reservations/{rid}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (404, "reservation_not_found".into()));
    let r = http
        .get(s.url(&format!("/v1/api/reservations/{rid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (401, "token_missing".into()));
    let (st, v) = s.release(&bob, &rid).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (404, "reservation_not_found")
    );
    let (st, v) = s.release(&alice, &rid).await;
    assert_eq!((st, v["status"].as_str().unwrap()), (200, "released"));
    let (st, v) = s.release(&alice, &rid).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (409, "reservation_not_held")
    );
    // Releasing was giving up: that admission's token buys nothing more.
    let (st, v) = s.hold(&alice, &event_id, &[a[8]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (401, "session_ended")
    );
    let alice = token_with_entry("alice", "entry-alice-2");
    let (st, _) = s.hold(&bob, &event_id, &[a[1], a[2]]).await;
    assert_eq!(st, 201, "released seats can be held again");

    // --- Idempotency-Key ---
    let post = |key: &str, seats: Value| {
        http.post(s.url("/v1/api/reservations"))
            .bearer_auth(&alice)
            .header("idempotency-key", key)
            .json(&json!({"eventId": event_id, "seatIds": seats}))
            .send()
    };
    let first = post("k-1", json!([a[5]])).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post("k-1", json!([a[5]])).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let r = post("k-1", json!([a[6]])).await.unwrap();
    assert_eq!(code(r).await, (422, "idempotency_key_reused".into()));
    // A replayed 409 stays the first answer.
    let r1 = post("k-2", json!([a[1]])).await.unwrap();
    assert_eq!(r1.status(), 409);
    let r2 = post("k-2", json!([a[1]])).await.unwrap();
    assert_eq!(r2.status(), 409);
    assert_eq!(r2.headers().get("idempotent-replayed").unwrap(), "true");
    // Keys are per user: bob's "k-1" is his own.
    let r = http
        .post(s.url("/v1/api/reservations"))
        .bearer_auth(&bob)
        .header("idempotency-key", "k-1")
        .json(&json!({"eventId": event_id, "seatIds": [a[7]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // --- Expiry as clients see it ---
    let (st, short) = s.hold(&alice, &event_id, &[b[3]]).await;
    assert_eq!(st, 201);
    let short_id = short["reservationId"].as_str().unwrap().to_string();
    s.clock.as_ref().unwrap().advance_ms(60_000);
    // Every hold above expired with the clock: if the sweeper gets to them
    // before the requests below, that ends alice's and bob's purchase
    // sessions, so both come back with a fresh admission (which must see
    // the same answers whether or not the sweeper ran).
    let alice = token_with_entry("alice", "entry-alice-3");
    let bob = token_with_entry("bob", "entry-bob-2");
    let (st, _) = s.hold(&bob, &event_id, &[b[3]]).await;
    assert_eq!(st, 201, "an expired hold's seat is free at once");
    let got: Value = http
        .get(s.url(&format!("/v1/api/reservations/{short_id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "expired");
    let (st, v) = s.release(&alice, &short_id).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (409, "reservation_not_held")
    );

    // --- Event status (admin) ---
    let patch = |id: &str, status: &str, key: Option<&str>| {
        let mut r = http
            .patch(s.url(&format!("/v1/api/events/{id}/status")))
            .json(&json!({"status": status}));
        if let Some(k) = key {
            r = r.header("x-admin-key", k);
        }
        r.send()
    };
    let r = patch(&event_id, "closed", None).await.unwrap();
    assert_eq!(code(r).await, (401, "admin_key_required".into()));
    let r = patch(&event_id, "draft", Some(ADMIN_KEY)).await.unwrap();
    assert_eq!(code(r).await, (400, "invalid_event_status".into()));
    let r = patch("nope", "closed", Some(ADMIN_KEY)).await.unwrap();
    assert_eq!(code(r).await, (404, "event_not_found".into()));
    let r = patch(&event_id, "closed", Some(ADMIN_KEY)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "closed");
    let (st, v) = s.hold(&alice, &event_id, &[a[9]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (409, "event_not_on_sale")
    );
    let r = patch(&event_id, "on_sale", Some(ADMIN_KEY)).await.unwrap();
    assert_eq!(r.status(), 200);
    let (st, _) = s.hold(&alice, &event_id, &[a[9]]).await;
    assert_eq!(st, 201);

    // --- Unknown routes and methods answer in JSON ---
    let r = http.get(s.url("/v1/api/nothing")).send().await.unwrap();
    assert_eq!(code(r).await, (404, "not_found".into()));
    let r = http.put(s.url("/v1/api/events")).send().await.unwrap();
    assert_eq!(code(r).await, (405, "method_not_allowed".into()));

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite_pessimistic() {
    let db = TestDb::sqlite();
    scenario(db.url(), SeatLockKind::Pessimistic, None).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite_optimistic() {
    let db = TestDb::sqlite();
    scenario(db.url(), SeatLockKind::Optimistic, None).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite_in_memory_with_in_process_locks() {
    scenario("sqlite::memory:", SeatLockKind::Distributed, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_mariadb_pessimistic() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    scenario(db.url(), SeatLockKind::Pessimistic, None).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_mariadb_distributed_with_redis() {
    let Some(redis) = redis_url().await else {
        return;
    };
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    scenario(db.url(), SeatLockKind::Distributed, Some(redis)).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_is_created_on_first_start_and_reused() {
    let db = TestDb::sqlite();
    let TestDb::Sqlite { path, .. } = &db else {
        unreachable!()
    };
    assert!(!path.exists());
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (event_id, _, _) = s.create_event(1, 3, 60).await;
    s.stop().await;
    assert!(path.exists());
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let r = s
        .http
        .get(s.url(&format!("/v1/api/events/{event_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "migrations are not re-applied and data survives a restart"
    );
    s.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_hold_is_released_by_patching_its_status() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (event_id, a, _) = s.create_event(1, 4, 300).await;
    let alice = token("alice");
    let (st, held) = s.hold(&alice, &event_id, &[a[0]]).await;
    assert_eq!(st, 201, "{held}");
    let rid = held["reservationId"].as_str().unwrap();
    let patch = |status: &'static str, who: String| {
        s.http
            .patch(s.url(&format!("/v1/api/reservations/{rid}/status")))
            .bearer_auth(who)
            .json(&json!({ "status": status }))
            .send()
    };
    let r = patch("paid", alice.clone()).await.unwrap();
    assert_eq!(code(r).await, (400, "invalid_reservation_status".into()));
    let r = patch("released", token("bob")).await.unwrap();
    assert_eq!(code(r).await, (404, "reservation_not_found".into()));
    let r = patch("released", alice.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "released");
    let r = patch("released", alice.clone()).await.unwrap();
    assert_eq!(code(r).await, (409, "reservation_not_held".into()));
    let r = s
        .http
        .patch(s.url(&format!("/v1/api/reservations/{rid}/status")))
        .bearer_auth(&alice)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (400, "invalid_json".into()));
    s.stop().await;
    db.cleanup().await;
}

/// A fan who gives up leaves the sale: its holds go back at once and its
/// session ends, announced once, so the queue-server admits the next fan
/// now rather than when the admission runs out.
#[tokio::test]
async fn leaving_the_sale_releases_the_holds_and_ends_the_session_once() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (event_id, a, _) = s.create_event(1, 4, 300).await;
    let leave = |who: &str| s.http.delete(s.url("/v1/api/session")).bearer_auth(who);
    let (st, v) = json_of(s.http.delete(s.url("/v1/api/session"))).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("token_missing"))
    );
    let (st, v) = json_of(leave("not-a-token")).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("token_invalid"))
    );

    let alice = token_with_entry("alice", "entry-alice-leaves");
    let (st, held) = s.hold(&alice, &event_id, &[a[0], a[1]]).await;
    assert_eq!(st, 201, "{held}");
    let rid = held["reservationId"].as_str().unwrap().to_string();
    let (st, v) = json_of(leave(&alice)).await;
    assert_eq!(
        (st, v["entryId"].as_str(), v["status"].as_str()),
        (200, Some("entry-alice-leaves"), Some("released"))
    );
    // The seats are anyone's again; the hold says it was released; the
    // admission buys nothing more; leaving again answers the same.
    let (st, _) = s.hold(&token("bob"), &event_id, &[a[0], a[1]]).await;
    assert_eq!(st, 201, "the leaver's seats can be held at once");
    let (_, got) = json_of(
        s.http
            .get(s.url(&format!("/v1/api/reservations/{rid}")))
            .bearer_auth(token("alice")),
    )
    .await;
    assert_eq!(got["status"], "released");
    let (st, v) = s.hold(&alice, &event_id, &[a[2]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (401, "session_ended")
    );
    let (st, v) = json_of(leave(&alice)).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("released")));

    // A fan admitted who never held anything leaves too.
    let carol = token_with_entry("carol", "entry-carol-leaves");
    let (st, _) = json_of(leave(&carol)).await;
    assert_eq!(st, 200);
    let (st, v) = s.hold(&carol, &event_id, &[a[3]]).await;
    assert_eq!(
        (st, v["error"]["code"].as_str().unwrap()),
        (401, "session_ended")
    );

    let outbox = s.handle.payments().store.unpublished(1_000).await.unwrap();
    let released: Vec<String> = outbox
        .iter()
        .filter(|r| r.topic == "ticketon.sessions")
        .map(|r| serde_json::from_slice::<Value>(&r.payload).unwrap())
        .filter(|v| v["type"] == "released")
        .map(|v| v["entryId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(released, ["entry-alice-leaves", "entry-carol-leaves"]);
    s.stop().await;
    db.cleanup().await;
}

/// `/healthz` says the process is alive; `/readyz` asks each dependency: the
/// database, the seat-lock Redis (distributed locks), and the Kafka producer,
/// which here points at a port where no broker listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_dependency_that_is_down() {
    let db = TestDb::sqlite();
    let ready = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (status, body) = json_of(ready.http.get(ready.url("/readyz"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "database");
    assert_eq!(body["checks"][0]["up"], true);
    ready.stop().await;

    let db = TestDb::sqlite();
    let config = reservation_api::Config {
        listen: "127.0.0.1:0".into(),
        database_url: db.url().into(),
        admin_key: Some(ADMIN_KEY.into()),
        token_secret: Some(SECRET.into()),
        kafka_brokers: Some("127.0.0.1:1".into()),
        payments: reservation_api::config::PaymentsConfig {
            toss: reservation_api::toss::TossConfig::sandbox(([127, 0, 0, 1], 0).into()),
            ..Default::default()
        },
        ..reservation_api::Config::default()
    };
    let no_broker = reservation_api_testkit::server::serve(config, false).await;
    let (status, _) = json_of(no_broker.http.get(no_broker.url("/healthz"))).await;
    assert_eq!(status, 200, "alive without its broker");
    let (status, body) = json_of(no_broker.http.get(no_broker.url("/readyz"))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "dependency_down");
    assert_eq!(body["error"]["message"], "kafka is down");
    let kafka = body["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "kafka"))
        .unwrap_or_else(|| panic!("a kafka check: {body}"));
    assert_eq!(kafka["up"], false);
    no_broker.stop().await;
}

async fn json_of(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The compact seat map: runs per row with run-length statuses, a weak ETag
/// that a poll sends back for a 304, and a new ETag once a seat changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seat_map_is_compact_cacheable_and_follows_holds() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (event_id, a, b) = s.create_event(2, 5, 300).await;
    let map_url = s.url(&format!("/v1/api/events/{event_id}/seat-map"));
    let first = s.http.get(&map_url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "public, max-age=1");
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let map: Value = first.json().await.unwrap();
    assert_eq!(
        (map["available"].as_u64(), map["held"].as_u64()),
        (Some(14), Some(0))
    );
    let sections = map["sections"].as_array().unwrap();
    assert_eq!(sections[0]["name"], "A");
    assert_eq!(sections[0]["runs"].as_array().unwrap().len(), 2, "{map}");
    assert_eq!(
        sections[0]["runs"][0],
        json!({"row": 1, "from": 1, "price": 100000, "ids": [[a[0], 5]], "status": "a5"})
    );
    assert_eq!(sections[1]["runs"][0]["ids"], json!([[b[0], 4]]));

    let unchanged = s
        .http
        .get(&map_url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.bytes().await.unwrap().is_empty());

    let (status, _) = s.hold(&token("fan"), &event_id, &a[1..3]).await;
    assert_eq!(status, 201);
    // The map may be up to --seat-map-max-age old (250 ms by default).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let map = loop {
        let response = s
            .http
            .get(&map_url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
            break response.json::<Value>().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hold never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(map["sections"][0]["runs"][0]["status"], "a1h2a2");
    assert_eq!(map["held"], 2);
    s.stop().await;
}

/// The seat list pages with `limit` and `cursor` (a `Link` header to the
/// next page), keeps its whole answer without them, and is compressed for
/// clients that accept gzip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seat_list_pages_and_answers_are_compressed() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let (event_id, a, b) = s.create_event(2, 5, 300).await;
    let all: Vec<i64> = a.iter().chain(&b).copied().collect();
    let list = s.url(&format!("/v1/api/events/{event_id}/seats"));

    let whole: Vec<Value> = s
        .http
        .get(&list)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whole.len(), all.len(), "no limit: every seat, as before");

    let mut seen = Vec::new();
    let mut next = Some(format!("{list}?limit=4"));
    while let Some(url) = next.take() {
        let response = s.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            s.url(link.trim_start_matches('<').split('>').next().unwrap())
        });
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 4);
        seen.extend(page.iter().map(|seat| seat["seatId"].as_i64().unwrap()));
    }
    assert_eq!(
        seen, all,
        "the pages together are the list, once each, in order"
    );

    for query in ["limit=0x10", "limit=4&cursor=-1", "cursor=3"] {
        let bad = s.http.get(format!("{list}?{query}")).send().await.unwrap();
        assert_eq!(bad.status(), 400, "{query}");
        let bad: Value = bad.json().await.unwrap();
        assert_eq!(bad["error"]["code"], "invalid_query", "{query}");
    }

    let gzipped = s
        .http
        .get(&list)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let plain_len = serde_json::to_vec(&whole).unwrap().len();
    let gzipped_len = gzipped.bytes().await.unwrap().len();
    assert!(gzipped_len * 3 < plain_len, "{gzipped_len} of {plain_len}");
    s.stop().await;
}

/// What schemathesis found (issue 15): a huge `offset` is an empty page, not
/// a crash; an undecodable path segment is a JSON 404, not axum's plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_queries_and_paths_get_the_error_shape() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let r = s
        .http
        .get(s.url("/v1/api/events?limit=20&offset=9223372036854775806"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["events"], json!([]), "{page}");
    for path in ["/v1/api/events/%FF", "/v1/api/events/%FF/seat-map"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(code(r).await, (404, "not_found".into()), "{path}");
    }
    s.stop().await;
    db.cleanup().await;
}
