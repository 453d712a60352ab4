//! `ticketon`: the whole system in one process on embedded defaults — the
//! queue-server (in-memory queue, port 8082), the reservation-api (SQLite,
//! port 8080, the Toss sandbox on 8090) and an in-process event bus between
//! them carrying the same events Kafka carries in production.
//!
//! It reads every setting the two services read, under the same names
//! (flags and `TICKETON_*` / `TOSS_*` variables), so that it can also run on
//! Redis, MySQL and Kafka. Only the flags both services spell alike are
//! renamed here: `--queue-listen` and `--reservation-listen`, and the
//! reservation-api's `--reservation-max-connections` and
//! `--reservation-header-read-timeout-ms`. Their variables
//! (`TICKETON_MAX_CONNECTIONS`, `TICKETON_HEADER_READ_TIMEOUT_MS`) set both
//! services at once.
//!
//! Production runs the two services as separate binaries (see deploy/).

use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use queue_server::config::QueueArgs;
use queue_server::events::{EventLink as QueueEvents, SESSIONS_GROUP};
use queue_server::Server as QueueServer;
use reservation_api::admissions::ADMISSIONS_GROUP;
use reservation_api::app::EventLink as ReservationEvents;
use reservation_api::clock::SystemClock;
use reservation_api::config::ReservationArgs;
use reservation_api::App;
use ticketon_bus::memory::InProcessBus;
use ticketon_runtime::Common;
use ticketon_wire::events::{TOPIC_ADMISSIONS, TOPIC_SESSIONS};

/// The allocator of the queue-server binary (see its main.rs): the two
/// services allocate on one runtime's threads and free on others, which
/// glibc's malloc pays for in locks and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(clap::Parser)]
#[command(
    name = "ticketon",
    version,
    about = "Ticketon in one process: the queue-server and the reservation-api, on embedded defaults"
)]
struct Args {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    reservation: ReservationArgs,
    /// Events the in-process bus holds before it pushes back (without
    /// TICKETON_KAFKA_BROKERS).
    #[arg(long, env = "TICKETON_BUS_CAPACITY", default_value_t = 100_000)]
    bus_capacity: u64,
}

impl Args {
    /// Parses the command line, with both services' `--listen` renamed.
    fn parse() -> Args {
        let command = Args::command()
            .mut_arg("queue_listen", |a| a.long("queue-listen"))
            .mut_arg("reservation_listen", |a| a.long("reservation-listen"))
            .mut_arg("reservation_max_connections", |a| {
                a.long("reservation-max-connections")
            })
            .mut_arg("reservation_header_read_timeout_ms", |a| {
                a.long("reservation-header-read-timeout-ms")
            });
        let mut matches = command.get_matches();
        Args::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
    }
}

/// `http://addr` when browsers can reach `addr` as it is written (not an
/// unspecified address such as 0.0.0.0), with its `localhost` twin for a
/// loopback address, since a browser may be pointed at either.
fn browser_origins(addr: std::net::SocketAddr) -> Vec<String> {
    if addr.ip().is_unspecified() {
        return Vec::new();
    }
    let mut origins = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", addr.port()));
    }
    origins
}

impl Args {
    /// The two services on two origins of one machine: each page is told
    /// where the other service is, and the console (on the queue-server)
    /// may call the reservation-api. Settings given explicitly win.
    fn link_pages(&mut self) {
        let queue = browser_origins(self.queue.queue_listen);
        // The reservation-api's listen setting may be a host name: then
        // there is no address to tell browsers.
        let reservation = self
            .reservation
            .reservation_listen
            .parse()
            .map(browser_origins)
            .unwrap_or_default();
        if queue.is_empty() || reservation.is_empty() {
            tracing::warn!(
                "a service listens on an unspecified address or a host name: set TICKETON_QUEUE_PUBLIC_URL, \
                 TICKETON_RESERVATION_PUBLIC_URL and TICKETON_CORS_ORIGINS so that the pages find \
                 each other"
            );
        }
        if self.queue.reservation_public_url.is_none() {
            self.queue.reservation_public_url = reservation.first().cloned();
        }
        if self.reservation.queue_public_url.is_none() {
            self.reservation.queue_public_url = queue.first().cloned();
        }
        if self.reservation.cors_origins.is_empty() {
            self.reservation.cors_origins = queue;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    let telemetry = ticketon_runtime::logging::init(args.common.log_format, "ticketon");
    args.link_pages();
    let runtime = args.queue.runtime().context("starting the tokio runtime")?;
    let result = runtime.block_on(run(args));
    telemetry.shutdown();
    result
}

async fn run(args: Args) -> anyhow::Result<()> {
    let shutdown = ticketon_runtime::Shutdown::install();
    // Resolved once here, so that both services agree: tokens the
    // queue-server signs verify at the reservation-api.
    let secrets = args.common.secrets("ticketon")?;
    let common = Common {
        admin_key: Some(secrets.admin_key.clone()),
        token_secret: Some(secrets.token_secret.clone()),
        ..args.common.clone()
    };
    let (queue_events, reservation_events) = match common.kafka_brokers() {
        Some(brokers) => (
            QueueEvents::kafka(brokers, args.queue.publish_entries)
                .context("connecting the queue-server to Kafka")?,
            ReservationEvents::kafka(brokers).context("connecting the reservation-api to Kafka")?,
        ),
        None => {
            let bus = InProcessBus::new(args.bus_capacity);
            (
                QueueEvents {
                    publisher: Arc::new(bus.clone()),
                    sessions: bus.subscribe(SESSIONS_GROUP, &[TOPIC_SESSIONS])?,
                    publish_entries: args.queue.publish_entries,
                },
                ReservationEvents {
                    publisher: Arc::new(bus.clone()),
                    admissions: bus.subscribe(ADMISSIONS_GROUP, &[TOPIC_ADMISSIONS])?,
                },
            )
        }
    };

    let queue = QueueServer::start(&common, &args.queue, &secrets, Some(queue_events))
        .await
        .context("starting the queue-server")?;
    let reservation_config = args
        .reservation
        .into_config(&common)
        .context("reading the reservation-api's configuration")?;
    let reservations = App::build_with_events(
        reservation_config,
        Arc::new(SystemClock),
        Some(reservation_events),
    )
    .await
    .context("starting the reservation-api")?
    .spawn()
    .context("starting the reservation-api")?;

    tracing::info!(
        queue_server = %queue.addr(),
        reservation_api = %reservations.local_addr(),
        toss_sandbox = reservations.toss_sandbox_url().as_deref().unwrap_or("off (TOSS_API_BASE)"),
        "ticketon is up"
    );
    tracing::info!(
        waiting_room = %format_args!("http://{}/queues/{{queueId}}", queue.addr()),
        console = %format_args!("http://{}/admin", queue.addr()),
        seat_picker = %format_args!("http://{}/events/{{eventId}}", reservations.local_addr()),
        "pages"
    );
    // Both services bound their listeners before their start functions
    // returned: tell systemd (when it runs us) that we are up.
    ticketon_runtime::systemd::notify_ready();
    ticketon_runtime::systemd::spawn_watchdog();
    shutdown.wait().await;
    ticketon_runtime::systemd::notify_stopping();
    tracing::info!("shutting down");
    queue.shutdown().await;
    reservations.shutdown().await?;
    Ok(())
}
