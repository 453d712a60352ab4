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
pub mod events;
pub mod http;
pub mod join_limits;
pub mod metrics;
pub mod model;
pub mod prequeue;
pub mod proof_of_work;
pub mod push;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::config::QueueArgs;
use crate::events::{EventLink, EventOutbox};
use crate::http::client_ip::TrustedProxies;
use crate::http::{App, ConnectionLimits};
use crate::metrics::Metrics;
use crate::service::QueueService;
use crate::store::memory::MemoryStore;
use crate::store::redis::{ConnectError, RedisStore};
use crate::store::QueueStore;
use ticketon_runtime::{Common, Secrets};

/// What a running queue-server needs, already resolved (no `Option`s).
#[derive(Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub admin_key: String,
    pub token_secret: String,
    pub limits: Limits,
    /// The reservation-api's origin for the console's browser, when it is
    /// not this server's.
    pub reservation_public_url: Option<String>,
}

/// The connection defences (see `http/server.rs`) and the per-IP stream cap.
// Hand-written so that the secrets never reach a log line.
impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub connections: ConnectionLimits,
    /// Push streams one client address may hold open (0: no cap).
    pub max_streams_per_ip: u32,
    /// Proxies whose `X-Forwarded-For` names the client, for the
    /// per-address limits (streams, `joinsPerIpPerMinute`).
    pub trusted_proxies: TrustedProxies,
    /// The shortest heartbeat period of an idle stream (they spread up to
    /// 5/3 of it); under the idle timeout of every proxy on the way.
    pub stream_heartbeat: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: ConnectionLimits::default(),
            max_streams_per_ip: 256,
            trusted_proxies: TrustedProxies::default(),
            stream_heartbeat: push::shaping::DEFAULT_HEARTBEAT,
        }
    }
}

/// A queue-server running in this process (the binary, the single-process
/// runner and the tests all start it this way).
#[derive(Debug)]
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
        self.service.store().close().await;
    }
}

/// Starts a queue-server on the in-memory store.
/// A queue-server on the store its configuration names: the Redis store
/// when `TICKETON_REDIS_URL` is set, else this process's memory. What the
/// binary and the one-process runner start.
#[derive(Debug)]
pub enum Server {
    Memory(RunningServer<MemoryStore>),
    Redis(RunningServer<RedisStore>),
}

