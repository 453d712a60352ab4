//! The accept loop: one tokio task per connection, HTTP/1.1 with keep-alive,
//! connection defences, and graceful shutdown.
//!
//! Tuning choices, each for throughput under tens of thousands of small
//! requests a second: `TCP_NODELAY` (responses are one small write; Nagle
//! would hold them back waiting for an ACK), hyper's writev-less flattened
//! writes for tiny bodies, and no per-connection state beyond an `Arc`.
//!
//! Defences, because push streams hold sockets for minutes and a client can
//! open sockets and send nothing: the connection cap (streams included) and
//! the header read timeout of `ticketon_runtime::connections`.
//!
//! A stream does not stay a hyper connection: a WebSocket leaves through the
//! upgrade, an event stream through a takeover (`takeover.rs`), so an idle
//! watcher costs a task and a socket, not hyper's buffers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use ticketon_runtime::connections::Refusals;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::takeover::{Client, ClientIo};
use super::{handle, stream, App};
use crate::metrics::Metrics;
use crate::push::StreamKind;
use crate::store::QueueStore;

/// How long in-flight requests and open streams get to finish after a
/// shutdown signal.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub use ticketon_runtime::connections::ConnectionLimits;

pub async fn serve<S: QueueStore>(
    listener: TcpListener,
    app: Arc<App<S>>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        .writev(false)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let stop = watch::Sender::new(false);
    let refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let metrics = app.service.metrics();
        // An upgraded WebSocket has left hyper's connection but still holds
        // its socket.
        let open = metrics.connections_open.get()
            + app.service.watchers().stats().open(StreamKind::WebSocket);
        if open >= limits.max_connections as u64 {
            metrics.connections_refused.inc();
            refusals.refuse(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let guard = OpenConnection::new(app.service.metrics_handle());
        let client = Arc::new(Client::new(Some(peer.ip())));
        let service = {
            let app = app.clone();
            let client = client.clone();
            service_fn(move |req| {
                let app = app.clone();
                let client = client.clone();
                async move { Ok::<_, Infallible>(handle(&app, req, &client).await) }
            })
        };
        let mut connection = http
            .serve_connection(TokioIo::new(ClientIo::new(stream, client.clone())), service)
            .with_upgrades();
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let ended = tokio::select! {
                ended = &mut connection => ended,
                () = stopped(&mut stopping) => {
                    // Finish the request in flight, then close.
                    std::pin::Pin::new(&mut connection).graceful_shutdown();
                    (&mut connection).await
                }
            };
            match ended {
                Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                Ok(()) => {
                    if let (Some(watch), Some(parts)) =
                        (client.event_stream(), connection.into_parts())
                    {
                        // A task of its own, so that hyper's state and this
                        // task's larger future are freed; the stream keeps
                        // the socket and the connection's place in the count
                        // (it ends once the push layer tells it to reconnect).
                        let socket = parts.io.into_inner().into_socket();
                        tokio::spawn(async move {
                            stream::run_event_stream(socket, watch).await;
                            drop(guard);
                        });
                        return;
                    }
                }
            }
            drop(guard);
        });
    }
    drop(listener);
    let metrics = app.service.metrics();
    let watchers = app.service.watchers();
    tracing::info!(
        streams = watchers.open_streams(),
        connections = metrics.connections_open.get(),
        "shutting down: streams told to reconnect, waiting for in-flight requests"
    );
    let _ = stop.send(true);
    let connections = async {
        while metrics.connections_open.get() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        tokio::join!(watchers.shutdown(SHUTDOWN_GRACE), connections)
    })
    .await
    .is_err()
    {
        tracing::warn!("some connections did not finish within the grace period");
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.connections_open.inc();
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}
