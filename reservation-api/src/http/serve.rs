//! The accept loop: hyper's HTTP/1.1 with keep-alive, the connection
//! defences of `ticketon_runtime::connections` (a cap on open connections
//! with a canned 503 past it, a header read timeout), a cap on the size of a
//! request head (431 past it), and a graceful shutdown that lets requests in
//! flight finish. `axum::serve` has none of the defences: a client holding
//! half-open requests could use up the process's file descriptors.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ticketon_runtime::connections::{ConnectionLimits, Refusals};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The largest request head (request line and headers) read; hyper answers
/// 431 past it. Tokens and cookies fit in a few KB.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long requests in flight get to finish after a stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let open = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let refusals = Refusals::default();
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refusals.refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = graceful.watch(
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within the grace period");
    }
}

/// Resolves once a stop was asked for (the guard `wait_for` returns is not
/// `Send`, so it must not live in the accept loop's future).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
