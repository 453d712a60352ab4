//! The `reservation-api` binary: parse flags/environment, set up logging,
//! run until Ctrl-C or SIGTERM, shut down gracefully.

use anyhow::Context;
use clap::Parser;
use reservation_api::config::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shutdown = ticketon_runtime::Shutdown::install();
    ticketon_runtime::logging::init(args.common.log_format);
    let config = args
        .reservation
        .into_config(&args.common)
        .context("reading the configuration")?;
    tracing::info!(config = ?config, "starting");
    let handle = reservation_api::serve(config).await?;
    shutdown.wait().await;
    tracing::info!("shutting down");
    handle.shutdown().await?;
    Ok(())
}
