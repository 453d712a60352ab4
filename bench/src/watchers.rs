//! `watchers`: many idle push streams against a queue-server (or a fleet),
//! for bench/watchers.sh.
//!
//! - `watchers setup`: creates an open queue with one active slot (the first
//!   fan takes it, everyone else waits) and joins `--fans` fans, writing
//!   their entryIds (in join order) to `--out`. Raising `maxActive` later
//!   moves the frontier: an admission wave without any status change.
//! - `watchers watch`: opens one stream (SSE or WebSocket) per entryId of a
//!   slice of that file, from one source address, spread over the queue
//!   URLs; writes `--ready` once every stream has its first message; on
//!   SIGTERM (or after `--max-seconds`) writes a JSON report: streams opened
//!   and failed, messages and heartbeats received, and for every admission
//!   pushed, the delay from the admission (its `expiresAt` less the session
//!   TTL) to its arrival here.
//!
//! A watcher is one task with one connection; nothing but the stream is
//! held per watcher, so the client stays far lighter than the 20,000-file
//! limit of a process (which is why the script runs several).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use queue_server::entry_id::EntryIdCodec;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Idle push streams against a queue-server fleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Setup {
        #[arg(long)]
        queue_url: String,
        #[arg(long)]
        admin_key: String,
        #[arg(long, default_value = "watch")]
        queue: String,
        #[arg(long)]
        fans: usize,
        #[arg(long, default_value_t = 100_000)]
        rate: u32,
        #[arg(long)]
        max_active: u32,
        #[arg(long, default_value_t = 600)]
        session_ttl_sec: u32,
        #[arg(long)]
        out: PathBuf,
    },
    Watch {
        /// Comma-separated base URLs; watcher i connects to URL i mod n.
        #[arg(long)]
        queue_urls: String,
        #[arg(long, default_value = "watch")]
        queue: String,
        #[arg(long)]
        entries: PathBuf,
        /// The slice `[from, to)` of the entries file this process watches.
        #[arg(long)]
        from: usize,
        #[arg(long)]
        to: usize,
        #[arg(long, value_enum)]
        kind: Kind,
        /// Local address the connections come from (127.0.0.x).
        #[arg(long, default_value = "127.0.0.1")]
        source: IpAddr,
        #[arg(long, default_value_t = 600)]
        session_ttl_sec: u64,
        #[arg(long)]
        ready: PathBuf,
        #[arg(long)]
        report: PathBuf,
        #[arg(long, default_value_t = 600)]
        max_seconds: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Sse,
    Ws,
}

