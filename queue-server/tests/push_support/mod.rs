//! Clients for the push tests: the HTTP API, an SSE reader, a WebSocket
//! reader, and a real nginx in front of a server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use queue_server::{Limits, ServerSettings};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const ADMIN: &str = "push-test-admin-key";
pub(crate) const SECRET: &str = "push-test-token-secret-of-32-bytes!!";
/// Longest wait for one message in these tests: far above every promise,
/// so that only a missing message fails.
pub(crate) const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn settings(limits: Limits) -> ServerSettings {
    ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_key: ADMIN.into(),
        token_secret: SECRET.into(),
        limits,
        reservation_public_url: None,
    }
}

pub(crate) fn entry_path(queue: &str, entry: &str) -> String {
    format!("/v1/api/queues/{queue}/entries/{entry}")
}

/// The queue-server's API at one address, asserting success.
pub(crate) struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Api {
            base: format!("http://{addr}"),
            client: ticketon_runtime::test_env::streaming_http_client(),
        }
    }

    pub(crate) async fn put_queue(&self, queue: &str, rate: u32, max_active: u32) {
        let resp = self
            .client
            .put(format!("{}/v1/api/queues/{queue}", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({
                "admissionRatePerSec": rate,
                "maxActive": max_active,
                "sessionTtlSec": 600,
            }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "put queue: {}", resp.status());
    }

    /// Joins and answers the entryId.
    pub(crate) async fn join(&self, queue: &str, user: &str) -> String {
        let resp = self
            .client
            .post(format!("{}/v1/api/queues/{queue}/entries", self.base))
            .json(&json!({ "userId": user }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "join: {}", resp.status());
        let body: Value = resp.json().await.unwrap();
        body["entryId"].as_str().unwrap().to_string()
    }

    pub(crate) async fn set_status(&self, queue: &str, status: &str) {
        let resp = self
            .client
            .patch(format!("{}/v1/api/queues/{queue}/status", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "status": status }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "set status: {}", resp.status());
    }

    pub(crate) async fn leave(&self, queue: &str, entry: &str) {
        let resp = self
            .client
            .delete(format!("{}{}", self.base, entry_path(queue, entry)))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "leave: {}", resp.status());
    }

    pub(crate) async fn delete_queue(&self, queue: &str) {
        let resp = self
            .client
            .delete(format!("{}/v1/api/queues/{queue}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "delete queue: {}",
            resp.status()
        );
    }

    pub(crate) async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        resp.text().await.unwrap()
    }
}

/// One Server-Sent Event, or a comment block (a heartbeat).
#[derive(Debug, Default)]
pub(crate) struct SseEvent {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: Value,
    pub retry: Option<u64>,
    pub comment: bool,
}

/// An SSE stream read through reqwest (which undoes the chunked encoding).
pub(crate) struct Sse {
    response: reqwest::Response,
    buffer: BytesMut,
}

impl Sse {
    pub(crate) async fn open(addr: SocketAddr, path: &str) -> Sse {
        let response = ticketon_runtime::test_env::streaming_http_client()
            .get(format!("http://{addr}{path}"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "SSE on {path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Sse {
            response,
            buffer: BytesMut::new(),
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub(crate) async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block = self.buffer.split_to(end + 2);
                return Some(parse_event(std::str::from_utf8(&block).unwrap()));
            }
            let chunk = tokio::time::timeout(MESSAGE_TIMEOUT, self.response.chunk())
                .await
                .expect("an SSE message within the timeout");
            match chunk {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => {
                    assert!(self.buffer.is_empty(), "a partial event at the end");
                    return None;
                }
            }
        }
    }

    /// The next `status` event's data, skipping heartbeats.
    pub(crate) async fn next_status(&mut self) -> Value {
        loop {
            let event = self.next_event().await.expect("a status event");
            if event.event.as_deref() == Some("status") {
                return event.data;
            }
        }
    }
}

fn parse_event(block: &str) -> SseEvent {
    let mut event = SseEvent::default();
    for line in block.lines() {
        if line.starts_with(':') {
            event.comment = true;
        } else if let Some((field, value)) = line.split_once(": ") {
            match field {
                "id" => event.id = value.parse().ok(),
                "event" => event.event = Some(value.to_string()),
                "data" => event.data = serde_json::from_str(value).unwrap(),
                "retry" => event.retry = value.parse().ok(),
                other => panic!("unknown SSE field {other:?}"),
            }
        }
    }
    event
}

pub(crate) struct Ws {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub(crate) async fn open(addr: SocketAddr, path: &str) -> Ws {
        let (socket, response) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        Ws { socket }
    }

    /// The next frame from the server (pings included); `None` at the end.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        let next = tokio::time::timeout(MESSAGE_TIMEOUT, self.socket.next())
            .await
            .expect("a WebSocket frame within the timeout");
        next.and_then(Result::ok)
    }

    /// The next text message as JSON, skipping pings.
    pub(crate) async fn next_status(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => return serde_json::from_str(&text).unwrap(),
                Some(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a status, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame; its code.
    pub(crate) async fn next_close(&mut self) -> Option<CloseCode> {
        loop {
            match self.next_message().await {
                Some(Message::Close(frame)) => return frame.map(|f| f.code),
                Some(_) => {}
                None => return None,
            }
        }
    }
}

/// Debian's nginx (installed by `.ci/nginx.sh` if missing) in front of a
/// queue-server, with deploy/nginx's http settings and locations.
pub(crate) struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Nginx {
    /// `None` (after reporting it) when nginx cannot be had. The deploy's
    /// `proxy_read_timeout` is replaced by `read_timeout`, to show in a
    /// short test that heartbeats keep an idle stream open past it.
    pub(crate) fn start(upstream: SocketAddr, read_timeout: Duration) -> Option<Nginx> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new("bash")
            .arg(root.join(".ci/nginx.sh"))
            .output()
            .expect("run .ci/nginx.sh");
        if !out.status.success() {
            ticketon_runtime::test_env::service_unavailable(
                "nginx",
                String::from_utf8_lossy(&out.stderr).trim(),
            );
            return None;
        }
        let binary = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dir = TempDir::new();
        let deploy = root.join("deploy/nginx");
        let locations = std::fs::read_to_string(deploy.join("ticketon-locations.conf")).unwrap();
        let timeout = format!("proxy_read_timeout {}ms;", read_timeout.as_millis());
        assert!(locations.contains("proxy_read_timeout 75s;"));
        let locations = locations.replace("proxy_read_timeout 75s;", &timeout);
        std::fs::write(dir.0.join("locations.conf"), locations).unwrap();
        let port = ticketon_runtime::test_env::free_port().expect("a free port");
        let user = if running_as_root() { "user root;" } else { "" };
        let config = format!(
            "{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {http};
    upstream ticketon_queue {{ server {upstream}; keepalive 16; keepalive_timeout 5s; }}
    upstream ticketon_reservation {{ server 127.0.0.1:9; }}
    server {{
        listen 127.0.0.1:{port};
        include {dir}/locations.conf;
    }}
}}
",
            dir = dir.0.display(),
            http = deploy.join("ticketon-http.conf").display(),
        );
        let conf = dir.0.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let mut child = Command::new(&binary)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            // Its workers must not hold the test harness's output open.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(Nginx {
                    addr,
                    child,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
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

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "ticketon-nginx-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
