//! The `queue-server` binary: configuration, logging, runtime, signals.

use anyhow::Context;
use clap::Parser;
use queue_server::config::Config;
use queue_server::events::EventLink;
use queue_server::Server;

/// glibc's malloc showed up at about 8 % of the server's CPU on the join
/// path (buffers allocated on one worker thread and freed on another);
/// mimalloc's thread-local free lists make that a few percent. The ceiling
/// server (bench/) uses the same allocator, so the comparison stays fair.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let telemetry = ticketon_runtime::logging::init(config.common.log_format, "queue-server");
    let runtime = config
        .queue
        .runtime()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(run(config));
    telemetry.shutdown();
    result
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = ticketon_runtime::Shutdown::install();
    let secrets = config.common.secrets("queue-server")?;
    let events = match config.common.kafka_brokers() {
        Some(brokers) => Some(
            EventLink::kafka(brokers, config.queue.publish_entries)
                .context("connecting to Kafka (TICKETON_KAFKA_BROKERS)")?,
        ),
        None => None,
    };
    // `Server::start` returns once the listener is bound: connections from
    // here on wait in its backlog, so the service counts as up.
    let server = Server::start(&config.common, &config.queue, &secrets, events).await?;
    ticketon_runtime::systemd::notify_ready();
    ticketon_runtime::systemd::spawn_watchdog();
    shutdown.wait().await;
    ticketon_runtime::systemd::notify_stopping();
    tracing::info!("signal received, shutting down");
    server.shutdown().await;
    Ok(())
}
