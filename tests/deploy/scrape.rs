//! Both services' `/metrics` against the real tools, after a few joins and
//! a purchase: `promtool check metrics` passes on each, every metric the
//! dashboards and alerts name is exported, and Debian's Prometheus, run
//! with deploy's scrape configuration pointed at the services, returns the
//! series through its HTTP API.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ticketon_runtime::test_env::{free_port, http_client};

use crate::prometheus::{metric_names_used, prometheus_server, promtool};
use crate::support::Runner;
use crate::{root, Scratch};

const ADMIN_KEY: &str = "deploy-scrape-admin-key";
const TOKEN_SECRET: &str = "deploy-scrape-token-secret-of-32-bytes";
const QUEUE: &str = "scrape-sale";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_metrics_pass_promtool_feed_the_dashboards_and_a_real_prometheus() {
    let (Some(promtool), Some(prometheus)) = (promtool(), prometheus_server()) else {
        return;
    };
    let dir = Scratch::new("scrape");
    let runner = Runner::start(
        dir.path(),
        &[
            ("TICKETON_ADMIN_KEY", ADMIN_KEY),
            ("TICKETON_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    buy_two_seats(&runner).await;

    let http = http_client();
    let mut exported = BTreeSet::new();
    for base in [&runner.queue, &runner.reservations] {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("a /metrics answer")
            .text()
            .await
            .expect("a /metrics body");
        check_metrics(&promtool, base, &text);
        exported.extend(families(&text));
    }
    let missing: Vec<String> = deploy_files()
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(root().join(file)).expect("a deploy file");
            metric_names_used(&text)
                .into_iter()
                .filter(|name| !is_exported(&exported, name))
                .map(move |name| format!("{file}: {name}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "named by deploy/ but not exported by the services:\n  {}",
        missing.join("\n  ")
    );

    let server = Prometheus::start(&prometheus, &dir, &runner);
    for (query, at_least) in [
        ("sum(ticketon_queue_joins_total)", 3.0),
        (
            "sum(ticketon_reservation_payments_total{outcome=\"approved\"})",
            1.0,
        ),
        ("sum(ticketon_reservation_revenue_won_total)", 140_000.0),
        ("count(up{job=~\"queue-server|reservation-api\"} == 1)", 2.0),
    ] {
        server.wait_for(query, at_least).await;
    }
}

/// The files whose PromQL must only name exported metrics.
fn deploy_files() -> Vec<String> {
    let mut files = vec![
        "deploy/prometheus/alerts.yml".to_string(),
        "deploy/prometheus/alerts_test.yml".to_string(),
    ];
    let dashboards = root().join("deploy/grafana/dashboards");
    for entry in std::fs::read_dir(&dashboards).expect("deploy/grafana/dashboards") {
        let name = entry.expect("a directory entry").file_name();
        files.push(format!(
            "deploy/grafana/dashboards/{}",
            name.to_string_lossy()
        ));
    }
    files
}

/// Whether PromQL's `name` reads an exported family: the family itself, or
/// one of a histogram's series.
fn is_exported(families: &BTreeSet<String>, name: &str) -> bool {
    families.contains(name)
        || ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| name.strip_suffix(suffix))
            .any(|family| families.contains(family))
}

/// The metric families a scrape declares (`# TYPE name kind`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// `promtool check metrics`, which lints the exposition (names, units,
/// help, types) and fails on any problem.
fn check_metrics(promtool: &std::path::Path, source: &str, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("feeding promtool");
    let out = child.wait_with_output().expect("promtool's answer");
    assert!(
        out.status.success(),
        "promtool check metrics on {source}/metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three fans join an open queue; the first holds two seats and pays
/// through the sandbox.
async fn buy_two_seats(runner: &Runner) {
    let http = http_client();
    let (queue, reservations) = (&runner.queue, &runner.reservations);
    let ok = |r: reqwest::Response, status: u16| async move {
        let got = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{body}");
        body
    };
    let send = |b: reqwest::RequestBuilder| async move { b.send().await.expect("an answer") };
    ok(
        send(
            http.put(format!("{queue}/v1/api/queues/{QUEUE}"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"admissionRatePerSec": 100, "maxActive": 10, "sessionTtlSec": 600})),
        )
        .await,
        201,
    )
    .await;
    let event = ok(
        send(
            http.post(format!("{reservations}/v1/api/events"))
                .header("x-admin-key", ADMIN_KEY)
                .json(&json!({
                    "name": "Scrape", "venue": "Hall", "startsAt": "2030-06-01T19:00:00+09:00",
                    "queueId": QUEUE, "holdTtlSec": 300, "maxSeatsPerOrder": 4,
                    "sections": [{"name": "A", "rows": 1, "seatsPerRow": 4, "price": 70_000}]
                })),
        )
        .await,
        201,
    )
    .await;
    let event_id = event["eventId"].as_str().expect("an eventId").to_string();
    let seats = ok(
        send(http.get(format!("{reservations}/v1/api/events/{event_id}/seats"))).await,
        200,
    )
    .await;
    let seat_ids: Vec<i64> = seats
        .as_array()
        .expect("seats")
        .iter()
        .take(2)
        .map(|s| s["seatId"].as_i64().expect("a seatId"))
        .collect();
    let mut entries = Vec::new();
    for fan in ["fan-1", "fan-2", "fan-3"] {
        let joined = ok(
            send(
                http.post(format!("{queue}/v1/api/queues/{QUEUE}/entries"))
                    .json(&json!({"userId": fan})),
            )
            .await,
            201,
        )
        .await;
        entries.push(joined["entryId"].as_str().expect("an entryId").to_string());
    }
    let entry = format!("{queue}/v1/api/queues/{QUEUE}/entries/{}", entries[0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let token = loop {
        let polled = ok(send(http.get(&entry)).await, 200).await;
        if let Some(token) = polled["admissionToken"].as_str() {
            break token.to_string();
        }
        assert!(Instant::now() < deadline, "never admitted: {polled}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hold = ok(
        send(
            http.post(format!("{reservations}/v1/api/reservations"))
                .bearer_auth(&token)
                .json(&json!({"eventId": event_id, "seatIds": seat_ids})),
        )
        .await,
        201,
    )
    .await;
    let reservation = hold["reservationId"].as_str().expect("a reservationId");
    let amount = hold["amount"].as_i64().expect("an amount");
    let payment_key =
        reservation_api::toss::sandbox::create_payment(&runner.sandbox, reservation, amount, None)
            .await
            .expect("the widget step at the sandbox");
    ok(
        send(
            http.post(format!("{reservations}/v1/api/payments"))
                .bearer_auth(&token)
                .json(&json!({
                    "reservationId": reservation, "paymentKey": payment_key, "amount": amount
                })),
        )
        .await,
        201,
    )
    .await;
}

/// Debian's Prometheus on a free port, scraping the runner every second
/// with deploy's configuration (its targets swapped for the runner's).
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    fn start(binary: &std::path::Path, dir: &Scratch, runner: &Runner) -> Prometheus {
        let deployed = std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml"))
            .expect("deploy/prometheus/prometheus.yml");
        let host = |base: &str| base.trim_start_matches("http://").to_string();
        let config = deployed
            .replace("scrape_interval: 5s", "scrape_interval: 1s")
            .replace("scrape_timeout: 4s", "scrape_timeout: 1s")
            .replace(
                "          - queue-server-1:8082\n          - queue-server-2:8082\n",
                &format!("          - {}\n", host(&runner.queue)),
            )
            .replace("reservation-api:8080", &host(&runner.reservations));
        assert!(
            config.contains(&host(&runner.queue)) && !config.contains("- queue-server-1:8082"),
            "deploy's scrape targets changed shape; update this test:\n{config}"
        );
        let conf_dir = dir.path().join("prometheus");
        std::fs::create_dir_all(&conf_dir).expect("a prometheus directory");
        std::fs::write(conf_dir.join("prometheus.yml"), config).expect("writing the config");
        std::fs::copy(
            root().join("deploy/prometheus/alerts.yml"),
            conf_dir.join("alerts.yml"),
        )
        .expect("copying the alerts");
        let port = free_port().expect("a free port");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                conf_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                conf_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until `query` (one sample) is at least `at_least`.
    async fn wait_for(&self, query: &str, at_least: f64) {
        let http = http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok(response) = http
                .get(format!("{}/api/v1/query", self.base))
                .query(&[("query", query)])
                .send()
                .await
            {
                last = response.json().await.unwrap_or(Value::Null);
                let value = last["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if value.is_some_and(|v| v >= at_least) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("prometheus never answered {query} >= {at_least}; last answer: {last}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
