//! The two services through a real Kafka-protocol broker (tansu): fans join
//! the queue-server, admissions flow to the reservation-api over
//! `ticketon.admissions`, finished purchase sessions flow back over
//! `ticketon.sessions` and let the next fan in long before any session would
//! time out. A third of the buyers pay (`completed`), a third give up
//! (`released`), a third let their hold run out (`expired`).
//! Midway the broker is frozen for a while: nothing is lost, nothing is
//! applied twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_server::events::EventLink as QueueEvents;
use queue_server::store::memory::MemoryStore;
use queue_server::{RunningServer, ServerSettings};
use reservation_api::app::EventLink;
use reservation_api::clock::SystemClock;
use reservation_api::domain::session::SessionStatus;
use reservation_api::toss::sandbox::create_payment;
use reservation_api::{App, Config};
use reservation_api_testkit::*;
use serde_json::{json, Value};
use ticketon_bus::kafka::{KafkaConfig, KafkaPublisher, KafkaSubscriber};
use ticketon_runtime::test_env::{service_unavailable, Broker};
use ticketon_wire::events::{TOPIC_ADMISSIONS, TOPIC_SESSIONS};

const FANS: usize = 6;

/// The Toss sandbox on a port of its own, so tests can run side by side.
fn sandbox_on_any_port() -> reservation_api::config::PaymentsConfig {
    reservation_api::config::PaymentsConfig {
        toss: reservation_api::toss::TossConfig::sandbox("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    }
}
const MAX_ACTIVE: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_and_finished_sessions_flow_through_kafka() {
    let broker = match Broker::own() {
        Ok(b) => b,
        Err(e) => return service_unavailable("Kafka (tansu)", e),
    };
    let kafka = KafkaConfig::new(broker.brokers.clone());
    let run = uuid::Uuid::new_v4().simple().to_string();

    let queue = start_queue(&kafka, &format!("qs-{run}")).await;
    let db = TestDb::sqlite();
    // Sweeps every 100 ms, so a hold that runs out ends its session promptly.
    let s = start_reservations(&kafka, &format!("ra-{run}"), db.url(), 100).await;
    let q = |path: &str| format!("http://{}/v1/api/queues/{QUEUE}{path}", queue.addr);

    // Sessions last ten minutes: only session events can free slots in time.
    let r = s
        .http
        .put(q(""))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"admissionRatePerSec": 100, "maxActive": MAX_ACTIVE, "sessionTtlSec": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Holds last 2 s, so the buyers who do nothing end their session by expiry.
    let (event_id, seats, _) = s.create_event(1, FANS as u32, 2).await;

    let mut entries = Vec::new();
    for i in 0..FANS {
        let body: Value = s
            .http
            .post(q("/entries"))
            .json(&json!({"userId": format!("fan-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        entries.push(body["entryId"].as_str().unwrap().to_string());
    }

    let mut held: HashMap<usize, String> = HashMap::new();
    let mut max_active_seen = 0;
    let mut paused_once = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    while held.len() < FANS {
        assert!(
            Instant::now() < deadline,
            "only {} of {FANS} fans got in: {held:?}",
            held.len()
        );
        let queue_state: Value = s
            .http
            .get(q(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let active = queue_state["active"].as_u64().unwrap();
        max_active_seen = max_active_seen.max(active);
        assert!(active <= MAX_ACTIVE, "active {active} above maxActive");
        for (i, entry) in entries.iter().enumerate() {
            if held.contains_key(&i) {
                continue;
            }
            let polled: Value = s
                .http
                .get(q(&format!("/entries/{entry}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if polled["status"] != "admitted" {
                continue;
            }
            let token = polled["admissionToken"].as_str().unwrap().to_string();
            let (status, hold) = s.hold(&token, &event_id, &[seats[i]]).await;
            assert_eq!(status, 201, "{hold}");
            let reservation = hold["reservationId"].as_str().unwrap().to_string();
            match i % 3 {
                0 => {
                    let (status, body) = s.release(&token, &reservation).await;
                    assert_eq!(status, 200, "{body}");
                }
                1 => pay(&s, &token, &reservation, hold["amount"].as_i64().unwrap()).await,
                _ => {} // does nothing: the hold runs out
            }
            held.insert(i, reservation);
        }
        if !paused_once && held.len() >= 2 {
            // Kafka unavailable for a while: events wait in the producers'
            // buffers and the outbox, and go once it answers again.
            paused_once = true;
            broker.pause().unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            broker.resume().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused_once);
    assert!(max_active_seen >= 1, "nobody was ever active");

    // Every admission reached the reservation-api once in effect, and every
    // session ended exactly as its buyer ended it.
    let store = &s.handle.reservations().store;
    let mut statuses = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (i, entry) in entries.iter().enumerate() {
            statuses.insert(i, store.session_status(entry).await.unwrap());
        }
        let expected_all = statuses.iter().all(|(i, st)| {
            *st == Some(match i % 3 {
                0 => SessionStatus::Released,
                1 => SessionStatus::Completed,
                _ => SessionStatus::Expired,
            })
        });
        if expected_all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sessions did not settle: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And the queue-server freed each slot once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queue_state: Value = s
            .http
            .get(q(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if queue_state["active"] == 0 {
            assert_eq!(queue_state["admittedTotal"], FANS as u64);
            break;
        }
        assert!(Instant::now() < deadline, "slots not freed: {queue_state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = s
        .http
        .get(format!("http://{}/metrics", queue.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("ticketon_queue_leaves_total {FANS}")),
        "{metrics}"
    );
    // The relay empties the outbox shortly after each commit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outbox = reservation_metrics(&s).await;
        if outbox.contains("ticketon_reservation_outbox_unpublished 0") {
            break;
        }
        let pending = s
            .handle
            .reservations()
            .store
            .unpublished(100)
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {outbox}\n{pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
    let rows: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT payload FROM outbox WHERE topic = ? ORDER BY id")
            .bind(TOPIC_SESSIONS)
            .fetch_all(&pool)
            .await
            .unwrap();
    // Each session's end was announced exactly once.
    let mut announced: Vec<String> = rows
        .iter()
        .map(|(payload,)| {
            let event: Value = serde_json::from_slice(payload).unwrap();
            event["entryId"].as_str().unwrap().to_string()
        })
        .collect();
    announced.sort();
    let mut expected = entries.clone();
    expected.sort();
    assert_eq!(announced, expected);
    queue.shutdown().await;
    s.stop().await;
    db.cleanup().await;
}

/// Pays a hold the way the Toss widget and the buyer's page do.
async fn pay(s: &TestServer, token: &str, reservation: &str, amount: i64) {
    let sandbox = s
        .handle
        .toss_sandbox_url()
        .expect("the embedded Toss sandbox");
    let payment_key = create_payment(&sandbox, reservation, amount, None)
        .await
        .unwrap();
    let r = s
        .http
        .post(s.url("/v1/api/payments"))
        .bearer_auth(token)
        .json(&json!({"reservationId": reservation, "paymentKey": payment_key, "amount": amount}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// A queue-server on the in-memory store, its events over Kafka.
async fn start_queue(kafka: &KafkaConfig, sessions_group: &str) -> RunningServer<MemoryStore> {
    queue_server::start_with_events(
        ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_key: ADMIN_KEY.into(),
            token_secret: SECRET.into(),
            limits: Default::default(),
            reservation_public_url: None,
        },
        MemoryStore::new(),
        Some(QueueEvents {
            publisher: Arc::new(KafkaPublisher::new(kafka).unwrap()),
            sessions: KafkaSubscriber::subscribe(kafka, sessions_group, &[TOPIC_SESSIONS]).unwrap(),
            publish_entries: false,
        }),
    )
    .await
    .unwrap()
}

/// A reservation-api on `db_url`, its events over Kafka.
async fn start_reservations(
    kafka: &KafkaConfig,
    group: &str,
    db_url: &str,
    sweep_interval_ms: u64,
) -> TestServer {
    let app = App::build_with_events(
        Config {
            listen: "127.0.0.1:0".into(),
            database_url: db_url.into(),
            admin_key: Some(ADMIN_KEY.into()),
            token_secret: Some(SECRET.into()),
            sweep_interval_ms,
            payments: sandbox_on_any_port(),
            ..Config::default()
        },
        Arc::new(SystemClock),
        Some(EventLink {
            publisher: Arc::new(KafkaPublisher::new(kafka).unwrap()),
            admissions: KafkaSubscriber::subscribe(kafka, group, &[TOPIC_ADMISSIONS]).unwrap(),
        }),
    )
    .await
    .unwrap();
    let handle = app.spawn().unwrap();
    TestServer {
        base: format!("http://{}", handle.local_addr()),
        handle,
        http: ticketon_runtime::test_env::http_client(),
        clock: None,
        redis: None,
    }
}

/// The reservation-api's Prometheus page.
async fn reservation_metrics(s: &TestServer) -> String {
    s.http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn applied(s: &TestServer) -> u64 {
    reservation_metrics(s)
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix("ticketon_reservation_admission_events_total{outcome=\"applied\"} ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn active_sessions(s: &TestServer, entries: &[String]) -> usize {
    let store = &s.handle.reservations().store;
    let mut n = 0;
    for entry in entries {
        if store.session_status(entry).await.unwrap() == Some(SessionStatus::Active) {
            n += 1;
        }
    }
    n
}

/// The reservation-api stops while admissions keep coming; a new instance in
/// the same consumer group picks up where the first committed: every
/// admission applied, none applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_reservation_api_resumes_from_its_commits() {
    let broker = match Broker::own() {
        Ok(b) => b,
        Err(e) => return service_unavailable("Kafka (tansu)", e),
    };
    let kafka = KafkaConfig::new(broker.brokers.clone());
    let group = format!("ra-{}", uuid::Uuid::new_v4().simple());
    let queue = start_queue(&kafka, &format!("{group}-qs")).await;
    let http = ticketon_runtime::test_env::http_client();
    let q = |path: &str| format!("http://{}/v1/api/queues/{QUEUE}{path}", queue.addr);
    http.put(q(""))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"admissionRatePerSec": 1000, "maxActive": 1000, "sessionTtlSec": 600}))
        .send()
        .await
        .unwrap();
    let join = |user: String| {
        let http = http.clone();
        let url = q("/entries");
        async move {
            let body: Value = http
                .post(url)
                .json(&json!({ "userId": user }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["entryId"].as_str().unwrap().to_string()
        }
    };
    let wait_for = |what: &'static str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        move || assert!(Instant::now() < deadline, "timed out waiting for {what}")
    };

    let db = TestDb::sqlite();
    let first = start_reservations(&kafka, &group, db.url(), 1000).await;
    let mut entries = Vec::new();
    for i in 0..10 {
        entries.push(join(format!("early-{i}")).await);
    }
    let check = wait_for("the first instance to apply the first admissions");
    while active_sessions(&first, &entries).await < entries.len() {
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied_by_first = applied(&first).await;
    first.stop().await;

    for i in 0..10 {
        entries.push(join(format!("late-{i}")).await);
    }
    let second = start_reservations(&kafka, &group, db.url(), 1000).await;
    let check = wait_for("the second instance to apply the rest");
    while active_sessions(&second, &entries).await < entries.len() {
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Committed offsets were respected: the second instance applied only
    // what the first had not (a crash, unlike this clean stop, could
    // redeliver a record; applying it again would change nothing).
    assert_eq!(applied_by_first, 10);
    assert_eq!(applied(&second).await, 10);

    queue.shutdown().await;
    second.stop().await;
    db.cleanup().await;
}