#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    failed: AtomicU64,
    first_messages: AtomicU64,
    messages: AtomicU64,
    heartbeats: AtomicU64,
    closed: AtomicU64,
    admission_delays_ms: Mutex<Vec<i64>>,
    /// Why streams failed, by error message.
    failures: Mutex<std::collections::BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    status: String,
    expires_at: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Setup {
                queue_url,
                admin_key,
                queue,
                fans,
                rate,
                max_active,
                session_ttl_sec,
                out,
            } => {
                setup(
                    &queue_url,
                    &admin_key,
                    &queue,
                    fans,
                    (rate, max_active, session_ttl_sec),
                    &out,
                )
                .await
            }
            Command::Watch {
                queue_urls,
                queue,
                entries,
                from,
                to,
                kind,
                source,
                session_ttl_sec,
                ready,
                report,
                max_seconds,
            } => {
                let entries = std::fs::read_to_string(&entries).context("reading entries")?;
                let ids: Vec<String> = entries
                    .lines()
                    .skip(from)
                    .take(to.saturating_sub(from))
                    .map(String::from)
                    .collect();
                let urls: Vec<SocketAddr> = queue_urls
                    .split(',')
                    .map(|u| {
                        u.trim()
                            .trim_start_matches("http://")
                            .parse()
                            .with_context(|| format!("a host:port URL, not {u}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
                watch(WatchPlan {
                    urls,
                    queue,
                    ids,
                    kind,
                    source,
                    ttl_ms: session_ttl_sec * 1000,
                    ready,
                    report,
                    max_seconds,
                })
                .await
            }
        }
    })
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    admin_key: Option<&str>,
    body: String,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if let Some(key) = admin_key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

async fn setup(
    url: &str,
    admin_key: &str,
    queue: &str,
    fans: usize,
    (rate, max_active, ttl): (u32, u32, u32),
    out: &PathBuf,
) -> anyhow::Result<()> {
    let addr: SocketAddr = url.trim_start_matches("http://").parse()?;
    let body = format!(
        r#"{{"admissionRatePerSec":{rate},"maxActive":{max_active},"sessionTtlSec":{ttl}}}"#
    );
    let (status, answer) = request(
        addr,
        "PUT",
        &format!("/v1/api/queues/{queue}"),
        Some(admin_key),
        body,
    )
    .await?;
    if status >= 300 {
        bail!(
            "creating the queue: {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    // Joins over 64 keep-alive connections; entryIds are written in seq order.
    let ids = Arc::new(Mutex::new(vec![String::new(); fans]));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (ids, next, queue) = (ids.clone(), next.clone(), queue.to_string());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= fans {
                    return anyhow::Ok(());
                }
                let req = Request::post(format!("/v1/api/queues/{queue}/entries"))
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::from(format!(
                        r#"{{"userId":"watcher-{i}"}}"#
                    ))))?;
                let resp = sender.send_request(req).await?;
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await?.to_bytes();
                if status >= 300 {
                    bail!("join {i}: {status} {}", String::from_utf8_lossy(&body));
                }
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Joined {
                    entry_id: String,
                }
                let joined: Joined = serde_json::from_slice(&body)?;
                let seq = EntryIdCodec::parse(&joined.entry_id)
                    .context("an entryId")?
                    .seq as usize;
                if let Some(slot) = ids.lock().get_mut(seq.saturating_sub(1)) {
                    *slot = joined.entry_id;
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ids = ids.lock();
    if ids.iter().any(String::is_empty) {
        bail!("some positions were not filled: was the queue empty before?");
    }
    std::fs::write(out, ids.join("\n") + "\n")?;
    println!("joined {fans} fans into {queue}");
    Ok(())
}

struct WatchPlan {
    urls: Vec<SocketAddr>,
    queue: String,
    ids: Vec<String>,
    kind: Kind,
    source: IpAddr,
    ttl_ms: u64,
    ready: PathBuf,
    report: PathBuf,
    max_seconds: u64,
}

async fn watch(plan: WatchPlan) -> anyhow::Result<()> {
    let tally = Arc::new(Tally::default());
    let total = plan.ids.len() as u64;
    // Opening 19,000 connections at once overflows the listen backlog:
    // open them in steps of 256.
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for (i, id) in plan.ids.iter().enumerate() {
        let addr = plan.urls[i % plan.urls.len()];
        let path = format!("/v1/api/queues/{}/entries/{id}", plan.queue);
        let (tally, gate, source, kind, ttl) = (
            tally.clone(),
            gate.clone(),
            plan.source,
            plan.kind,
            plan.ttl_ms,
        );
        tokio::spawn(async move {
            let counts = StreamTally {
                tally: &tally,
                ttl_ms: ttl,
                first: true,
                permit: gate.acquire_owned().await.ok(),
            };
            let result = match kind {
                Kind::Sse => watch_sse(addr, source, &path, counts).await,
                Kind::Ws => watch_ws(addr, source, &path, counts).await,
            };
            match result {
                Err(e) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    *tally.failures.lock().entry(e.to_string()).or_insert(0) += 1;
                }
                Ok(()) => {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let started = std::time::Instant::now();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ready_written = false;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let settled =
            tally.first_messages.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed);
        if !ready_written && settled >= total {
            std::fs::write(&plan.ready, format!("{settled}\n"))?;
            ready_written = true;
        }
        if started.elapsed() > Duration::from_secs(plan.max_seconds) {
            break;
        }
    }
    let delays = tally.admission_delays_ms.lock().clone();
    let report = serde_json::json!({
        "watchers": total,
        "opened": tally.opened.load(Ordering::Relaxed),
        "failed": tally.failed.load(Ordering::Relaxed),
        "failures": *tally.failures.lock(),
        "closed": tally.closed.load(Ordering::Relaxed),
        "messages": tally.messages.load(Ordering::Relaxed),
        "heartbeats": tally.heartbeats.load(Ordering::Relaxed),
        "admissionDelaysMs": delays,
    });
    std::fs::write(&plan.report, serde_json::to_vec(&report)?)?;
    Ok(())
}

async fn connect_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One stream's side of the tally: its first message releases the
/// opening permit; later admissions record their push delay.
struct StreamTally<'a> {
    tally: &'a Tally,
    ttl_ms: u64,
    first: bool,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl StreamTally<'_> {
    fn status(&mut self, json: &[u8]) {
        self.tally.messages.fetch_add(1, Ordering::Relaxed);
        if std::mem::take(&mut self.first) {
            self.tally.first_messages.fetch_add(1, Ordering::Relaxed);
            self.permit.take();
            return;
        }
        if let Some(delay) = admission_delay_ms(json, self.ttl_ms) {
            self.tally.admission_delays_ms.lock().push(delay);
        }
    }

    fn heartbeat(&self) {
        self.tally.heartbeats.fetch_add(1, Ordering::Relaxed);
    }
}

/// For an `admitted` message: how long ago the admission was made.
fn admission_delay_ms(json: &[u8], ttl_ms: u64) -> Option<i64> {
    let status = serde_json::from_slice::<Status>(json).ok()?;
    if status.status != "admitted" {
        return None;
    }
    let expires = time::OffsetDateTime::parse(
        &status.expires_at?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let admitted_ms = (expires.unix_timestamp_nanos() / 1_000_000) as i64 - ttl_ms as i64;
    Some(now_ms() - admitted_ms)
}

async fn watch_sse(
    addr: SocketAddr,
    source: IpAddr,
    path: &str,
    mut counts: StreamTally<'_>,
) -> anyhow::Result<()> {
    let stream = connect_from(source, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    if resp.status() != 200 {
        bail!("SSE answered {}", resp.status());
    }
    counts.tally.opened.fetch_add(1, Ordering::Relaxed);
    let mut body = resp.into_body();
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event = buffer.split_to(end + 2);
            match event[..]
                .split(|&b| b == b'\n')
                .find_map(|line| line.strip_prefix(b"data: "))
            {
                Some(json) => counts.status(json),
                None => counts.heartbeat(),
            }
        }
    }
    Ok(())
}

async fn watch_ws(
    addr: SocketAddr,
    source: IpAddr,
    path: &str,
    mut counts: StreamTally<'_>,
) -> anyhow::Result<()> {
    let stream = connect_from(source, addr).await?;
    let (mut socket, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream).await?;
    counts.tally.opened.fetch_add(1, Ordering::Relaxed);
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => counts.status(text.as_bytes()),
            Message::Ping(_) => counts.heartbeat(),
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}
