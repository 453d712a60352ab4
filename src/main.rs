//! `ticketon`: the whole system in one process on embedded defaults — the
//! queue-server (in-memory queue, port 8082), the reservation-api (SQLite,
//! port 8080, the Toss sandbox on 8090) and an in-process event bus between
//! them carrying the same events Kafka carries in production.
//!
//! Production runs the two services as separate binaries on Redis, MySQL and
//! Kafka (see deploy/); this is for a first look and for development.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use queue_server::config::{generate_secret, Secrets};
use queue_server::events::{EventLink as QueueEvents, SESSIONS_GROUP};
use queue_server::store::memory::MemoryStore;
use queue_server::{Limits, ServerSettings};
use reservation_api::admissions::ADMISSIONS_GROUP;
use reservation_api::app::EventLink as ReservationEvents;
use reservation_api::clock::SystemClock;
use reservation_api::{App, Config as ReservationConfig};
use ticketon_wire::bus::memory::InProcessBus;
use ticketon_wire::events::{TOPIC_ADMISSIONS, TOPIC_SESSIONS};

#[derive(Parser)]
#[command(
    name = "ticketon",
    version,
    about = "Ticketon in one process on embedded defaults"
)]
struct Args {
    #[arg(long, env = "TICKETON_QUEUE_LISTEN", default_value = "127.0.0.1:8082")]
    queue_listen: SocketAddr,
    #[arg(
        long,
        env = "TICKETON_RESERVATION_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    reservation_listen: String,
    #[arg(long, env = "TICKETON_DATABASE_URL", default_value = reservation_api::config::DEFAULT_DATABASE_URL)]
    database_url: String,
    /// One admin key for both services (generated and shown once when unset).
    #[arg(long, env = "TICKETON_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// The token secret both services share (generated when unset).
    #[arg(long, env = "TICKETON_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// Events the in-process bus holds before it pushes back.
    #[arg(long, env = "TICKETON_BUS_CAPACITY", default_value_t = 100_000)]
    bus_capacity: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args = Args::parse();
    // Generated once here, so that both services agree: tokens the
    // queue-server signs verify at the reservation-api.
    let token_secret = args.token_secret.clone().unwrap_or_else(generate_secret);
    let secrets = Secrets::resolve(args.admin_key.clone(), Some(token_secret), "ticketon");

    let bus = InProcessBus::new(args.bus_capacity);
    let queue = queue_server::start_with_events(
        ServerSettings {
            listen: args.queue_listen,
            admin_key: secrets.admin_key.clone(),
            token_secret: secrets.token_secret.clone(),
            limits: Limits::default(),
        },
        MemoryStore::new(),
        Some(QueueEvents {
            publisher: Arc::new(bus.clone()),
            sessions: bus.subscribe(SESSIONS_GROUP, &[TOPIC_SESSIONS])?,
            publish_entries: false,
        }),
    )
    .await
    .with_context(|| format!("starting the queue-server on {}", args.queue_listen))?;

    let reservation_config = ReservationConfig {
        listen: args.reservation_listen.clone(),
        database_url: args.database_url.clone(),
        admin_key: Some(secrets.admin_key.clone()),
        token_secret: Some(secrets.token_secret.clone()),
        ..ReservationConfig::default()
    };
    let reservations = App::build_with_events(
        reservation_config,
        Arc::new(SystemClock),
        Some(ReservationEvents {
            publisher: Arc::new(bus.clone()),
            admissions: bus.subscribe(ADMISSIONS_GROUP, &[TOPIC_ADMISSIONS])?,
        }),
    )
    .await
    .context("starting the reservation-api")?
    .spawn()
    .context("starting the reservation-api")?;

    tracing::info!(
        queue_server = %queue.addr,
        reservation_api = %reservations.local_addr(),
        "ticketon is up (embedded defaults: in-memory queue, SQLite, in-process events)"
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    queue.shutdown().await;
    reservations.shutdown().await?;
    Ok(())
}
