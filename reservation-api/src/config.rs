//! Configuration: [`ReservationArgs`] (the service's own flags with
//! environment fallbacks), [`ticketon_runtime::Common`] (the ones shared
//! with the queue-server), and the resolved [`Config`] the library is
//! started with.
//!
//! Secrets have no flag default: when unset they are generated at start
//! with one clear warning (the admin key is shown once, because without it
//! the operator could not create events; the token secret is never shown).
//! `Config`'s `Debug` redacts both so they never reach a log line.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use ticketon_runtime::connections::ConnectionLimits;

use clap::Parser;
use ticketon_runtime::settings::non_empty;
use ticketon_runtime::Common;

use crate::payments::provider::PaymentProvider;
use crate::payments::ReconcileSettings;
use crate::seat_lock::SeatLockKind;
use crate::toss::{TossArgs, TossConfig, TossError, DEFAULT_SANDBOX_LISTEN};

/// A SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ticketon-reservations.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// A map a quarter of a second old is current enough to pick seats from (the
/// hold is judged by the database), and spares the database a read per fan.
pub const DEFAULT_SEAT_MAP_MAX_AGE_MS: u64 = 250;

#[derive(Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub database_max_connections: u32,
    pub admin_key: Option<String>,
    pub token_secret: Option<String>,
    pub seat_lock: SeatLockKind,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this service writes.
    pub redis_prefix: String,
    pub sweep_interval_ms: u64,
    /// How old a seat map served from memory may be (zero: always read).
    pub seat_map_max_age: std::time::Duration,
    /// Kafka bootstrap servers; unset: no event bus (see `App::build_with_events`).
    pub kafka_brokers: Option<String>,
    /// Toss and the payment reconciler.
    pub payments: PaymentsConfig,
    /// The queue-server's origin as browsers reach it (the seat picker
    /// links to the waiting room); `None`: this origin.
    pub queue_public_url: Option<String>,
    /// Origins whose pages may call this API from a browser (CORS), such
    /// as the operator's console on the queue-server.
    pub cors_origins: Vec<String>,
    /// The connection cap and the header (and body) read timeout.
    pub connections: ConnectionLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.into(),
            database_url: DEFAULT_DATABASE_URL.into(),
            database_max_connections: 16,
            admin_key: None,
            token_secret: None,
            seat_lock: SeatLockKind::Pessimistic,
            redis_url: None,
            redis_prefix: "ticketon:resv".into(),
            sweep_interval_ms: 1_000,
            seat_map_max_age: std::time::Duration::from_millis(DEFAULT_SEAT_MAP_MAX_AGE_MS),
            kafka_brokers: None,
            payments: PaymentsConfig::default(),
            queue_public_url: None,
            cors_origins: Vec::new(),
            connections: ConnectionLimits {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                ..ConnectionLimits::default()
            },
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("admin_key", &redact(&self.admin_key))
            .field("token_secret", &redact(&self.token_secret))
            .field("seat_lock", &self.seat_lock)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("sweep_interval_ms", &self.sweep_interval_ms)
            .field("seat_map_max_age", &self.seat_map_max_age)
            .field("kafka_brokers", &self.kafka_brokers)
            .field("payments", &self.payments)
            .field("queue_public_url", &self.queue_public_url)
            .field("cors_origins", &self.cors_origins)
            .field("connections", &self.connections)
            .finish()
    }
}

/// Drops a password from `scheme://user:password@host/...`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

