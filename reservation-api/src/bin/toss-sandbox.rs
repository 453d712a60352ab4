//! `toss-sandbox`: the Toss sandbox as a process of its own, for runs where
//! the reservation-api is killed and its payments must outlive it (the
//! sandbox's ledger lives in its process), or where Toss itself is made to
//! fail for a while (`PUT /v1/sandbox/outage`). Point the reservation-api at
//! it with `TOSS_API_BASE=http://<listen>`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use reservation_api::toss::sandbox::{spawn, SandboxConfig};
use reservation_api::toss::SANDBOX_SECRET_KEY;

#[derive(Parser)]
#[command(
    name = "toss-sandbox",
    version,
    about = "The Toss Payments sandbox, on its own"
)]
struct Args {
    #[arg(
        long,
        env = "TICKETON_TOSS_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: SocketAddr,
    /// The secret key callers authenticate with.
    #[arg(long, env = "TOSS_SECRET_KEY", default_value = SANDBOX_SECRET_KEY, hide_env_values = true)]
    secret_key: String,
    /// How long `SANDBOX_TIMEOUT` stays silent; more than the client's
    /// request timeout.
    #[arg(
        long,
        env = "TICKETON_TOSS_SANDBOX_TIMEOUT_SLEEP_MS",
        default_value_t = 60_000
    )]
    timeout_sleep_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shutdown = ticketon_runtime::Shutdown::install();
    let telemetry = ticketon_runtime::logging::init(Default::default(), "toss-sandbox");
    let config = SandboxConfig {
        timeout_sleep: Duration::from_millis(args.timeout_sleep_ms),
        ..SandboxConfig::with_secret_key(args.secret_key)
    };
    let sandbox = spawn(args.listen, config).await?;
    shutdown.wait().await;
    sandbox.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    Ok(())
}
