//! The queue-server's HTTP API through a real socket: every endpoint and
//! every documented error status.

use std::time::Duration;

use queue_server::model::{QueueId, QueueSettings, QueueStatus, Seq, UserId};
use queue_server::store::{EntryView, JoinedEntry, QueueInfo, QueueStore, QueueTick, StoreError};
use queue_server::{RunningServer, ServerSettings};
use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketon_wire::{AdmissionClaims, TokenError};

const ADMIN: &str = "test-admin-key";
const SECRET: &str = "test-token-secret-of-at-least-32-bytes";

struct Harness<S> {
    server: RunningServer<S>,
    client: reqwest::Client,
}

fn settings() -> ServerSettings {
    ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_key: ADMIN.into(),
        token_secret: SECRET.into(),
        limits: Default::default(),
        reservation_public_url: None,
    }
}

async fn harness() -> Harness<queue_server::store::memory::MemoryStore> {
    Harness {
        server: queue_server::start_memory(settings()).await.unwrap(),
        client: ticketon_runtime::test_env::http_client(),
    }
}

impl<S: QueueStore> Harness<S> {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.addr, path)
    }

    async fn put_queue(&self, id: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .client
            .put(self.url(&format!("/v1/api/queues/{id}")))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn join(&self, queue: &str, user: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(self.url(&format!("/v1/api/queues/{queue}/entries")))
            .json(&json!({ "userId": user }))
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn poll(&self, queue: &str, entry: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(self.url(&format!("/v1/api/queues/{queue}/entries/{entry}")))
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    async fn set_status(&self, queue: &str, status: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .patch(self.url(&format!("/v1/api/queues/{queue}/status")))
            .bearer_auth(ADMIN)
            .json(&json!({ "status": status }))
            .send()
            .await
            .unwrap();
        read(resp).await
    }

    /// Polls until the entry is admitted (admission runs every 10 ms).
    async fn wait_admitted(&self, queue: &str, entry: &str) -> Value {
        for _ in 0..500 {
            let (status, body) = self.poll(queue, entry).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["status"] == "admitted" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("entry {entry} was not admitted within 5 s");
    }
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

fn queue_body(rate: u32, max_active: u32) -> Value {
    json!({ "admissionRatePerSec": rate, "maxActive": max_active, "sessionTtlSec": 600 })
}

#[tokio::test]
async fn queue_admin_lifecycle() {
    let h = harness().await;
    let (status, body) = h.put_queue("sale-1", queue_body(100, 50)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["queueId"], "sale-1");
    assert_eq!(body["status"], "open");
    assert_eq!(body["maxActive"], 50);

    let (status, body) = h.put_queue("sale-1", queue_body(200, 50)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["admissionRatePerSec"], 200);

    let (status, body) = h.set_status("sale-1", "paused").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "paused");

    let (status, body) = read(
        h.client
            .get(h.url("/v1/api/queues/sale-1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "queueId",
        "status",
        "waiting",
        "active",
        "admittedTotal",
        "admissionRatePerSec",
        "maxActive",
        "sessionTtlSec",
    ] {
        assert!(!body[field].is_null(), "missing {field} in {body}");
    }

    let resp = h
        .client
        .delete(h.url("/v1/api/queues/sale-1"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, body) = read(
        h.client
            .get(h.url("/v1/api/queues/sale-1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_queue_can_be_created_paused() {
    let h = harness().await;
    let mut body = queue_body(100, 50);
    body["status"] = json!("paused");
    let (status, body) = h.put_queue("staged", body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "paused");
    h.server.shutdown().await;
}

#[tokio::test]
async fn admin_calls_need_the_admin_key() {
    let h = harness().await;
    let url = h.url("/v1/api/queues/q");
    let resp = h
        .client
        .put(&url)
        .json(&queue_body(1, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let (status, body) = read(resp).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    let resp = h
        .client
        .put(&url)
        .bearer_auth("wrong")
        .json(&queue_body(1, 1))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    for request in [
        h.client
            .patch(h.url("/v1/api/queues/q/status"))
            .json(&json!({"status":"open"})),
        h.client.delete(&url),
    ] {
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    h.server.shutdown().await;
}

#[tokio::test]
async fn bad_admin_input_is_a_400() {
    let h = harness().await;
    let (status, body) = h
        .put_queue(
            "q",
            json!({"admissionRatePerSec": 0, "maxActive": 1, "sessionTtlSec": 1}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = h.put_queue("q", json!({"maxActive": 1})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = h.put_queue("bad id!", queue_body(1, 1)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = h
        .put_queue(
            "q",
            json!({"admissionRatePerSec": -1, "maxActive": 1, "sessionTtlSec": 1}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    // A misspelt or unknown setting is refused, named, never ignored: a
    // sale scheduled by a field this server does not know would start at once.
    let mut typo = queue_body(1, 1);
    typo["opensAtt"] = json!("2030-01-01T10:00:00Z");
    let (status, body) = h.put_queue("q", typo).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("opensAtt"),
        "{body}"
    );

    let resp = h
        .client
        .put(h.url("/v1/api/queues/q"))
        .bearer_auth(ADMIN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");

    h.put_queue("q", queue_body(1, 1)).await;
    let (status, body) = h.set_status("q", "running").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = h.set_status("nope", "open").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    h.server.shutdown().await;
}

#[tokio::test]
async fn join_poll_admit_and_leave() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1000, 1)).await;

    let (status, first) = h.join("sale", "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["queueId"], "sale");
    assert_eq!(first["userId"], "alice");
    let entry_a = first["entryId"].as_str().unwrap().to_string();

    let (status, again) = h.join("sale", "alice").await;
    assert_eq!(status, StatusCode::OK, "a second tab gets the same entry");
    assert_eq!(again["entryId"], entry_a.as_str());

    let (status, bob) = h.join("sale", "bob").await;
    assert_eq!(status, StatusCode::CREATED);
    let entry_b = bob["entryId"].as_str().unwrap().to_string();

    let admitted = h.wait_admitted("sale", &entry_a).await;
    let token = admitted["admissionToken"].as_str().unwrap();
    let claims = AdmissionClaims::verify(token, SECRET.as_bytes()).unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.qid, "sale");
    assert_eq!(claims.eid, entry_a);
    assert_eq!(claims.iss, "ticketon-queue");
    assert_eq!(claims.exp - claims.iat, 600);
    assert!(admitted["expiresAt"].as_str().unwrap().ends_with('Z'));

    // maxActive = 1: bob waits at the front until alice leaves.
    let (status, waiting) = h.poll("sale", &entry_b).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(waiting["status"], "waiting");
    assert_eq!(waiting["position"], 1);
    assert!(waiting["etaSeconds"].as_u64().is_some());
    assert!(waiting["pollAfterMs"].as_u64().unwrap() >= 1000);

    let resp = h
        .client
        .delete(h.url(&format!("/v1/api/queues/sale/entries/{entry_a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, left) = h.poll("sale", &entry_a).await;
    assert_eq!(left, json!({"status": "left"}));
    h.wait_admitted("sale", &entry_b).await;

    let (_, queue) = read(
        h.client
            .get(h.url("/v1/api/queues/sale"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(queue["admittedTotal"], 2);
    assert_eq!(queue["active"], 1);
    assert_eq!(queue["waiting"], 0);
    h.server.shutdown().await;
}

#[tokio::test]
async fn an_admitted_session_expires() {
    let h = harness().await;
    h.put_queue(
        "short",
        json!({"admissionRatePerSec": 100, "maxActive": 10, "sessionTtlSec": 1}),
    )
    .await;
    let (_, joined) = h.join("short", "u").await;
    let entry = joined["entryId"].as_str().unwrap();
    h.wait_admitted("short", entry).await;
    let mut last = Value::Null;
    for _ in 0..300 {
        last = h.poll("short", entry).await.1;
        if last["status"] == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last, json!({"status": "expired"}));
    h.server.shutdown().await;
}

#[tokio::test]
async fn tampered_admission_tokens_do_not_verify() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1000, 10)).await;
    let (_, joined) = h.join("sale", "mallory").await;
    let admitted = h
        .wait_admitted("sale", joined["entryId"].as_str().unwrap())
        .await;
    let token = admitted["admissionToken"].as_str().unwrap();
    // Swap the payload for one claiming another user, keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("somebody-else");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        AdmissionClaims::verify(&forged, SECRET.as_bytes()),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        AdmissionClaims::verify(token, b"another secret"),
        Err(TokenError::Invalid)
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn paused_and_closed_queues() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1000, 10)).await;
    h.set_status("sale", "paused").await;
    let (status, joined) = h.join("sale", "early").await;
    assert_eq!(status, StatusCode::CREATED, "paused queues accept joins");
    let entry = joined["entryId"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, polled) = h.poll("sale", &entry).await;
    assert_eq!(
        polled["status"], "waiting",
        "nobody is admitted while paused"
    );
    assert_eq!(polled["queueStatus"], "paused");

    h.set_status("sale", "closed").await;
    let (status, body) = h.join("sale", "late").await;
    assert_error(status, &body, StatusCode::CONFLICT, "queue_closed");
    let (status, body) = h.join("sale", "early").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an existing entry is still returned: {body}"
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn bad_joins_are_refused_clearly() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1, 1)).await;
    let (status, body) = h.join("nope", "u").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    let (status, body) = h.join("sale", "").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = h.join("sale", &"x".repeat(129)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");

    let post = |body: &'static str| {
        h.client
            .post(h.url("/v1/api/queues/sale/entries"))
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, body) = read(post("{\"userId\":").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, body) = read(post("{\"userId\":42}").send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = read(post("[]").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let huge = format!("{{\"userId\":\"{}\"}}", "x".repeat(10_000));
    let resp = h
        .client
        .post(h.url("/v1/api/queues/sale/entries"))
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn forged_and_foreign_entry_ids_are_404() {
    let h = harness().await;
    h.put_queue("a", queue_body(1, 1)).await;
    h.put_queue("b", queue_body(1, 1)).await;
    let (_, joined) = h.join("a", "u").await;
    let entry = joined["entryId"].as_str().unwrap().to_string();

    // The same id under another queue.
    let (status, body) = h.poll("b", &entry).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");
    // A flipped character.
    let mut forged = entry.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let (status, body) = h.poll("a", std::str::from_utf8(&forged).unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");
    // Garbage, and a well-formed id for a sequence number never issued.
    let (status, body) = h.poll("a", "garbage").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");
    let (status, body) = h.poll("a", "AAAAAAAAAGQAAAAAAAAAAAAAAAA").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");
    // Unknown queue.
    let (status, body) = h.poll("zzz", &entry).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    // Leaving with a forged id is refused too.
    let resp = h
        .client
        .delete(h.url(&format!("/v1/api/queues/b/entries/{entry}")))
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");

    // A queue deleted and created again does not honour old ids.
    h.client
        .delete(h.url("/v1/api/queues/a"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    h.put_queue("a", queue_body(1, 1)).await;
    h.join("a", "someone").await;
    let (status, body) = h.poll("a", &entry).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "entry_not_found");
    h.server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let h = harness().await;
    let (status, body) = read(h.client.get(h.url("/v1/api/nothing")).send().await.unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let resp = h
        .client
        .post(h.url("/v1/api/queues/q"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET, PUT, DELETE");
    let (status, body) = read(resp).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, body) = read(
        h.client
            .get(h.url("/v1/api/queues/q/entries"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn healthz_and_metrics() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1, 1)).await;
    h.join("sale", "u1").await;
    h.join("sale", "u2").await;
    let (status, body) = read(h.client.get(h.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = read(h.client.get(h.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "memory");

    let resp = h.client.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for needle in [
        "ticketon_queue_http_requests_total{route=\"entries\",code=\"201\"} 2",
        "ticketon_queue_joins_total{result=\"created\"} 2",
        "ticketon_queue_http_request_duration_seconds_bucket",
        "ticketon_queue_admissions_total",
        "ticketon_queue_waiting{queue=\"sale\"}",
        "ticketon_queue_active{queue=\"sale\"}",
        "ticketon_queue_max_active{queue=\"sale\"} 1",
        "ticketon_queue_status{queue=\"sale\",status=\"open\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    h.server.shutdown().await;
}

/// A store whose backend is down: every write fails as unavailable.
struct DownStore;

impl QueueStore for DownStore {
    async fn put_queue(
        &self,
        _: QueueId,
        _: QueueSettings,
        _: QueueStatus,
    ) -> Result<(QueueInfo, bool), StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn set_status(&self, _: &str, _: QueueStatus) -> Result<QueueInfo, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn delete_queue(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn join(&self, _: &str, _: UserId) -> Result<JoinedEntry, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn leave(
        &self,
        _: &str,
        _: Seq,
    ) -> Result<Option<queue_server::model::LeaveOutcome>, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn tick(&self, _: u64) -> Result<Vec<QueueTick>, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn load_queue(&self, _: &str) -> Result<QueueInfo, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn claim_once(&self, _: &str, _: &str, _: u64) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    async fn commit_draw(
        &self,
        _: &str,
        _: u64,
        _: queue_server::model::LineOrder,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("backend down".into()))
    }
    fn drawn_order(&self, _: &str) -> Option<queue_server::model::LineOrder> {
        None
    }
    fn queue_info(&self, _: &str) -> Option<QueueInfo> {
        None
    }
    fn entry_view(&self, _: &str, _: Seq) -> Option<EntryView> {
        None
    }
    fn queues(&self) -> Vec<(QueueId, QueueInfo)> {
        Vec::new()
    }
    fn subscribe(
        &self,
        _: &str,
    ) -> Option<tokio::sync::watch::Receiver<queue_server::store::QueueSignal>> {
        None
    }
    fn healthy(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "down-store"
    }
}

#[tokio::test]
async fn an_unavailable_store_answers_503_with_retry_after() {
    let h = Harness {
        server: queue_server::start(settings(), DownStore).await.unwrap(),
        client: ticketon_runtime::test_env::http_client(),
    };
    let resp = h
        .client
        .post(h.url("/v1/api/queues/sale/entries"))
        .json(&json!({"userId": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    let (status, body) = read(resp).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    let (status, _) = read(h.client.get(h.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "alive, even with its store down");
    let (status, body) = read(h.client.get(h.url("/readyz")).send().await.unwrap()).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "dependency_down",
    );
    assert_eq!(body["error"]["message"], "down-store is down");
    assert_eq!(body["checks"][0]["name"], "down-store");
    assert_eq!(body["checks"][0]["up"], false);
    h.server.shutdown().await;
}

/// Sends a raw HTTP/1.1 request whose body arrives in `chunks` (chunked
/// transfer encoding) and returns the status code.
async fn post_chunked(addr: std::net::SocketAddr, path: &str, chunks: &[&[u8]]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) and close before the body is all sent:
    // stop writing then, and read its answer.
    let sent = async {
        for chunk in chunks {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stream.write_all(b"0\r\n\r\n").await
    };
    let _: std::io::Result<()> = sent.await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn bodies_split_across_frames_are_read_whole_and_still_capped() {
    let h = harness().await;
    h.put_queue("sale", queue_body(1, 1)).await;
    let path = "/v1/api/queues/sale/entries";
    let status = post_chunked(h.server.addr, path, &[b"{\"userId\":", b"\"split\"}"]).await;
    assert_eq!(status, 201);
    let big = vec![b' '; 3000];
    let status = post_chunked(h.server.addr, path, &[&big, &big, b"{}"]).await;
    assert_eq!(
        status, 413,
        "a chunked body without Content-Length is capped too"
    );
    h.server.shutdown().await;
}

/// The operator's console: its page, where it finds the reservation-api,
/// and the list of every queue it shows (admin only).
#[tokio::test]
async fn the_console_lists_every_queue() {
    let server = queue_server::start_memory(ServerSettings {
        reservation_public_url: Some("http://tickets.test:8080".into()),
        ..settings()
    })
    .await
    .unwrap();
    let h = Harness {
        server,
        client: ticketon_runtime::test_env::http_client(),
    };
    let page = h.client.get(h.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "public, max-age=0");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' http://tickets.test:8080;"),
        "{csp}"
    );
    let site: Value = h
        .client
        .get(h.url("/admin/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(site, json!({"reservationUrl": "http://tickets.test:8080"}));

    for id in ["b-sale", "a-sale"] {
        let (status, _) = h.put_queue(id, queue_body(5, 10)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    h.join("a-sale", "fan-1").await;
    let resp = h
        .client
        .get(h.url("/v1/api/queues"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queueId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-sale", "b-sale"]);
    assert_eq!(body["queues"][0]["admissionRatePerSec"], 5);
    assert!(
        body["queues"][0]["waiting"].as_u64().unwrap()
            + body["queues"][0]["active"].as_u64().unwrap()
            == 1,
        "{body}"
    );

    let resp = h.client.get(h.url("/v1/api/queues")).send().await.unwrap();
    let (status, body) = read(resp).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let resp = h
        .client
        .post(h.url("/v1/api/queues"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let (status, body) = read(resp).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    h.server.shutdown().await;
}

/// Sends `head` and then `body` on a fresh connection, writing all of it
/// before reading, as Python's urllib does; returns the raw answer, or the
/// error that ended the exchange.
async fn write_then_read(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Slow and oversized bodies (issue 15): a body that stops coming is
/// answered 408 once the header read timeout has passed without a byte,
/// and a body too large to accept is read and dropped before the 413, so
/// a client that writes before it reads still reads the answer.
#[tokio::test]
async fn slow_and_oversized_bodies_get_a_readable_answer() {
    let limits = queue_server::Limits {
        connections: queue_server::http::ConnectionLimits {
            header_read_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = queue_server::start_memory(ServerSettings {
        limits,
        ..settings()
    })
    .await
    .unwrap();
    let h = Harness {
        server,
        client: ticketon_runtime::test_env::http_client(),
    };
    let (status, _) = h.put_queue("slow", queue_body(5, 10)).await;
    assert_eq!(status, StatusCode::CREATED);
    let addr = h.server.addr;

    let head = "POST /v1/api/queues/slow/entries HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n";
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        write_then_read(addr, head, b"{\"userId\":"),
    )
    .await
    .expect("the server answers a stalled body instead of waiting for it")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let big = vec![b'x'; 8 << 20];
    let head = format!(
        "POST /v1/api/queues/slow/entries HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    let answer = write_then_read(addr, &head, &big)
        .await
        .expect("the 413 is readable after writing the whole body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    h.server.shutdown().await;
}

/// Joins of `users` into `queue`, each request saying `X-Forwarded-For: xff`.
async fn joins_forwarded<S: QueueStore>(
    h: &Harness<S>,
    queue: &str,
    users: &[&str],
    xff: &str,
) -> Vec<reqwest::Response> {
    let mut answers = Vec::new();
    for user in users {
        answers.push(
            h.client
                .post(h.url(&format!("/v1/api/queues/{queue}/entries")))
                .header("x-forwarded-for", xff)
                .json(&json!({ "userId": user }))
                .send()
                .await
                .unwrap(),
        );
    }
    answers
}

#[tokio::test]
async fn joins_per_address_are_limited_and_a_forged_forwarded_for_does_not_help() {
    let h = harness().await;
    let (status, queue) = h
        .put_queue(
            "sale",
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
                   "joinsPerIpPerMinute": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{queue}");
    assert_eq!(queue["joinsPerIpPerMinute"], 2);
    // No trusted proxy: each request claims another address, but they all
    // come from this test's socket, and that is what counts.
    let answers = joins_forwarded(&h, "sale", &["a", "b", "c"], "203.0.113.1").await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [201, 201, 429]);
    let refused = answers.into_iter().last().unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One join comes back every 30 s.
    assert!((1..=31).contains(&retry_after), "Retry-After {retry_after}");
    let (status, body) = read(refused).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_joins",
    );
    // Another queue without a limit is not affected.
    h.put_queue(
        "open",
        json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60}),
    )
    .await;
    for i in 0..10 {
        let (status, _) = h.join("open", &format!("fan-{i}")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    h.server.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited() {
    let mut settings = settings();
    settings.limits.trusted_proxies =
        queue_server::http::client_ip::TrustedProxies::parse("127.0.0.1").unwrap();
    let h = Harness {
        server: queue_server::start_memory(settings).await.unwrap(),
        client: ticketon_runtime::test_env::http_client(),
    };
    h.put_queue(
        "sale",
        json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
               "joinsPerIpPerMinute": 1}),
    )
    .await;
    // The proxy (this test, on 127.0.0.1) speaks for two clients: each gets
    // its own allowance, and a second join of the first is refused.
    let first = joins_forwarded(&h, "sale", &["a"], "203.0.113.1").await;
    let second = joins_forwarded(&h, "sale", &["b"], "203.0.113.2").await;
    let again = joins_forwarded(&h, "sale", &["c"], "198.51.100.9, 203.0.113.1").await;
    assert_eq!(first[0].status(), 201);
    assert_eq!(second[0].status(), 201);
    assert_eq!(
        again[0].status(),
        429,
        "the client-written hop on the left does not count"
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_queue_with_proof_of_work_takes_each_solution_once_for_itself() {
    use queue_server::proof_of_work::{solve, ProofOfWork, CHALLENGE_TTL_SEC};
    let h = harness().await;
    let (status, queue) = h
        .put_queue(
            "guarded",
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
                   "powDifficulty": 300}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{queue}");
    assert_eq!(
        (
            queue["powDifficulty"].as_u64(),
            queue["powAdaptive"].as_bool()
        ),
        (Some(300), Some(false))
    );
    h.put_queue(
        "plain",
        json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60}),
    )
    .await;
    let challenge_of = |queue: &str| {
        h.client
            .get(h.url(&format!("/v1/api/queues/{queue}/challenge")))
            .send()
    };
    let join_with = |queue: &str, user: &str, altcha: &str| {
        h.client
            .post(h.url(&format!("/v1/api/queues/{queue}/entries")))
            .json(&json!({"userId": user, "altcha": altcha}))
            .send()
    };

    // Without a solution: told what to do.
    let (status, body) = h.join("guarded", "fan-1").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "pow_required");
    let (status, body) = read(challenge_of("plain").await.unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "pow_not_required");
    let (status, body) = read(challenge_of("nowhere").await.unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");

    // A solved challenge is one join, of its own queue.
    let (status, challenge) = read(challenge_of("guarded").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    assert_eq!(challenge["parameters"]["algorithm"], "PBKDF2/SHA-256");
    assert_eq!(challenge["parameters"]["data"]["queueId"], "guarded");
    let altcha = solve(&serde_json::from_value(challenge).unwrap());
    let (status, body) = read(join_with("guarded", "fan-1", &altcha).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = read(join_with("guarded", "fan-2", &altcha).await.unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "pow_replayed");
    let (status, body) = read(join_with("plain", "fan-2", &altcha).await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a queue without it ignores the field: {body}"
    );
    let mut guarded_twin = h
        .put_queue(
            "guarded-2",
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
                   "powDifficulty": 300}),
        )
        .await;
    assert_eq!(guarded_twin.0, StatusCode::CREATED, "{}", guarded_twin.1);
    let (_, challenge) = read(challenge_of("guarded").await.unwrap()).await;
    let altcha = solve(&serde_json::from_value(challenge).unwrap());
    let (status, body) = read(join_with("guarded-2", "fan-3", &altcha).await.unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "pow_wrong_queue");

    // Expired (made with this server's secret, as a fleet peer would), and
    // garbage.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale =
        ProofOfWork::new(SECRET.as_bytes()).challenge("guarded", 50, now - CHALLENGE_TTL_SEC - 5);
    let (status, body) = read(join_with("guarded", "fan-4", &solve(&stale)).await.unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "pow_expired");
    let (status, body) = read(join_with("guarded", "fan-4", "bm90IGpzb24=").await.unwrap()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "pow_invalid");

    // Settings are checked, and the difficulty can follow the line.
    guarded_twin = h
        .put_queue(
            "guarded-2",
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
                   "powDifficulty": 1_000_001}),
        )
        .await;
    assert_error(
        guarded_twin.0,
        &guarded_twin.1,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    );
    let (status, queue) = h
        .put_queue(
            "guarded-2",
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 60,
                   "powDifficulty": 300, "powAdaptive": true}),
        )
        .await;
    assert_eq!(
        (status, queue["powAdaptive"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    h.server.shutdown().await;
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn a_scheduled_sale_draws_its_prequeue_and_lines_up_later_fans_behind_it() {
    let h = harness().await;
    let opens_at_ms = unix_ms_now() + 1_500;
    let opens_at = queue_server::service::rfc3339(opens_at_ms);
    let plan = json!({"admissionRatePerSec": 1, "maxActive": 100, "sessionTtlSec": 60,
                      "opensAt": opens_at, "prequeue": true});

    // Bad schedules are refused, naming what is wrong.
    for (bad, code) in [
        (json!({"opensAt": "tomorrow"}), "invalid_field"),
        (json!({"opensAt": "2020-01-01T00:00:00Z"}), "invalid_field"),
        (json!({"prequeue": true}), "invalid_field"),
        (
            json!({"opensAt": opens_at, "status": "open"}),
            "invalid_field",
        ),
    ] {
        let mut body = json!({"admissionRatePerSec": 1, "maxActive": 100, "sessionTtlSec": 60});
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let (status, answer) = h.put_queue("bad-schedule", body).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, code);
    }

    let (status, queue) = h.put_queue("drawn", plan.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{queue}");
    assert_eq!(
        (&queue["status"], &queue["prequeue"], &queue["opensAt"]),
        (&json!("prequeue"), &json!(true), &json!(opens_at))
    );
    // The schedule is fixed; settings without it keep it.
    let mut moved = plan.clone();
    moved["opensAt"] = json!(queue_server::service::rfc3339(opens_at_ms + 60_000));
    let (status, body) = h.put_queue("drawn", moved).await;
    assert_error(status, &body, StatusCode::CONFLICT, "schedule_fixed");
    let (status, body) = h
        .put_queue(
            "drawn",
            json!({"admissionRatePerSec": 1, "maxActive": 100, "sessionTtlSec": 60}),
        )
        .await;
    assert_eq!(
        (status, &body["opensAt"]),
        (StatusCode::OK, &json!(opens_at))
    );
    let (status, body) = h.set_status("drawn", "open").await;
    assert_error(status, &body, StatusCode::CONFLICT, "schedule_fixed");
    let (status, body) = h.set_status("drawn", "prequeue").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_field");

    let mut early = Vec::new();
    for i in 0..20 {
        let (status, body) = h.join("drawn", &format!("early-{i}")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "prequeue", "{body}");
        early.push(body);
    }
    let (_, polled) = h.poll("drawn", early[3]["entryId"].as_str().unwrap()).await;
    assert_eq!(polled["status"], "prequeue");
    assert_eq!(polled["participants"], 20);
    assert_eq!(polled["opensAt"], json!(opens_at));
    assert!(polled.get("position").is_none());
    let (p25, p75) = (
        polled["etaSecondsP25"].as_u64().unwrap(),
        polled["etaSecondsP75"].as_u64().unwrap(),
    );
    // 1 a second from the opening: a quarter and three quarters of 20 fans.
    assert!(
        (5..=7).contains(&p25) && (15..=17).contains(&p75),
        "{polled}"
    );
    let draw_record = || async {
        read(
            h.client
                .get(h.url("/v1/api/queues/drawn/draw"))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (status, pending) = draw_record().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &pending["stage"],
            &pending["seed"],
            &pending["participants"]
        ),
        (&json!("pending"), &Value::Null, &json!(20))
    );
    assert_eq!(pending["algorithm"], "ticketon-draw-v1");
    let (status, body) = read(
        h.client
            .get(h.url("/v1/api/queues/nowhere/draw"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "queue_not_found");

    tokio::time::sleep(Duration::from_millis(
        opens_at_ms.saturating_sub(unix_ms_now()) + 20,
    ))
    .await;
    let mut late = Vec::new();
    for i in 0..5 {
        let (status, body) = h.join("drawn", &format!("late-{i}")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        late.push(body["entryId"].as_str().unwrap().to_string());
    }
    let mut drawn = Value::Null;
    for _ in 0..100 {
        let (_, record) = draw_record().await;
        if record["stage"] == "drawn" {
            drawn = record;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(drawn["participants"], 20, "{drawn}");
    assert_eq!(drawn["commitment"], pending["commitment"]);

    // The record checks out from its own data.
    queue_server::prequeue::recheck(&drawn).unwrap();
    let places: Vec<u64> = drawn["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|place| place.as_u64().unwrap())
        .collect();
    let place_of = |seq: u64| places[seq as usize - 1];
    // Each fan finds themself by the drawId they were told.
    for (seq, joined) in (1u64..).zip(&early) {
        assert_eq!(drawn["ids"][seq as usize - 1], joined["drawId"]);
    }

    // Positions follow the draw (one admitted at 1 a second), then the late
    // fans in join order, behind the whole block.
    let mut positions = Vec::new();
    for (seq, joined) in (1u64..).zip(&early) {
        let (_, body) = h.poll("drawn", joined["entryId"].as_str().unwrap()).await;
        match body["status"].as_str() {
            Some("admitted") => assert_eq!(place_of(seq), 1, "{body}"),
            _ => positions.push((place_of(seq), body["position"].as_u64().unwrap())),
        }
    }
    assert!(positions.iter().all(|(place, pos)| place - pos <= 1));
    let mut last = 0;
    for entry in &late {
        let (_, body) = h.poll("drawn", entry).await;
        let position = body["position"].as_u64().unwrap();
        assert!(position > last && position >= 20, "{body}");
        last = position;
    }
    h.server.shutdown().await;
}
