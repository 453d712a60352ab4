//! The `reservation-api` binary: parse flags/environment, set up logging,
//! run until Ctrl-C or SIGTERM, shut down gracefully.

use anyhow::Context;
use clap::Parser;
use reservation_api::config::Args;

/// The allocator of the queue-server binary (see its main.rs), for the same
/// reason: buffers allocated on one worker thread are freed on another.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shutdown = ticketon_runtime::Shutdown::install();
    let telemetry = ticketon_runtime::logging::init(args.common.log_format, "reservation-api");
    let config = args
        .reservation
        .into_config(&args.common)
        .context("reading the configuration")?;
    tracing::info!(config = ?config, "starting");
    // `serve` returns once the database is migrated and the listener bound.
    let handle = reservation_api::serve(config).await?;
    ticketon_runtime::systemd::notify_ready();
    ticketon_runtime::systemd::spawn_watchdog();
    shutdown.wait().await;
    ticketon_runtime::systemd::notify_stopping();
    tracing::info!("shutting down");
    let stopped = handle.shutdown().await;
    // The exporter's thread blocks while it sends the last spans.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    Ok(stopped?)
}
