//! A Toss Payments stand-in that speaks the same v1 API on a loopback
//! port: the embedded default when `TOSS_API_BASE` is unset, and what the
//! tests drive the real HTTP client against.
//!
//! It is an HTTP server rather than an in-process fake so that everything
//! the client does (Basic auth, idempotency headers, timeouts, reading a
//! body that never completes) is exercised over a real socket. Payments
//! live in memory and vanish with the process; no money moves.
//!
//! Endpoints and failure switches are documented in `proto-notes/toss.md`.

mod checkout;
mod idempotency;
mod ledger;
mod routes;
mod test_code;
mod widget;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use test_code::FailMode;
pub use widget::create_payment;

use crate::toss::config::SANDBOX_SECRET_KEY;
use crate::toss::error::TossError;
use idempotency::IdempotencyStore;
use ledger::Ledger;
use routes::{App, SandboxState};

#[derive(Clone)]
pub struct SandboxConfig {
    /// The secret key requests must authenticate with.
    pub secret_key: String,
    /// How long the timeout switches stay silent; must exceed the client's
    /// request timeout to simulate one.
    pub timeout_sleep: Duration,
    /// How long a READY payment can still be confirmed (Toss: minutes).
    pub session_ttl: Duration,
}

// Hand-written so the secret key never reaches a log line.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("timeout_sleep", &self.timeout_sleep)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            secret_key: SANDBOX_SECRET_KEY.to_string(),
            timeout_sleep: Duration::from_secs(60),
            session_ttl: Duration::from_secs(10 * 60),
        }
    }
}

impl SandboxConfig {
    pub fn with_secret_key(secret_key: impl Into<String>) -> Self {
        SandboxConfig {
            secret_key: secret_key.into(),
            ..Self::default()
        }
    }
}

/// A running sandbox. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// The address actually bound (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the value to use as the Toss API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for requests in flight,
    /// including ones sleeping in a timeout switch.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `listen` (use port 0 in tests) and serves the sandbox on the
/// current tokio runtime.
pub async fn spawn(listen: SocketAddr, config: SandboxConfig) -> Result<SandboxHandle, TossError> {
    let bind_err = |source| TossError::SandboxBind {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let session_ttl = time::Duration::try_from(config.session_ttl)
        .map_err(|e| TossError::Config(format!("sandbox session TTL: {e}")))?;
    let app = Arc::new(App {
        secret_key: config.secret_key,
        timeout_sleep: config.timeout_sleep,
        outage: Mutex::new(None),
        state: Mutex::new(SandboxState {
            ledger: Ledger::new(session_ttl),
            idempotency: IdempotencyStore::default(),
        }),
    });
    let (tx, rx) = oneshot::channel::<()>();
    let server = axum::serve(listener, routes::router(app)).with_graceful_shutdown(async move {
        let _ = rx.await;
    });
    let task = tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "Toss sandbox stopped");
        }
    });
    tracing::info!(%addr, "Toss sandbox listening");
    Ok(SandboxHandle {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}
