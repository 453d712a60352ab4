//! The `queue-server` binary: configuration, logging, runtime, signals.

use anyhow::Context;
use clap::Parser;
use queue_server::config::{Config, Secrets};
use queue_server::events::{EventLink, SESSIONS_GROUP};
use queue_server::store::memory::MemoryStore;
use queue_server::store::redis::RedisStore;
use queue_server::store::QueueStore;
use queue_server::{RunningServer, ServerSettings};
use std::sync::Arc;
use ticketon_wire::bus::kafka::{KafkaConfig, KafkaPublisher, KafkaSubscriber};
use ticketon_wire::events::TOPIC_SESSIONS;

/// glibc's malloc showed up at about 8 % of the server's CPU on the join
/// path (buffers allocated on one worker thread and freed on another);
/// mimalloc's thread-local free lists make that a few percent. The ceiling
/// server (bench/) uses the same allocator, so the comparison stays fair.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing(&config.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = config.workers {
        runtime.worker_threads(workers.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let redis = config.redis_options();
    let limits = config.limits();
    let secrets = Secrets::resolve(config.admin_key, config.token_secret, "queue-server");
    let settings = ServerSettings {
        listen: config.listen,
        admin_key: secrets.admin_key,
        token_secret: secrets.token_secret,
        limits,
    };
    let events = match &config.kafka_brokers {
        Some(brokers) => Some(kafka_link(brokers, config.publish_entries)?),
        None => None,
    };
    let listen = config.listen;
    if let Some(options) = redis {
        let store = RedisStore::connect(options)
            .await
            .context("connecting to Redis (--redis-url)")?;
        tracing::info!(owner = store.owner_id(), "queue store: Redis");
        let server = queue_server::start_with_events(settings, store, events)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        serve_until_signal(server).await;
    } else {
        let server = queue_server::start_with_events(settings, MemoryStore::new(), events)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        serve_until_signal(server).await;
    }
    Ok(())
}

async fn serve_until_signal<S: QueueStore>(server: RunningServer<S>) {
    shutdown_signal().await;
    tracing::info!("signal received, shutting down");
    server.shutdown().await;
}

/// One idempotent producer for the process, and this server's membership in
/// the queue-servers' consumer group on `ticketon.sessions`.
fn kafka_link(brokers: &str, publish_entries: bool) -> anyhow::Result<EventLink> {
    let kafka = KafkaConfig::new(brokers);
    let publisher = KafkaPublisher::new(&kafka).context("creating the Kafka producer")?;
    let sessions = KafkaSubscriber::subscribe(&kafka, SESSIONS_GROUP, &[TOPIC_SESSIONS])
        .context("joining the sessions consumer group")?;
    tracing::info!(brokers, publish_entries, "events over Kafka");
    Ok(EventLink {
        publisher: Arc::new(publisher),
        sessions,
        publish_entries,
    })
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
