//! The settings both services read, defined once. Each binary flattens
//! [`Common`] into its own arguments, and the one-process runner flattens it
//! once next to both services' own settings, so a variable means the same
//! thing wherever it is read.

use crate::logging::LogFormat;
use crate::secrets::Secrets;

/// Default prefix of every Redis key Ticketon writes. The reservation-api's
/// seat locks live under `{prefix}:resv`.
pub const DEFAULT_REDIS_PREFIX: &str = "ticketon";

#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Bearer key for the admin endpoints (generated and shown once when unset).
    #[arg(long, env = "TICKETON_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// HS256 secret of admission tokens and entry ids, shared by every
    /// queue-server and the reservation-api (generated when unset).
    #[arg(long, env = "TICKETON_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,

    /// Kafka bootstrap servers (`host:port,...`). Unset: the services
    /// exchange no events (the one-process runner uses its in-process bus).
    #[arg(long, env = "TICKETON_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// Redis: the queue-server keeps the line there (instead of in memory),
    /// and the reservation-api's `distributed` seat locks use it unless
    /// `TICKETON_LOCK_REDIS_URL` names another. For a Cluster, a
    /// comma-separated list of nodes.
    #[arg(long, env = "TICKETON_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key.
    #[arg(long, env = "TICKETON_REDIS_PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    pub redis_prefix: String,

    /// Log format.
    #[arg(long, env = "TICKETON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Common {
    /// The secrets, generating the missing ones (`service` names who warns);
    /// refuses a configured token secret that is too short.
    pub fn secrets(&self, service: &str) -> Result<Secrets, crate::secrets::WeakSecret> {
        Secrets::resolve(self.admin_key.clone(), self.token_secret.clone(), service)
    }

    pub fn kafka_brokers(&self) -> Option<&str> {
        non_empty(&self.kafka_brokers)
    }

    pub fn redis_url(&self) -> Option<&str> {
        non_empty(&self.redis_url)
    }
}

/// An optional setting, with an empty value counting as unset (how an
/// operator blanks a variable in an env file).
pub fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        common: Common,
    }

    #[test]
    fn defaults_and_blank_values() {
        let p = Probe::try_parse_from(["probe", "--kafka-brokers", " ", "--log-format", "json"])
            .unwrap();
        assert_eq!(p.common.kafka_brokers(), None);
        assert_eq!(p.common.redis_prefix, DEFAULT_REDIS_PREFIX);
        assert_eq!(p.common.log_format, LogFormat::Json);
        assert!(Probe::try_parse_from(["probe", "--log-format", "xml"]).is_err());
    }
}
