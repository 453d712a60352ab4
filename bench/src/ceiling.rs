//! `ceiling`: the fastest HTTP/1.1 server hyper can be on this machine, used as
//! the yardstick for the queue-server.
//!
//! Why it exists: absolute requests/s on a shared 2-core box swing by tens of
//! percent from minute to minute, so a bare number for the queue-server means
//! little. Running this server side by side with the real one, in the same
//! rounds, and reporting the *ratio* tells us how much of hyper's raw capacity
//! the queue logic costs. For that ratio to mean something, this server must do
//! nothing but HTTP: every request, whatever its method or path, gets the same
//! small JSON body (the size of a queue poll answer) from a pre-built `Bytes`.
//!
//! Every knob that can change throughput is a flag so the variants can be
//! measured from one binary (see bench/RESULTS.md, "Ceiling server tuning");
//! the defaults are the measured winners.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};

/// Same shape and size as a queue-server poll answer, so bytes on the wire
/// (and thus syscall and copy cost) match the GET run we compare against.
const BODY: &[u8] = br#"{"status":"waiting","position":1234,"etaSeconds":12,"pollAfterMs":2000}"#;

/// Kernel accept-queue length. wrk opens all its connections at once; a short
/// queue would only add SYN retries to the warm-up, never throughput.
const BACKLOG: u32 = 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// One multi-thread tokio runtime (work stealing) and one listener.
    Multi,
    /// One current_thread runtime per worker, each with its own SO_REUSEPORT
    /// listener; the kernel spreads connections, nothing is shared or stolen.
    PerCore,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Writev {
    /// hyper guesses (vectored for a plain TcpStream).
    Auto,
    /// Queue head and body and write them with one `writev`.
    On,
    /// Copy the body into the head buffer and issue one plain `write`.
    Off,
}

#[derive(Parser, Debug)]
#[command(about = "Bare hyper HTTP/1.1 server answering a fixed JSON body (benchmark ceiling)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
    /// Worker threads (defaults to the number of CPUs this process may use).
    #[arg(long)]
    workers: Option<usize>,
    /// Runtime layout; see bench/RESULTS.md for the measured comparison.
    // Default multi: fastest whenever the box was quiet (+15..40% over
    // per-core), and the same layout as the queue-server, so the ratio isolates
    // queue logic. per-core won only under heavy compile load (RESULTS.md).
    #[arg(long, value_enum, default_value_t = Runtime::Multi)]
    runtime: Runtime,
    /// hyper's pipeline_flush: batch flushes of pipelined responses.
    // Default off: wrk does not pipeline, the measured effect was within noise,
    // and hyper marks the option experimental.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pipeline_flush: bool,
    /// hyper's write strategy for response head + body.
    // Default off (flatten): copying a 71-byte body into the head buffer is
    // cheaper than building a two-entry iovec; it won 3 of 4 measured runs.
    #[arg(long, value_enum, default_value_t = Writev::Off)]
    writev: Writev,
}

/// The queue-server's allocator, so that the ceiling differs from it only in
/// doing no work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let workers = match args.workers {
        Some(0) => bail!("--workers must be at least 1"),
        Some(n) => n,
        None => thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let builder = http1_builder(&args);
    match args.runtime {
        Runtime::Multi => run_multi(args.listen, workers, builder),
        Runtime::PerCore => run_per_core(args.listen, workers, builder),
    }
}

/// The connection settings, each chosen for a keep-alive benchmark client.
fn http1_builder(args: &Args) -> http1::Builder {
    let mut b = http1::Builder::new();
    // Keep-alive is the whole point: wrk reuses its connections, and so do
    // polling browsers; a reconnect per request would measure the TCP stack.
    b.keep_alive(true);
    // Requests here are a few hundred bytes. The default ~400 KB ceiling only
    // bounds growth, but capping it at hyper's minimum keeps a misbehaving
    // client from inflating per-connection memory and keeps buffers cache-hot.
    b.max_buf_size(8192);
    // No timer is installed on purpose: with one, hyper arms a header-read
    // timeout on every request, which is pure overhead for a trusted local
    // client. (The real server needs that timeout; the ceiling does not.)
    b.pipeline_flush(args.pipeline_flush);
    match args.writev {
        Writev::Auto => {}
        Writev::On => {
            b.writev(true);
        }
        Writev::Off => {
            b.writev(false);
        }
    }
    // auto_date_header stays on: the queue-server sends Date too, and hyper
    // caches the formatted value per second, so keeping it keeps the
    // comparison fair at almost no cost.
    b
}

/// Builds the answer. `Bytes::from_static` clones are a pointer copy and the
/// header value is static, so the only allocation left is hyper's own
/// `HeaderMap` storage; Content-Length comes from `Full`'s exact size hint.
fn answer() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// `std::future::Ready` instead of an `async` block: no state machine to
/// poll, the response is produced synchronously. The request body (if any)
/// is dropped unread; hyper drains small bodies so keep-alive survives.
fn handle(
    _req: Request<hyper::body::Incoming>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(answer()))
}

fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Restarting between benchmark rounds must not fail on TIME_WAIT sockets.
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts forever on one listener, spawning one task per connection.
async fn accept_loop(listener: TcpListener, builder: http1::Builder) {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning, keep serving
                // the connections we already have.
                eprintln!("ceiling: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Responses are one small write; Nagle would hold it back waiting for
        // the client's delayed ACK (up to 40 ms on Linux).
        if let Err(err) = stream.set_nodelay(true) {
            eprintln!("ceiling: TCP_NODELAY failed: {err}");
        }
        let conn = builder.serve_connection(TokioIo::new(stream), service_fn(handle));
        tokio::spawn(async move {
            // Resets and early closes by the load generator are normal at the
            // end of every run; not worth a line each.
            let _ = conn.await;
        });
    }
}

fn run_multi(addr: SocketAddr, workers: usize, builder: http1::Builder) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(async move {
        let listener = bind(addr, false).with_context(|| format!("binding {addr}"))?;
        println!("ceiling listening on {addr} (runtime=multi, workers={workers})");
        accept_loop(listener, builder).await;
        Ok(())
    })
}

fn run_per_core(addr: SocketAddr, workers: usize, builder: http1::Builder) -> anyhow::Result<()> {
    // Each worker reports whether its bind worked so we print "listening" only
    // once every listener is up (scripts wait for that port).
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let ready_tx = ready_tx.clone();
        let builder = builder.clone();
        let handle = thread::Builder::new()
            .name(format!("ceiling-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                rt.block_on(async move {
                    match bind(addr, true) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            accept_loop(listener, builder).await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })
            .context("spawning a worker thread")?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..workers {
        ready_rx
            .recv()
            .context("a worker exited before binding")?
            .with_context(|| format!("binding {addr} with SO_REUSEPORT"))?;
    }
    println!("ceiling listening on {addr} (runtime=per-core, workers={workers})");
    for handle in handles {
        if handle.join().is_err() {
            bail!("a worker thread panicked");
        }
    }
    Ok(())
}