/// Why a configured queue-server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("connecting to Redis (TICKETON_REDIS_URL): {0}")]
    Redis(#[from] ConnectError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Server {
    /// Starts the queue-server `args` and `common` describe.
    pub async fn start(
        common: &Common,
        args: &QueueArgs,
        secrets: &Secrets,
        events: Option<EventLink>,
    ) -> Result<Server, StartError> {
        let settings = args.server_settings(secrets);
        let listen_error = |source| StartError::Listen {
            addr: args.queue_listen,
            source,
        };
        match args.redis_options(common) {
            Some(options) => {
                let store = RedisStore::connect(options).await?;
                tracing::info!(owner = store.owner_id(), "queue store: Redis");
                let server = start_with_events(settings, store, events)
                    .await
                    .map_err(listen_error)?;
                Ok(Server::Redis(server))
            }
            None => {
                tracing::info!("queue store: memory (lost on restart)");
                let server = start_with_events(settings, MemoryStore::new(), events)
                    .await
                    .map_err(listen_error)?;
                Ok(Server::Memory(server))
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Memory(s) => s.addr,
            Server::Redis(s) => s.addr,
        }
    }

    pub async fn shutdown(self) {
        match self {
            Server::Memory(s) => s.shutdown().await,
            Server::Redis(s) => s.shutdown().await,
        }
    }
}

pub async fn start_memory(settings: ServerSettings) -> std::io::Result<RunningServer<MemoryStore>> {
    start(settings, MemoryStore::new()).await
}

/// Starts a queue-server that exchanges no events (a waiting room on its own).
pub async fn start<S: QueueStore>(
    settings: ServerSettings,
    store: S,
) -> std::io::Result<RunningServer<S>> {
    start_with_events(settings, store, None).await
}

/// Starts a queue-server that publishes admission events and consumes
/// session events through `events`.
pub async fn start_with_events<S: QueueStore>(
    settings: ServerSettings,
    store: S,
    events: Option<EventLink>,
) -> std::io::Result<RunningServer<S>> {
    let listener = bind(settings.listen)?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let mut service = QueueService::new(store, settings.token_secret.as_bytes(), metrics)
        .with_push(
            settings.limits.max_streams_per_ip,
            settings.limits.stream_heartbeat,
        );
    let mut sessions = None;
    if let Some(link) = events {
        service = service.with_events(Arc::new(EventOutbox::new(
            link.publisher,
            link.publish_entries,
        )));
        sessions = Some(link.sessions);
    }
    let service = Arc::new(service);
    let app = Arc::new(App {
        service: service.clone(),
        admin_key: settings.admin_key,
        pages: http::Pages::new(settings.reservation_public_url.as_deref()),
        body_read_timeout: settings.limits.connections.header_read_timeout,
        trusted_proxies: settings.limits.trusted_proxies.clone(),
    });
    let (shutdown, signal) = watch::channel(false);
    let until_shutdown = |mut signal: watch::Receiver<bool>| async move {
        let _ = signal.wait_for(|stop| *stop).await;
    };
    let mut tasks = vec![
        tokio::spawn(http::serve(
            listener,
            app,
            settings.limits.connections,
            until_shutdown(signal.clone()),
        )),
        tokio::spawn(
            service
                .clone()
                .run_admission(until_shutdown(signal.clone())),
        ),
        tokio::spawn(
            service
                .clone()
                .run_join_limit_upkeep(until_shutdown(signal.clone())),
        ),
    ];
    if let Some(subscriber) = sessions {
        tasks.push(tokio::spawn(consume_sessions(
            service.clone(),
            subscriber,
            until_shutdown(signal),
        )));
    }
    tracing::info!(%addr, "queue-server listening");
    Ok(RunningServer {
        addr,
        service,
        shutdown,
        tasks,
    })
}

/// Pending connections the kernel queues for accept. tokio's default is
/// 1,024: a flash sale's opening second (and a bench opening tens of
/// thousands of streams) overflows it while the workers are busy, and the
/// dropped SYNs come back only after a second or more. The kernel caps it at
/// `net.core.somaxconn` (4,096 here).
const LISTEN_BACKLOG: u32 = 16_384;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Applies `ticketon.sessions` events until shutdown, then flushes what the
/// publisher still holds.
async fn consume_sessions<S: QueueStore>(
    service: Arc<QueueService<S>>,
    subscriber: Box<dyn ticketon_bus::Subscriber>,
    stop: impl std::future::Future<Output = ()>,
) {
    let Some(events) = service.events() else {
        return;
    };
    let result = ticketon_bus::run_consumer::<ticketon_wire::SessionEvent, _, _>(
        subscriber,
        &events.sessions_consumed,
        |received| {
            let service = service.clone();
            // Only a record that continues a trace gets a span: the others
            // would each start a trace of one span.
            let span = match &received.traceparent {
                Some(traceparent) => {
                    let span = tracing::info_span!(
                        "session.apply",
                        otel.name = "ticketon.sessions process",
                        otel.kind = "consumer",
                        entry = received.event.entry_id().unwrap_or_default(),
                    );
                    ticketon_runtime::trace_context::continue_from(&span, traceparent);
                    span
                }
                None => tracing::Span::none(),
            };
            async move { service.apply_session_event(&received.event).await }.instrument(span)
        },
        stop,
    )
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the sessions consumer stopped");
    }
    if let Err(e) = events
        .publisher()
        .flush(std::time::Duration::from_secs(5))
        .await
    {
        tracing::warn!(error = %e, "events still unpublished at shutdown");
    }
    // What was delivered need not be published again by the next lease holder.
    service.settle_announcements(events).await;
}