/// The reservation-api's own settings (the shared ones are in
/// [`ticketon_runtime::Common`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ReservationArgs {
    /// Address to listen on (`--reservation-listen` in the one-process runner).
    #[arg(long = "listen", env = "TICKETON_RESERVATION_LISTEN", default_value = DEFAULT_LISTEN)]
    pub reservation_listen: String,
    /// mysql://user@host:3306/db or sqlite://path (SQLite file is created).
    #[arg(long, env = "TICKETON_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    #[arg(long, env = "TICKETON_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// How concurrent buyers are kept from taking the same seat.
    #[arg(
        long,
        env = "TICKETON_SEAT_LOCK",
        value_enum,
        default_value = "pessimistic"
    )]
    pub seat_lock: SeatLockKind,
    /// Redis of the `distributed` seat locks when it is not
    /// TICKETON_REDIS_URL's (in-process locks when neither is set).
    #[arg(long, env = "TICKETON_LOCK_REDIS_URL", hide_env_values = true)]
    pub lock_redis_url: Option<String>,
    /// How often expired holds are swept to `expired`.
    #[arg(long, env = "TICKETON_HOLD_SWEEP_INTERVAL_MS", default_value_t = 1_000)]
    pub sweep_interval_ms: u64,
    /// How old a seat map served to buyers may be: the rows of a map are read
    /// at most once per this and per section, and this process's own holds
    /// and releases refresh it at once (0: read the database every time).
    #[arg(long, env = "TICKETON_SEAT_MAP_MAX_AGE_MS", default_value_t = DEFAULT_SEAT_MAP_MAX_AGE_MS)]
    pub seat_map_max_age_ms: u64,
    /// How often pending payments and refunds are settled with Toss.
    #[arg(long, env = "TICKETON_PAYMENT_RECONCILE_INTERVAL_MS", default_value_t = DEFAULT_RECONCILE_INTERVAL_MS)]
    pub payment_reconcile_interval_ms: u64,
    /// How old a pending payment or refund is before the reconciler takes it over.
    #[arg(long, env = "TICKETON_PAYMENT_RECONCILE_GRACE_MS", default_value_t = DEFAULT_RECONCILE_GRACE_MS)]
    pub payment_reconcile_grace_ms: u64,
    #[command(flatten)]
    pub toss: TossArgs,
    /// The queue-server's origin as browsers reach it
    /// (`https://host[:port]`), for the seat picker's link back to the
    /// waiting room. Unset: this server's origin (the deploy's nginx serves
    /// both under one host).
    #[arg(long, env = "TICKETON_QUEUE_PUBLIC_URL", value_parser = ticketon_runtime::page::parse_origin)]
    pub queue_public_url: Option<String>,
    /// Origins (comma-separated) whose pages may call this API from a
    /// browser, such as the operator's console when the queue-server is on
    /// another origin. Unset: none, same-origin pages only.
    #[arg(long, env = "TICKETON_CORS_ORIGINS", value_delimiter = ',', value_parser = ticketon_runtime::page::parse_origin)]
    pub cors_origins: Vec<String>,
    /// Open connections at most; past it a new connection gets a 503 at
    /// once. Keep it under the file limit (`LimitNOFILE`) with room for the
    /// database pool and Redis (`--reservation-max-connections` in the
    /// one-process runner).
    #[arg(long = "max-connections", env = "TICKETON_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub reservation_max_connections: usize,
    /// Time a client has to send a request head, in ms; also the keep-alive
    /// idle timeout and the longest pause within a request body
    /// (`--reservation-header-read-timeout-ms` in the one-process runner).
    #[arg(
        long = "header-read-timeout-ms",
        env = "TICKETON_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub reservation_header_read_timeout_ms: u64,
}

/// The `reservation-api` command line.
#[derive(Debug, Parser)]
#[command(
    name = "reservation-api",
    version,
    about = "Ticketon reservation API: events, seat maps, seat holds, payments and tickets"
)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub reservation: ReservationArgs,
}

