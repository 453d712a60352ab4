//! Where the Toss client gets its keys, base URL and timeouts.
//!
//! `TOSS_API_BASE` decides the mode: set, Ticketon talks to that Toss
//! endpoint and the secret key is mandatory; unset, the service starts the
//! embedded sandbox on `TICKETON_TOSS_SANDBOX_LISTEN` and talks to it, with
//! well-known sandbox keys unless others are given. The timeouts are
//! explicit because an HTTP client's default (none) would turn a stuck Toss
//! into a stuck purchase.
//!
//! Settings (flags and variables, all optional unless noted; see [`TossArgs`]):
//! - `TOSS_API_BASE`: e.g. the Toss API origin; unset = embedded sandbox.
//! - `TOSS_SECRET_KEY`: required when `TOSS_API_BASE` is set.
//! - `TOSS_CLIENT_KEY`: the widget key handed to browsers.
//! - `TICKETON_TOSS_SANDBOX_LISTEN`: default `127.0.0.1:8090`.
//! - `TOSS_CONNECT_TIMEOUT_MS`: default 3000.
//! - `TOSS_REQUEST_TIMEOUT_MS`: whole request, default 30000.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::error::TossError;

pub const DEFAULT_SANDBOX_LISTEN: &str = "127.0.0.1:8090";
/// Keys used with the embedded sandbox when none are configured. They are
/// not secrets: the sandbox moves no money.
pub const SANDBOX_SECRET_KEY: &str = "test_sk_ticketon_sandbox";
pub const SANDBOX_CLIENT_KEY: &str = "test_ck_ticketon_sandbox";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, PartialEq, Eq)]
pub struct TossConfig {
    pub secret_key: String,
    pub client_key: String,
    /// `None`: use the embedded sandbox.
    pub api_base: Option<String>,
    pub sandbox_listen: SocketAddr,
    pub connect_timeout: Duration,
    /// Bounds the whole request, answer body included.
    pub request_timeout: Duration,
}

