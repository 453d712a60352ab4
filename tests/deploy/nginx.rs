//! deploy/nginx with Debian's nginx (installed by `.ci/nginx.sh` when
//! missing): production's configuration passes `nginx -t`, and a fan goes
//! from the queue to tickets through nginx in front of both services. The
//! second test serves deploy's locations on a plain-HTTP test listener; the
//! TLS server block of `ticketon.conf` stays production's and is checked by
//! the first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reservation_api::toss::sandbox::create_payment;
use serde_json::{json, Value};
use ticketon_runtime::test_env::{
    free_port, http_client, service_unavailable, streaming_http_client,
};

use crate::support::Runner;
use crate::{ci_tool, root, Scratch};

const ADMIN_KEY: &str = "deploy-nginx-admin-key";
const TOKEN_SECRET: &str = "deploy-nginx-token-secret-of-32-bytes";
const QUEUE: &str = "nginx-sale";
const PRICE: i64 = 70_000;
/// Longest wait for one stream message: far above the promise (at once),
/// so that only a missing message fails.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// `ticketon.conf` as production installs it, with only what ties it to a
/// machine moved: the includes into the repository, the certificate into
/// the temporary directory, and port 443 to a free loopback port (`nginx -t`
/// binds it: 443 needs root and may be taken).
#[test]
fn deploy_nginx_config_passes_nginx_t() {
    let Some(nginx) = nginx_binary() else {
        return;
    };
    let dir = Scratch::new("nginx-t");
    if !self_signed_certificate(dir.path()) {
        return;
    }
    let deploy = deploy_nginx();
    let mut site = std::fs::read_to_string(deploy.join("ticketon.conf")).unwrap();
    for piece in ["ticketon-http.conf", "ticketon-locations.conf"] {
        site = replace_once(
            &site,
            &format!("include /etc/nginx/ticketon/{piece};"),
            &format!("include \"{}\";", deploy.join(piece).display()),
        );
    }
    for pem in ["fullchain.pem", "privkey.pem"] {
        site = replace_once(
            &site,
            &format!("/etc/ssl/ticketon/{pem}"),
            &dir.path().join(pem).display().to_string(),
        );
    }
    let port = free_port().expect("a free port");
    site = replace_once(&site, "listen 443 ", &format!("listen 127.0.0.1:{port} "));
    std::fs::write(dir.path().join("ticketon.conf"), site).unwrap();
    write_main_conf(
        dir.path(),
        &format!(
            "access_log {dir}/access.log;
    include {dir}/ticketon.conf;",
            dir = dir.path().display()
        ),
    );

    let out = nginx_command(&nginx, dir.path())
        .arg("-t")
        .output()
        .expect("run nginx -t");
    assert!(
        out.status.success(),
        "nginx -t failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A whole purchase through nginx: the admin's setup, a join, polls, an SSE
/// stream that hears the admission, a hold, a payment and the tickets. The
/// access log shows which upstream answered each request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_polls_a_stream_and_a_payment_pass_through_nginx() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let dir = Scratch::new("nginx-sale");
    let runner = Runner::start(
        dir.path(),
        &[
            ("TICKETON_ADMIN_KEY", ADMIN_KEY),
            ("TICKETON_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    let nginx = Nginx::start(&binary, &dir.path().join("nginx"), &runner).await;
    let front = &nginx.base;
    let http = http_client();

    // The admin sets the sale up through nginx: a queue that opens later,
    // and an event on it.
    expect(
        http.put(format!("{front}/v1/api/queues/{QUEUE}"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"admissionRatePerSec": 1000, "maxActive": 100,
                          "sessionTtlSec": 600, "status": "paused"})),
        201,
    )
    .await;
    let event = expect(
        http.post(format!("{front}/v1/api/events"))
            .header("x-admin-key", ADMIN_KEY)
            .json(&json!({
                "name": "Nginx Concert", "venue": "Hall", "startsAt": "2030-06-01T19:00:00+09:00",
                "queueId": QUEUE, "holdTtlSec": 300, "maxSeatsPerOrder": 4,
                "sections": [{"name": "A", "rows": 1, "seatsPerRow": 4, "price": PRICE}]
            })),
        201,
    )
    .await;
    let event_id = event["eventId"].as_str().expect("an eventId");
    let seats = expect(
        http.get(format!("{front}/v1/api/events/{event_id}/seats")),
        200,
    )
    .await;
    let seat_ids: Vec<i64> = seats
        .as_array()
        .expect("a seat list")
        .iter()
        .take(2)
        .map(|seat| seat["seatId"].as_i64().expect("a seatId"))
        .collect();

    // A fan joins and polls while the queue is paused, then watches by SSE.
    let joined = expect(
        http.post(format!("{front}/v1/api/queues/{QUEUE}/entries"))
            .json(&json!({"userId": "fan-1"})),
        201,
    )
    .await;
    assert_eq!(joined["status"], "waiting", "{joined}");
    let entry = joined["entryId"].as_str().expect("an entryId");
    let entry_path = format!("/v1/api/queues/{QUEUE}/entries/{entry}");
    let polled = expect(http.get(format!("{front}{entry_path}")), 200).await;
    assert_eq!(polled["status"], "waiting", "{polled}");
    assert_eq!(polled["queueStatus"], "paused", "{polled}");
    let mut stream = EventStream::open(&format!("{front}{entry_path}")).await;
    let first = stream.next_data().await.expect("a first message at once");
    assert_eq!(first["status"], "waiting", "{first}");

    // Opening the queue admits the fan: the admission comes down the stream
    // that was already open (nginx passes it unbuffered), and a poll agrees.
    expect(
        http.patch(format!("{front}/v1/api/queues/{QUEUE}/status"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"status": "open"})),
        200,
    )
    .await;
    let pushed = loop {
        let message = stream
            .next_data()
            .await
            .expect("the stream lasts until the admission");
        if message["status"] != "waiting" {
            break message;
        }
    };
    assert_eq!(pushed["status"], "admitted", "{pushed}");
    assert!(pushed["admissionToken"].is_string(), "{pushed}");
    drop(stream);
    let polled = expect(http.get(format!("{front}{entry_path}")), 200).await;
    assert_eq!(polled["status"], "admitted", "{polled}");
    let token = polled["admissionToken"].as_str().expect("a token");

    // Hold two seats, pay, and read the tickets, all through nginx. The
    // widget step is between the browser and Toss (here its sandbox), never
    // through Ticketon's nginx.
    let hold = expect(
        http.post(format!("{front}/v1/api/reservations"))
            .bearer_auth(token)
            .json(&json!({"eventId": event_id, "seatIds": seat_ids})),
        201,
    )
    .await;
    let reservation = hold["reservationId"].as_str().expect("a reservationId");
    let amount = hold["amount"].as_i64().expect("an amount");
    assert_eq!(amount, 2 * PRICE, "{hold}");
    let payment_key = create_payment(&runner.sandbox, reservation, amount, None)
        .await
        .expect("the widget step at the sandbox");
    let payment = json!({
        "reservationId": reservation, "paymentKey": payment_key, "amount": amount
    });
    let paid = expect(
        http.post(format!("{front}/v1/api/payments"))
            .bearer_auth(token)
            .json(&payment),
        201,
    )
    .await;
    assert_eq!(paid["payment"]["status"], "done", "{paid}");
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2), "{paid}");
    let access_token = paid["accessToken"].as_str().expect("an accessToken");
    let tickets = expect(
        http.get(format!("{front}/v1/api/tickets"))
            .bearer_auth(access_token),
        200,
    )
    .await;
    let tickets = tickets.as_array().expect("a ticket list");
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    assert!(
        tickets.iter().all(|ticket| ticket["status"] == "issued"),
        "{tickets:?}"
    );

    // The pages and the console's calls, each to its service.
    let reservation_id = reservation;
    for path in [
        format!("/queues/{QUEUE}"),
        format!("/events/{event_id}"),
        format!("/tickets/{reservation_id}"),
        "/admin".to_string(),
    ] {
        let page = http
            .get(format!("{front}{path}"))
            .send()
            .await
            .expect("a page");
        assert_eq!(page.status(), 200, "{path}");
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'sha256-"),
            "{path}"
        );
    }
    let config = expect(http.get(format!("{front}/admin/config")), 200).await;
    assert!(config["reservationUrl"].is_string(), "{config}");
    let queues = expect(
        http.get(format!("{front}/v1/api/queues"))
            .bearer_auth(ADMIN_KEY),
        200,
    )
    .await;
    assert_eq!(queues["queues"][0]["queueId"], QUEUE, "{queues}");
    let site = expect(http.get(format!("{front}/v1/api/site")), 200).await;
    assert_eq!(site["payments"]["provider"], "sandbox", "{site}");

    // Operations endpoints stay on the internal network.
    for path in ["/metrics", "/healthz", "/readyz"] {
        expect(http.get(format!("{front}{path}")), 403).await;
    }

    let queue = upstream(&runner.queue);
    let reservations = upstream(&runner.reservations);
    nginx
        .assert_logged(&[
            format!("PUT /v1/api/queues/{QUEUE} 201 {queue} "),
            format!("POST /v1/api/queues/{QUEUE}/entries 201 {queue} "),
            format!("GET {entry_path} 200 {queue} "),
            format!("GET {entry_path} 200 {queue} text/event-stream"),
            format!("PATCH /v1/api/queues/{QUEUE}/status 200 {queue} "),
            format!("POST /v1/api/events 201 {reservations} "),
            format!("GET /v1/api/events/{event_id}/seats 200 {reservations} "),
            format!("POST /v1/api/reservations 201 {reservations} "),
            format!("POST /v1/api/payments 201 {reservations} "),
            format!("GET /v1/api/tickets 200 {reservations} "),
            format!("GET /queues/{QUEUE} 200 {queue} "),
            format!("GET /events/{event_id} 200 {reservations} "),
            format!("GET /tickets/{reservation_id} 200 {reservations} "),
            format!("GET /admin 200 {queue} "),
            format!("GET /admin/config 200 {queue} "),
            format!("GET /v1/api/queues 200 {queue} "),
            format!("GET /v1/api/site 200 {reservations} "),
            "GET /metrics 403 - ".to_string(),
            "GET /healthz 403 - ".to_string(),
            "GET /readyz 403 - ".to_string(),
        ])
        .await;
}