impl ReservationArgs {
    /// The library's configuration; fails on inconsistent Toss settings.
    pub fn into_config(self, common: &Common) -> Result<Config, TossError> {
        let toss = TossConfig::from_args(&self.toss)?;
        let redis_url = non_empty(&self.lock_redis_url)
            .or(common.redis_url())
            .map(str::to_string);
        Ok(Config {
            listen: self.reservation_listen,
            database_url: self.database_url,
            database_max_connections: self.database_max_connections,
            admin_key: common.admin_key.clone().filter(|s| !s.is_empty()),
            token_secret: common.token_secret.clone().filter(|s| !s.is_empty()),
            seat_lock: self.seat_lock,
            redis_url,
            redis_prefix: format!("{}:resv", common.redis_prefix),
            sweep_interval_ms: self.sweep_interval_ms.max(50),
            seat_map_max_age: std::time::Duration::from_millis(self.seat_map_max_age_ms),
            kafka_brokers: common.kafka_brokers().map(str::to_string),
            payments: PaymentsConfig {
                toss,
                reconcile_interval_ms: self.payment_reconcile_interval_ms,
                reconcile_grace_ms: self.payment_reconcile_grace_ms,
                ..PaymentsConfig::default()
            },
            queue_public_url: self.queue_public_url,
            cors_origins: self.cors_origins,
            connections: ConnectionLimits {
                max_connections: self.reservation_max_connections.max(1),
                header_read_timeout: std::time::Duration::from_millis(
                    self.reservation_header_read_timeout_ms.max(1),
                ),
            },
        })
    }
}

pub const DEFAULT_RECONCILE_INTERVAL_MS: u64 = 2_000;
/// Far under the 20,000 open files of a process here, with room for the
/// database pool, Redis and Kafka.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
pub const DEFAULT_RECONCILE_GRACE_MS: u64 = 5_000;

#[derive(Clone)]
/// How payments are set up: the payment provider (Toss, or the embedded
/// sandbox) and the reconciler's pace.
pub struct PaymentsConfig {
    /// `TOSS_*` variables (see `toss::TossConfig`); the default is the
    /// embedded sandbox on 127.0.0.1:8090.
    pub toss: TossConfig,
    /// Used instead of the provider built from `toss` when set (tests drive
    /// the flow through a provider that injects failures); no sandbox is
    /// started.
    pub provider: Option<Arc<dyn PaymentProvider>>,
    /// `TICKETON_PAYMENT_RECONCILE_INTERVAL_MS`.
    pub reconcile_interval_ms: u64,
    /// `TICKETON_PAYMENT_RECONCILE_GRACE_MS`: age of a pending row before
    /// the reconciler takes it over.
    pub reconcile_grace_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            toss: TossConfig::sandbox(
                DEFAULT_SANDBOX_LISTEN
                    .parse()
                    .expect("the default sandbox address parses"),
            ),
            provider: None,
            reconcile_interval_ms: DEFAULT_RECONCILE_INTERVAL_MS,
            reconcile_grace_ms: DEFAULT_RECONCILE_GRACE_MS,
        }
    }
}

impl PaymentsConfig {
    pub fn reconcile_settings(&self) -> ReconcileSettings {
        ReconcileSettings {
            interval: Duration::from_millis(self.reconcile_interval_ms.max(20)),
            grace: Duration::from_millis(self.reconcile_grace_ms),
        }
    }
}

impl fmt::Debug for PaymentsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentsConfig")
            .field("toss", &self.toss)
            .field("provider", &self.provider.as_ref().map(|p| p.name()))
            .field("reconcile_interval_ms", &self.reconcile_interval_ms)
            .field("reconcile_grace_ms", &self.reconcile_grace_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let c = Config {
            admin_key: Some("adm1n".into()),
            token_secret: Some("s3cret".into()),
            database_url: "mysql://root:pw@db/x".into(),
            ..Config::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("adm1n") && !s.contains("s3cret") && !s.contains(":pw@"));
        assert!(s.contains("mysql://root:***@db/x"));
    }

    #[test]
    fn flags_and_defaults_parse() {
        let a = Args::try_parse_from([
            "reservation-api",
            "--seat-lock",
            "optimistic",
            "--listen",
            "0.0.0.0:9",
        ])
        .unwrap();
        let c = a.reservation.into_config(&a.common).unwrap();
        assert_eq!(c.seat_lock, SeatLockKind::Optimistic);
        assert_eq!(c.redis_prefix, "ticketon:resv");
        assert_eq!(c.listen, "0.0.0.0:9");
        assert!(Args::try_parse_from(["reservation-api", "--seat-lock", "magic"]).is_err());
    }
}
