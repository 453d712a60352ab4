//! Configuration: flags with environment fallbacks (clap), and the resolved
//! [`Config`] the library is started with.
//!
//! Secrets have no flag default: when unset they are generated at start
//! with one clear warning (the admin key is shown once, because without it
//! the operator could not create events; the token secret is never shown).
//! `Config`'s `Debug` redacts both so they never reach a log line.

use std::fmt;

use clap::Parser;

use crate::payments::config::{DEFAULT_RECONCILE_GRACE_MS, DEFAULT_RECONCILE_INTERVAL_MS};
use crate::payments::PaymentsConfig;
use crate::seat_lock::SeatLockKind;

/// A SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ticketon-reservations.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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
    /// Kafka bootstrap servers; unset: no event bus (see `App::build_with_events`).
    pub kafka_brokers: Option<String>,
    /// Toss and the payment reconciler.
    pub payments: PaymentsConfig,
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
            kafka_brokers: None,
            payments: PaymentsConfig::default(),
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
            .field("kafka_brokers", &self.kafka_brokers)
            .field("payments", &self.payments)
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

#[derive(Debug, Parser)]
#[command(
    name = "reservation-api",
    version,
    about = "Ticketon reservation API: events, seat maps and seat holds"
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "TICKETON_RESERVATION_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// mysql://user@host:3306/db or sqlite://path (SQLite file is created).
    #[arg(long, env = "TICKETON_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    #[arg(long, env = "TICKETON_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// Key for the admin endpoints (generated and shown once when unset).
    #[arg(long, env = "TICKETON_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// The queue-server's admission-token secret.
    #[arg(long, env = "TICKETON_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// How concurrent buyers are kept from taking the same seat.
    #[arg(
        long,
        env = "TICKETON_SEAT_LOCK",
        value_enum,
        default_value = "pessimistic"
    )]
    pub seat_lock: SeatLockKind,
    /// Redis for `--seat-lock distributed` (in-process locks when unset).
    #[arg(long, env = "TICKETON_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    #[arg(long, env = "TICKETON_REDIS_PREFIX", default_value = "ticketon:resv")]
    pub redis_prefix: String,
    /// How often expired holds are swept to `expired`.
    #[arg(long, env = "TICKETON_HOLD_SWEEP_INTERVAL_MS", default_value_t = 1_000)]
    pub sweep_interval_ms: u64,
    /// Kafka bootstrap servers (`host:port,...`): session events are
    /// published from the outbox and admission events consumed.
    #[arg(long, env = "TICKETON_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// How often pending payments and refunds are settled with Toss.
    #[arg(long, env = "TICKETON_PAYMENT_RECONCILE_INTERVAL_MS", default_value_t = DEFAULT_RECONCILE_INTERVAL_MS)]
    pub payment_reconcile_interval_ms: u64,
    /// How old a pending payment or refund is before the reconciler takes it over.
    #[arg(long, env = "TICKETON_PAYMENT_RECONCILE_GRACE_MS", default_value_t = DEFAULT_RECONCILE_GRACE_MS)]
    pub payment_reconcile_grace_ms: u64,
    /// `text` or `json` logs.
    #[arg(long, env = "TICKETON_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Args {
    pub fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            database_url: self.database_url,
            database_max_connections: self.database_max_connections,
            admin_key: self.admin_key.filter(|s| !s.is_empty()),
            token_secret: self.token_secret.filter(|s| !s.is_empty()),
            seat_lock: self.seat_lock,
            redis_url: self.redis_url.filter(|s| !s.is_empty()),
            redis_prefix: self.redis_prefix,
            sweep_interval_ms: self.sweep_interval_ms.max(50),
            kafka_brokers: self.kafka_brokers.filter(|s| !s.is_empty()),
            // `toss` is read from TOSS_* by the binary (TossConfig::from_env).
            payments: PaymentsConfig {
                reconcile_interval_ms: self.payment_reconcile_interval_ms,
                reconcile_grace_ms: self.payment_reconcile_grace_ms,
                ..PaymentsConfig::default()
            },
        }
    }
}

/// The secrets the service runs with, after filling in generated ones.
pub struct Secrets {
    pub admin_key: String,
    pub token_secret: Vec<u8>,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Secrets {
    pub fn resolve(config: &Config) -> Secrets {
        let admin_key = match &config.admin_key {
            Some(k) => k.clone(),
            None => {
                let k = random_secret();
                tracing::warn!(
                    "TICKETON_ADMIN_KEY is not set; generated an admin key for this run only: {k}"
                );
                k
            }
        };
        let token_secret = match &config.token_secret {
            Some(s) => s.clone().into_bytes(),
            None => {
                tracing::warn!(
                    "TICKETON_TOKEN_SECRET is not set; generated a random one, so admission \
                     tokens from a queue-server will not verify until both share a secret"
                );
                random_secret().into_bytes()
            }
        };
        Secrets {
            admin_key,
            token_secret,
        }
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
        let c = a.into_config();
        assert_eq!(c.seat_lock, SeatLockKind::Optimistic);
        assert_eq!(c.listen, "0.0.0.0:9");
        assert!(Args::try_parse_from(["reservation-api", "--seat-lock", "magic"]).is_err());
    }

    #[test]
    fn generated_secrets_are_random() {
        let c = Config::default();
        let a = Secrets::resolve(&c);
        let b = Secrets::resolve(&c);
        assert_ne!(a.admin_key, b.admin_key);
        assert_eq!(a.admin_key.len(), 64);
    }
}