// Hand-written so the secret key never reaches a log line.
impl fmt::Debug for TossConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossConfig")
            .field("secret_key", &"<redacted>")
            .field("client_key", &self.client_key)
            .field("api_base", &self.api_base)
            .field("sandbox_listen", &self.sandbox_listen)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl TossConfig {
    /// The sandbox configuration with default timeouts.
    pub fn sandbox(listen: SocketAddr) -> Self {
        TossConfig {
            secret_key: SANDBOX_SECRET_KEY.to_string(),
            client_key: SANDBOX_CLIENT_KEY.to_string(),
            api_base: None,
            sandbox_listen: listen,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The configuration `args` describe, checked: a real endpoint needs a
    /// secret key and an http(s) origin.
    pub fn from_args(args: &TossArgs) -> Result<Self, TossError> {
        let api_base = non_empty(&args.toss_api_base).map(|b| b.trim_end_matches('/').to_string());
        if let Some(base) = &api_base {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(TossError::Config(format!(
                    "TOSS_API_BASE must start with http:// or https://, got {base:?}"
                )));
            }
        }
        let secret_key = match (non_empty(&args.toss_secret_key), &api_base) {
            (Some(k), _) => k.to_string(),
            (None, None) => SANDBOX_SECRET_KEY.to_string(),
            (None, Some(_)) => {
                return Err(TossError::Config(
                    "TOSS_SECRET_KEY is required when TOSS_API_BASE is set".into(),
                ))
            }
        };
        Ok(TossConfig {
            secret_key,
            client_key: non_empty(&args.toss_client_key)
                .unwrap_or(SANDBOX_CLIENT_KEY)
                .to_string(),
            api_base,
            sandbox_listen: args.toss_sandbox_listen,
            connect_timeout: Duration::from_millis(args.toss_connect_timeout_ms),
            request_timeout: Duration::from_millis(args.toss_request_timeout_ms),
        })
    }
}

/// The `TOSS_*` settings as flags and variables (part of the
/// reservation-api's and the one-process runner's command line).
#[derive(Clone, clap::Args)]
pub struct TossArgs {
    /// Toss API origin (e.g. https://api.tosspayments.com); unset: the
    /// embedded sandbox.
    #[arg(long, env = "TOSS_API_BASE")]
    pub toss_api_base: Option<String>,
    /// Toss secret key; required with TOSS_API_BASE (the sandbox has one of
    /// its own).
    #[arg(long, env = "TOSS_SECRET_KEY", hide_env_values = true)]
    pub toss_secret_key: Option<String>,
    /// The widget key handed to browsers.
    #[arg(long, env = "TOSS_CLIENT_KEY")]
    pub toss_client_key: Option<String>,
    /// Where the embedded sandbox listens when TOSS_API_BASE is unset.
    #[arg(long, env = "TICKETON_TOSS_SANDBOX_LISTEN", default_value = DEFAULT_SANDBOX_LISTEN)]
    pub toss_sandbox_listen: SocketAddr,
    /// Time to open a connection to Toss, in ms.
    #[arg(long, env = "TOSS_CONNECT_TIMEOUT_MS", default_value_t = 3_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub toss_connect_timeout_ms: u64,
    /// Bound on a whole Toss request, answer body included, in ms.
    #[arg(long, env = "TOSS_REQUEST_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub toss_request_timeout_ms: u64,
}

// Hand-written so the secret key never reaches a log line.
impl fmt::Debug for TossArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossArgs")
            .field("toss_api_base", &self.toss_api_base)
            .field("toss_client_key", &self.toss_client_key)
            .field("toss_sandbox_listen", &self.toss_sandbox_listen)
            .finish_non_exhaustive()
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    ticketon_runtime::settings::non_empty(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        toss: TossArgs,
    }

    /// The configuration from flags (`--toss-api-base` for `TOSS_API_BASE`);
    /// a flag clap refuses is a config error as well.
    fn from(pairs: &[(&str, &str)]) -> Result<TossConfig, TossError> {
        let mut argv = vec!["probe".to_string()];
        for (name, value) in pairs {
            let flag = name
                .trim_start_matches("TICKETON_")
                .to_ascii_lowercase()
                .replace('_', "-");
            argv.push(format!("--{flag}={value}"));
        }
        let probe = Probe::try_parse_from(argv).map_err(|e| TossError::Config(e.to_string()))?;
        TossConfig::from_args(&probe.toss)
    }

    #[test]
    fn nothing_set_means_embedded_sandbox_with_sandbox_keys() {
        let c = from(&[]).unwrap();
        assert_eq!(c.api_base, None);
        assert_eq!(c.secret_key, SANDBOX_SECRET_KEY);
        assert_eq!(c.sandbox_listen, "127.0.0.1:8090".parse().unwrap());
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
    }

    #[test]
    fn a_real_base_requires_a_secret_key() {
        assert!(matches!(
            from(&[("TOSS_API_BASE", "https://toss.example")]),
            Err(TossError::Config(_))
        ));
        let c = from(&[
            ("TOSS_API_BASE", "https://toss.example/"),
            ("TOSS_SECRET_KEY", "live_sk_x"),
            ("TOSS_REQUEST_TIMEOUT_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(c.api_base.as_deref(), Some("https://toss.example"));
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn bad_values_are_config_errors() {
        for pairs in [
            [("TICKETON_TOSS_SANDBOX_LISTEN", "nope")],
            [("TOSS_CONNECT_TIMEOUT_MS", "0")],
            [("TOSS_REQUEST_TIMEOUT_MS", "soon")],
            [("TOSS_API_BASE", "toss.example")],
        ] {
            assert!(
                matches!(from(&pairs), Err(TossError::Config(_))),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let c = from(&[("TOSS_SECRET_KEY", "test_sk_very_secret")]).unwrap();
        assert!(!format!("{c:?}").contains("very_secret"));
    }
}
