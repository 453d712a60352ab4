//! One purchase is one trace. A fan's requests carry a W3C `traceparent`;
//! the queue-server and the reservation-api, each its own binary on a real
//! Kafka-protocol broker (tansu), export their spans over OTLP/HTTP to a
//! receiver here, which decodes the protobuf. Under the fan's trace id it
//! must find the join (queue-server), the admission event applied
//! (reservation-api, carried by the `ticketon.admissions` record header),
//! the hold and the payment (reservation-api), and the finished session
//! applied (queue-server, carried back by the `ticketon.sessions` record).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use reservation_api::toss::sandbox::create_payment;
use serde_json::{json, Value};
use ticketon_runtime::test_env::{free_port, http_client, service_unavailable, Broker};

const ADMIN_KEY: &str = "traces-admin-key";
const TOKEN_SECRET: &str = "traces-token-secret-of-32-bytes!!";
const QUEUE: &str = "traced-sale";

/// One exported span: (service.name, trace id in hex, span name).
type SpanRow = (String, String, String);

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<SpanRow>>>, Arc<Mutex<Vec<String>>>);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn export(State(received): State<Received>, body: Bytes) -> axum::http::StatusCode {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => {
            received.1.lock().unwrap().push(e.to_string());
            return axum::http::StatusCode::BAD_REQUEST;
        }
    };
    let mut rows = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(AnyValue::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                rows.push((service.clone(), hex(&span.trace_id), span.name));
            }
        }
    }
    received.0.lock().unwrap().extend(rows);
    axum::http::StatusCode::OK
}

/// An OTLP/HTTP receiver on a free port: its base URL and what it received.
async fn start_receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// A binary of the workspace beside this test's own (`cargo test
/// --workspace` builds them all).
fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`, or `cargo build -p {name}` first",
        path.display()
    );
    path
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(name: &str, envs: &[(&str, String)]) -> Service {
    let mut command = Command::new(workspace_binary(name));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("TICKETON_ADMIN_KEY", ADMIN_KEY)
        .env("TICKETON_TOKEN_SECRET", TOKEN_SECRET)
        .env("OTEL_SERVICE_NAME", name)
        // Export every 100 ms instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    Service(command.spawn().expect("starting a service"))
}

async fn wait_until_up(url: &str) {
    let http = http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_purchase_is_one_trace_across_both_services_and_kafka() {
    let broker = match Broker::own() {
        Ok(b) => b,
        Err(e) => return service_unavailable("Kafka (tansu)", e),
    };
    let (otlp, received) = start_receiver().await;
    let dir = std::env::temp_dir().join(format!("ticketon-traces-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let [queue_port, reservation_port, sandbox_port] =
        [(); 3].map(|_| free_port().expect("a free port"));
    let common = [
        ("TICKETON_KAFKA_BROKERS", broker.brokers.clone()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
    ];
    let _queue_server = start_service(
        "queue-server",
        &[
            &common[..],
            &[("TICKETON_QUEUE_LISTEN", format!("127.0.0.1:{queue_port}"))],
        ]
        .concat(),
    );
    let _reservation_api = start_service(
        "reservation-api",
        &[
            &common[..],
            &[
                (
                    "TICKETON_RESERVATION_LISTEN",
                    format!("127.0.0.1:{reservation_port}"),
                ),
                (
                    "TICKETON_TOSS_SANDBOX_LISTEN",
                    format!("127.0.0.1:{sandbox_port}"),
                ),
                (
                    "TICKETON_DATABASE_URL",
                    format!("sqlite://{}", dir.join("reservations.db").display()),
                ),
            ],
        ]
        .concat(),
    );
    let queue = format!("http://127.0.0.1:{queue_port}");
    let reservations = format!("http://127.0.0.1:{reservation_port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    wait_until_up(&format!("{queue}/healthz")).await;
    wait_until_up(&format!("{reservations}/healthz")).await;

    // The fan's trace, as a browser instrumented with OpenTelemetry sends it.
    let trace_id = format!("{:032x}", rand::random::<u128>() | 1);
    let traceparent = format!("00-{trace_id}-{:016x}-01", rand::random::<u64>() | 1);
    let http = http_client();
    let send = |request: reqwest::RequestBuilder, status: u16| {
        let request = request.header("traceparent", &traceparent);
        async move {
            let response = request.send().await.expect("an answer");
            let got = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(got, status, "{body}");
            body
        }
    };
    send(
        http.put(format!("{queue}/v1/api/queues/{QUEUE}"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"admissionRatePerSec": 100, "maxActive": 10, "sessionTtlSec": 600})),
        201,
    )
    .await;
    let event = send(
        http.post(format!("{reservations}/v1/api/events"))
            .header("x-admin-key", ADMIN_KEY)
            .json(&json!({
                "name": "Traced", "venue": "Hall", "startsAt": "2030-06-01T19:00:00+09:00",
                "queueId": QUEUE, "holdTtlSec": 300, "maxSeatsPerOrder": 4,
                "sections": [{"name": "A", "rows": 1, "seatsPerRow": 4, "price": 50_000}]
            })),
        201,
    )
    .await;
    let event_id = event["eventId"].as_str().expect("an eventId").to_string();
    let seats = send(
        http.get(format!("{reservations}/v1/api/events/{event_id}/seats")),
        200,
    )
    .await;
    let seat_id = seats[0]["seatId"].as_i64().expect("a seatId");
    let joined = send(
        http.post(format!("{queue}/v1/api/queues/{QUEUE}/entries"))
            .json(&json!({"userId": "traced-fan"})),
        201,
    )
    .await;
    let entry = joined["entryId"].as_str().expect("an entryId").to_string();
    let poll = format!("{queue}/v1/api/queues/{QUEUE}/entries/{entry}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let polled = send(http.get(&poll), 200).await;
        if let Some(token) = polled["admissionToken"].as_str() {
            break token.to_string();
        }
        assert!(Instant::now() < deadline, "never admitted: {polled}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The admission reaches the reservation-api over Kafka, a little after
    // the token: the hold may have to wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let hold = loop {
        let response = http
            .post(format!("{reservations}/v1/api/reservations"))
            .header("traceparent", &traceparent)
            .bearer_auth(&token)
            .json(&json!({"eventId": event_id, "seatIds": [seat_id]}))
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 201 {
            break body;
        }
        assert!(Instant::now() < deadline, "no hold: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reservation = hold["reservationId"].as_str().expect("a reservationId");
    let amount = hold["amount"].as_i64().expect("an amount");
    let payment_key = create_payment(&sandbox, reservation, amount, None)
        .await
        .expect("the widget step at the sandbox");
    send(
        http.post(format!("{reservations}/v1/api/payments"))
            .bearer_auth(&token)
            .json(&json!({
                "reservationId": reservation, "paymentKey": payment_key, "amount": amount
            })),
        201,
    )
    .await;

    let expected: [(&str, &str); 5] = [
        ("queue-server", "POST /v1/api/queues/{queueId}/entries"),
        ("reservation-api", "ticketon.admissions process"),
        ("reservation-api", "POST /v1/api/reservations"),
        ("reservation-api", "POST /v1/api/payments"),
        ("queue-server", "ticketon.sessions process"),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = received.0.lock().unwrap().clone();
        let missing: Vec<_> = expected
            .iter()
            .filter(|(service, name)| {
                !rows
                    .iter()
                    .any(|(s, t, n)| s == service && t == &trace_id && n == name)
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spans of trace {trace_id} missing: {missing:?}\nreceived: {rows:#?}\nundecodable: {:?}",
            received.1.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
