//! The queue-server's events over the in-process bus: admissions go out in
//! order, session events free slots at once, and a backed-up bus pauses
//! admission instead of losing events.

use std::sync::Arc;
use std::time::Duration;

use queue_server::events::EventLink;
use queue_server::store::memory::MemoryStore;
use queue_server::{RunningServer, ServerSettings};
use serde_json::{json, Value};
use ticketon_bus::memory::InProcessBus;
use ticketon_bus::{publish_event, Delivery, Subscriber};
use ticketon_wire::events::{TOPIC_ADMISSIONS, TOPIC_SESSIONS};
use ticketon_wire::{AdmissionEvent, SessionEvent, EVENT_SCHEMA_VERSION};

const ADMIN: &str = "admin";

async fn start(bus: &InProcessBus) -> RunningServer<MemoryStore> {
    let settings = ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_key: ADMIN.into(),
        token_secret: "secret".into(),
        limits: Default::default(),
        reservation_public_url: None,
    };
    let link = EventLink {
        publisher: Arc::new(bus.clone()),
        sessions: bus.subscribe("queue-server", &[TOPIC_SESSIONS]).unwrap(),
        publish_entries: false,
    };
    queue_server::start_with_events(settings, MemoryStore::new(), Some(link))
        .await
        .unwrap()
}