/// Sends `request`, asserts the status, and returns the JSON body (`null`
/// when the body is not JSON, as nginx's own pages are not).
async fn expect(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.expect("an answer through nginx");
    let path = response.url().path().to_string();
    let got = response.status().as_u16();
    let body = response.text().await.expect("a body");
    assert_eq!(got, status, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A Server-Sent Events response, read message by message.
struct EventStream {
    response: reqwest::Response,
    buffered: Vec<u8>,
}

impl EventStream {
    async fn open(url: &str) -> EventStream {
        let response = streaming_http_client()
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("an SSE answer through nginx");
        assert_eq!(response.status(), 200, "SSE on {url}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            response,
            buffered: Vec::new(),
        }
    }

    /// The JSON of the next message with a `data:` line (heartbeats carry
    /// none); `None` once the stream ended.
    async fn next_data(&mut self) -> Option<Value> {
        loop {
            while let Some(end) = self.buffered.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffered.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 messages");
                if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) {
                    return Some(serde_json::from_str(data).expect("JSON data"));
                }
            }
            let chunk = tokio::time::timeout(MESSAGE_TIMEOUT, self.response.chunk())
                .await
                .expect("an SSE message within the timeout")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buffered.extend_from_slice(&bytes),
                None => return None,
            }
        }
    }
}

