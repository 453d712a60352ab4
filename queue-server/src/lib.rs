//! The queue-server: Ticketon's waiting room. ARCHITECTURE.md at the
//! repository root is the map; in short:
//! - [`model`]: the line and its rules, plain Rust with no IO;
//! - [`store`]: where the line lives (`QueueStore`: memory, Redis);
//! - [`service`]: what each API call means, and the admission loop;
//! - [`http`]: the hyper server, router and handlers;
//! - [`entry_id`], [`metrics`], [`config`], [`error`]: the supporting parts.

pub mod config;
pub mod entry_id;
pub mod error;
pub mod http;
pub mod metrics;
pub mod model;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::App;
use crate::metrics::Metrics;
use crate::service::QueueService;
use crate::store::memory::MemoryStore;
use crate::store::QueueStore;

/// What a running queue-server needs, already resolved (no `Option`s).
#[derive(Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub admin_key: String,
    pub token_secret: String,
}

/// A queue-server running in this process (the binary, the single-process
/// runner and the tests all start it this way).
pub struct RunningServer<S> {
    pub addr: SocketAddr,
    pub service: Arc<QueueService<S>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl<S: QueueStore> RunningServer<S> {
    /// Stops accepting, lets in-flight requests finish, stops admission.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts a queue-server on the in-memory store.
pub async fn start_memory(settings: ServerSettings) -> std::io::Result<RunningServer<MemoryStore>> {
    start(settings, MemoryStore::new()).await
}

pub async fn start<S: QueueStore>(
    settings: ServerSettings,
    store: S,
) -> std::io::Result<RunningServer<S>> {
    let listener = TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let service = Arc::new(QueueService::new(
        store,
        settings.token_secret.as_bytes(),
        metrics,
    ));
    let app = Arc::new(App {
        service: service.clone(),
        admin_key: settings.admin_key,
    });
    let (shutdown, signal) = watch::channel(false);
    let until_shutdown = |mut signal: watch::Receiver<bool>| async move {
        let _ = signal.wait_for(|stop| *stop).await;
    };
    let tasks = vec![
        tokio::spawn(http::serve(listener, app, until_shutdown(signal.clone()))),
        tokio::spawn(service.clone().run_admission(until_shutdown(signal))),
    ];
    tracing::info!(%addr, "queue-server listening");
    Ok(RunningServer {
        addr,
        service,
        shutdown,
        tasks,
    })
}
