//! A reservation-api on 127.0.0.1:0 with the test keys, its own embedded
//! Toss sandbox, and the HTTP calls most tests make.

use std::sync::Arc;

use reservation_api::clock::{Clock, ManualClock, SystemClock};
use reservation_api::{App, Config, SeatLockKind, ServerHandle};
use serde_json::{json, Value};
use ticketon_runtime::test_env::http_client;

use crate::db::redis_cleanup;
use crate::tokens::{ADMIN_KEY, QUEUE, SECRET};

/// A running server and a client for it.
#[derive(Debug)]
pub struct TestServer {
    pub handle: ServerHandle,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Option<Arc<ManualClock>>,
    pub redis: Option<(String, String)>,
}

/// Starts a server. `redis`: Some(url) for the distributed strategy.
pub async fn start(
    db_url: &str,
    seat_lock: SeatLockKind,
    redis: Option<String>,
    manual_clock: bool,
) -> TestServer {
    let prefix = format!("ticketon:test:{}", uuid::Uuid::new_v4().simple());
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: db_url.into(),
        database_max_connections: 16,
        admin_key: Some(ADMIN_KEY.into()),
        token_secret: Some(SECRET.into()),
        seat_lock,
        redis_url: redis.clone(),
        redis_prefix: prefix.clone(),
        sweep_interval_ms: 50,
        // Each server gets its own embedded Toss sandbox on a free port.
        payments: reservation_api::config::PaymentsConfig {
            toss: reservation_api::toss::TossConfig::sandbox(([127, 0, 0, 1], 0).into()),
            ..Default::default()
        },
        ..Config::default()
    };
    let mut server = serve(config, manual_clock).await;
    server.redis = redis.map(|u| (u, prefix));
    server
}

/// Builds and spawns a server with `config`, on a manual clock if asked.
pub async fn serve(config: Config, manual_clock: bool) -> TestServer {
    let manual = manual_clock.then(|| Arc::new(ManualClock::starting_now()));
    let clock: Arc<dyn Clock> = match &manual {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let app = App::build_with_clock(config, clock)
        .await
        .expect("build app");
    let handle = app.spawn().expect("spawn app");
    TestServer {
        base: format!("http://{}", handle.local_addr()),
        handle,
        http: http_client(),
        clock: manual,
        redis: None,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(self) {
        self.handle.shutdown().await.expect("shutdown");
        if let Some((url, prefix)) = self.redis {
            redis_cleanup(&url, &prefix).await;
        }
    }

    /// Creates an on-sale event: sections A (rows x per_row at 100,000 KRW)
    /// and B (1 row of 4 at 50,000 KRW). Returns (eventId, seats of A, seats of B).
    pub async fn create_event(
        &self,
        rows: u32,
        per_row: u32,
        hold_ttl_sec: u32,
    ) -> (String, Vec<i64>, Vec<i64>) {
        let resp = self
            .http
            .post(self.url("/v1/api/events"))
            .header("x-admin-key", ADMIN_KEY)
            .json(&json!({
                "name": "Test Concert", "venue": "Hall", "startsAt": "2026-06-01T19:00:00+09:00",
                "queueId": QUEUE, "holdTtlSec": hold_ttl_sec, "maxSeatsPerOrder": 4,
                "sections": [
                    {"name": "A", "rows": rows, "seatsPerRow": per_row, "price": 100000},
                    {"name": "B", "rows": 1, "seatsPerRow": 4, "price": 50000}
                ]
            }))
            .send()
            .await
            .expect("create event");
        assert_eq!(resp.status(), 201);
        let ev: Value = resp.json().await.expect("event json");
        let id = ev["eventId"].as_str().expect("eventId").to_string();
        let seats: Vec<Value> = self
            .http
            .get(self.url(&format!("/v1/api/events/{id}/seats")))
            .send()
            .await
            .expect("seats")
            .json()
            .await
            .expect("seats json");
        let of = |section: &str| {
            seats
                .iter()
                .filter(|s| s["section"] == section)
                .map(|s| s["seatId"].as_i64().expect("seatId"))
                .collect::<Vec<_>>()
        };
        (id, of("A"), of("B"))
    }

    pub async fn hold(&self, token: &str, event_id: &str, seats: &[i64]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url("/v1/api/reservations"))
            .bearer_auth(token)
            .json(&json!({"eventId": event_id, "seatIds": seats}))
            .send()
            .await
            .expect("hold request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn release(&self, token: &str, reservation_id: &str) -> (u16, Value) {
        let resp = self
            .http
            .delete(self.url(&format!("/v1/api/reservations/{reservation_id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("release request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}