/// Debian's nginx in front of the runner: deploy's http settings, and its
/// locations in a plain-HTTP server on a free port, with the upstreams they
/// name at the runner's two services.
struct Nginx {
    child: Child,
    base: String,
    access_log: PathBuf,
}

impl Nginx {
    async fn start(binary: &str, dir: &Path, runner: &Runner) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let deploy = deploy_nginx();
        let port = free_port().expect("a free port");
        let access_log = dir.join("access.log");
        // Each request: which upstream answered, and (for the stream) as what.
        let http = format!(
            "log_format ticketon '$request_method $uri $status $upstream_addr $sent_http_content_type';
    access_log {access_log} ticketon;
    include \"{http_conf}\";
    upstream ticketon_queue {{ server {queue}; keepalive 16; keepalive_timeout 5s; }}
    upstream ticketon_reservation {{ server {reservations}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 16k;
        include \"{locations}\";
    }}",
            access_log = access_log.display(),
            http_conf = deploy.join("ticketon-http.conf").display(),
            queue = upstream(&runner.queue),
            reservations = upstream(&runner.reservations),
            locations = deploy.join("ticketon-locations.conf").display(),
        );
        write_main_conf(dir, &http);
        let mut child = nginx_command(binary, dir)
            .args(["-g", "daemon off;"])
            // Its workers must not hold the test harness's output open.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx did not start: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            access_log,
        }
    }

    /// Waits until every line of `expected` begins a line of the access log
    /// (nginx writes a request's line when it ends; a stream's, when the
    /// stream has).
    async fn assert_logged(&self, expected: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
            let missing: Vec<&String> = expected
                .iter()
                .filter(|want| !log.lines().any(|line| line.starts_with(want.as_str())))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not in nginx's access log: {missing:#?}\nthe log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers, then exits. A SIGKILL
        // would leave the workers running, orphaned.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's nginx, installed by `.ci/nginx.sh` if missing; `None` (after
/// saying so; under CI the report fails the test) when it cannot be had.
fn nginx_binary() -> Option<String> {
    ci_tool("nginx", ".ci/nginx.sh", &[]).map(|path| path.display().to_string())
}

/// nginx with `dir` as its prefix, `dir/nginx.conf` as its configuration
/// and `dir/error.log` as its log from the first line on.
fn nginx_command(binary: &str, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"));
    command
}

/// Writes `dir/nginx.conf`: one worker, everything nginx writes (pid, logs,
/// temporary files) in `dir`, and `http` in the http context.
fn write_main_conf(dir: &Path, http: &str) {
    // As root, the workers would otherwise run as `nobody`.
    let user = if running_as_root() { "user root;" } else { "" };
    let config = format!(
        "{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    {http}
}}
",
        dir = dir.display(),
    );
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
}

/// A throwaway certificate for `nginx -t`, which loads the files it names;
/// `false` (after saying so) without openssl.
fn self_signed_certificate(dir: &Path) -> bool {
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(dir.join("privkey.pem"))
        .arg("-out")
        .arg(dir.join("fullchain.pem"))
        .output();
    match made {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            service_unavailable("openssl", String::from_utf8_lossy(&out.stderr).trim());
            false
        }
        Err(e) => {
            service_unavailable("openssl", e);
            false
        }
    }
}

/// `text` with its one `from` replaced; fails when deploy's file no longer
/// has it, so that a change there is looked at here too.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "deploy/nginx/ticketon.conf should have `{from}` once"
    );
    text.replacen(from, to, 1)
}

/// `host:port` of a runner's base URL, as nginx's `server` and
/// `$upstream_addr` spell it.
fn upstream(base: &str) -> &str {
    base.strip_prefix("http://").expect("an http:// base URL")
}

fn deploy_nginx() -> PathBuf {
    root().join("deploy/nginx")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}