async fn put_queue(client: &reqwest::Client, base: &str, rate: u32, max_active: u32) {
    let resp = client
        .put(format!("{base}/v1/api/queues/sale"))
        .bearer_auth(ADMIN)
        .json(&json!({"admissionRatePerSec": rate, "maxActive": max_active, "sessionTtlSec": 600}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

async fn join(client: &reqwest::Client, base: &str, user: &str) -> String {
    let body: Value = client
        .post(format!("{base}/v1/api/queues/sale/entries"))
        .json(&json!({ "userId": user }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["entryId"].as_str().unwrap().to_string()
}

async fn next_admission(sub: &mut Box<dyn Subscriber>) -> (Delivery, AdmissionEvent) {
    let delivery = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an admission event within 5 s")
        .unwrap();
    let event = serde_json::from_slice(&delivery.payload).unwrap();
    (delivery, event)
}

/// The queue `sale` as `GET /v1/api/queues/sale` answers it.
async fn queue(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/v1/api/queues/sale"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn active(client: &reqwest::Client, base: &str) -> u64 {
    queue(client, base).await["active"].as_u64().unwrap()
}

#[tokio::test]
async fn finished_sessions_let_the_next_fan_in_and_active_never_exceeds_max() {
    let bus = InProcessBus::new(10_000);
    let mut admissions = bus
        .subscribe("reservation-api", &[TOPIC_ADMISSIONS])
        .unwrap();
    let server = start(&bus).await;
    let base = format!("http://{}", server.addr);
    let client = ticketon_runtime::test_env::http_client();
    put_queue(&client, &base, 1000, 2).await;
    let mut entries = Vec::new();
    for i in 0..6 {
        entries.push(join(&client, &base, &format!("fan-{i}")).await);
    }

    // Each admitted buyer finishes at once (half complete, half release):
    // the slot frees now, not when the 600 s session would run out.
    let mut admitted = Vec::new();
    let mut left = 0;
    while admitted.len() < entries.len() || left < entries.len() {
        let (delivery, event) = next_admission(&mut admissions).await;
        admissions.commit(&delivery).unwrap();
        match event {
            AdmissionEvent::Admitted {
                entry_id,
                user_id,
                queue_id,
                ..
            } => {
                assert!(active(&client, &base).await <= 2, "active above maxActive");
                let finished = if admitted.len() % 2 == 0 {
                    SessionEvent::Completed {
                        schema: EVENT_SCHEMA_VERSION,
                        queue_id,
                        entry_id: entry_id.clone(),
                        user_id,
                        at: 0,
                    }
                } else {
                    SessionEvent::Released {
                        schema: EVENT_SCHEMA_VERSION,
                        queue_id,
                        entry_id: entry_id.clone(),
                        user_id,
                        at: 0,
                    }
                };
                publish_event(&bus, &finished).unwrap();
                // The same event delivered twice changes nothing.
                publish_event(&bus, &finished).unwrap();
                admitted.push(entry_id);
            }
            AdmissionEvent::Left { .. } => left += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(admitted, entries, "admitted in join order, each once");
    assert_eq!(active(&client, &base).await, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_bus_pauses_admission_and_loses_nothing() {
    // Room for three records: the admissions consumer below does not commit
    // at first, so the bus fills up.
    let bus = InProcessBus::new(3);
    let mut admissions = bus
        .subscribe("reservation-api", &[TOPIC_ADMISSIONS])
        .unwrap();
    let server = start(&bus).await;
    let base = format!("http://{}", server.addr);
    let client = ticketon_runtime::test_env::http_client();
    // 100/s: a tick admits two or three, so the bus fills after a few ticks.
    put_queue(&client, &base, 100, 100).await;
    let mut entries = Vec::new();
    for i in 0..10 {
        entries.push(join(&client, &base, &format!("fan-{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admitted_while_full = queue(&client, &base).await["admittedTotal"]
        .as_u64()
        .unwrap();
    assert!(
        admitted_while_full < 10,
        "admission should pause while events cannot be published, admitted {admitted_while_full}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("ticketon_queue_events_pending 0"),
        "{metrics}"
    );

    // Now consume and commit: every admission arrives, in join order, once.
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let (delivery, event) = next_admission(&mut admissions).await;
        if let AdmissionEvent::Admitted { entry_id, .. } = event {
            seen.push(entry_id);
        }
        admissions.commit(&delivery).unwrap();
    }
    assert_eq!(seen, entries);
    server.shutdown().await;
}

#[tokio::test]
async fn a_sold_out_sale_stops_its_line_and_tells_it() {
    let bus = InProcessBus::new(10_000);
    let server = start(&bus).await;
    let base = format!("http://{}", server.addr);
    let client = ticketon_runtime::test_env::http_client();
    // One slot, taken by the first fan: the line stands while the sale sells out.
    put_queue(&client, &base, 100, 1).await;
    join(&client, &base, "buyer").await;
    let waiting = join(&client, &base, "in-line").await;
    let sold_out = SessionEvent::SoldOut {
        schema: EVENT_SCHEMA_VERSION,
        queue_id: "sale".into(),
        event_id: "ev".into(),
        at: 0,
    };
    publish_event(&bus, &sold_out).unwrap();
    // Delivered twice, as Kafka may: the second changes nothing.
    publish_event(&bus, &sold_out).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let stopped = loop {
        let now = queue(&client, &base).await;
        if now["status"] == "sold_out" || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stopped["status"], "sold_out", "{stopped}");

    let poll: Value = client
        .get(format!("{base}/v1/api/queues/sale/entries/{waiting}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(poll["status"], "waiting", "{poll}");
    assert_eq!(poll["queueStatus"], "sold_out", "{poll}");

    let late = client
        .post(format!("{base}/v1/api/queues/sale/entries"))
        .json(&json!({ "userId": "too-late" }))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409);
    let late: Value = late.json().await.unwrap();
    assert_eq!(late["error"]["code"], "sold_out", "{late}");
    // A fan already in line who joins again still gets their entry.
    assert_eq!(join(&client, &base, "in-line").await, waiting);

    // An operator who closed a sold-out queue keeps it closed when the
    // event is announced again.
    let close = client
        .patch(format!("{base}/v1/api/queues/sale/status"))
        .bearer_auth(ADMIN)
        .json(&json!({"status": "closed"}))
        .send()
        .await
        .unwrap();
    assert!(close.status().is_success());
    publish_event(&bus, &sold_out).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = queue(&client, &base).await;
    assert_eq!(closed["status"], "closed", "{closed}");
    server.shutdown().await;
}
