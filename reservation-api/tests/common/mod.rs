//! Shared test harness: a fresh database per test (a SQLite temp file, or a
//! uniquely named MariaDB database that is dropped afterwards), a server on
//! 127.0.0.1:0 with a known admin key and token secret, and token minting.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reservation_api::clock::{Clock, ManualClock, SystemClock};
use reservation_api::{App, Config, SeatLockKind, ServerHandle};
use serde_json::{json, Value};
use sqlx::Connection;
use ticketon_runtime::test_env::{env_or, service_unavailable};
use ticketon_wire::{AdmissionClaims, ADMISSION_ISSUER};

pub(crate) const ADMIN_KEY: &str = "test-admin-key";
pub(crate) const SECRET: &str = "test-token-secret";
pub(crate) const QUEUE: &str = "concert-q";

pub(crate) enum TestDb {
    Sqlite {
        url: String,
        path: PathBuf,
    },
    MySql {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    pub(crate) fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "ticketon-resv-test-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        TestDb::Sqlite {
            url: format!("sqlite://{}", path.display()),
            path,
        }
    }

    /// None (after reporting) when MariaDB is unreachable.
    pub(crate) async fn mysql() -> Option<TestDb> {
        let admin_url = env_or("TICKETON_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306");
        let admin_url = admin_url.trim_end_matches('/').to_string();
        let mut conn = match sqlx::MySqlConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                service_unavailable("MariaDB", e);
                return None;
            }
        };
        let name = format!("ticketon_resv_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        Some(TestDb::MySql {
            url: format!("{admin_url}/{name}"),
            admin_url,
            name,
        })
    }

    pub(crate) fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::MySql { url, .. } => url,
        }
    }

    pub(crate) async fn cleanup(self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::MySql {
                admin_url, name, ..
            } => {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            }
        }
    }
}

/// A Redis URL for the distributed strategy, or None (after reporting).
pub(crate) async fn redis_url() -> Option<String> {
    let url = env_or("TICKETON_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let reachable = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match reachable.await {
        Ok(_) => Some(url),
        Err(e) => {
            service_unavailable("Redis", e);
            None
        }
    }
}

pub(crate) async fn redis_cleanup(url: &str, prefix: &str) {
    if let Ok(client) = redis::Client::open(url) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
    }
}

pub(crate) fn now_s() -> i64 {
    SystemClock.now_ms() / 1000
}

pub(crate) fn token_for(user: &str, queue: &str, exp: i64) -> String {
    AdmissionClaims {
        sub: user.into(),
        qid: queue.into(),
        eid: format!("entry-{user}"),
        iat: now_s(),
        exp,
        iss: ADMISSION_ISSUER.into(),
    }
    .sign(SECRET.as_bytes())
}

/// A token of another admission (entry) of the same user.
pub(crate) fn token_with_entry(user: &str, entry: &str) -> String {
    AdmissionClaims {
        sub: user.into(),
        qid: QUEUE.into(),
        eid: entry.into(),
        iat: now_s(),
        exp: now_s() + 3600,
        iss: ADMISSION_ISSUER.into(),
    }
    .sign(SECRET.as_bytes())
}

pub(crate) fn token(user: &str) -> String {
    token_for(user, QUEUE, now_s() + 3600)
}

pub(crate) struct TestServer {
    pub handle: ServerHandle,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Option<Arc<ManualClock>>,
    pub redis: Option<(String, String)>,
}

/// Starts a server. `redis`: Some(url) for the distributed strategy.
pub(crate) async fn start(
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
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()
            .expect("client"),
        clock: manual,
        redis: redis.map(|u| (u, prefix)),
    }
}

impl TestServer {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn stop(self) {
        self.handle.shutdown().await.expect("shutdown");
        if let Some((url, prefix)) = self.redis {
            redis_cleanup(&url, &prefix).await;
        }
    }

    /// Creates an on-sale event: sections A (rows x per_row at 100,000 KRW)
    /// and B (1 row of 4 at 50,000 KRW). Returns (eventId, seats of A, seats of B).
    pub(crate) async fn create_event(
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

    pub(crate) async fn hold(&self, token: &str, event_id: &str, seats: &[i64]) -> (u16, Value) {
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

    pub(crate) async fn release(&self, token: &str, reservation_id: &str) -> (u16, Value) {
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
