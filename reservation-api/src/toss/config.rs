//! Where the Toss client gets its keys, base URL and timeouts.
//!
//! `TOSS_API_BASE` decides the mode: set, Ticketon talks to that Toss
//! endpoint and the secret key is mandatory; unset, the service starts the
//! embedded sandbox on `TICKETON_TOSS_SANDBOX_LISTEN` and talks to it, with
//! well-known sandbox keys unless others are given. The timeouts are
//! explicit because an HTTP client's default (none) would turn a stuck Toss
//! into a stuck purchase.
//!
//! Environment variables (all optional unless noted):
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

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, TossError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TossError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let api_base = get("TOSS_API_BASE").map(|b| b.trim().trim_end_matches('/').to_string());
        if let Some(base) = &api_base {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(TossError::Config(format!(
                    "TOSS_API_BASE must start with http:// or https://, got {base:?}"
                )));
            }
        }
        let secret_key = match (get("TOSS_SECRET_KEY"), &api_base) {
            (Some(k), _) => k,
            (None, None) => SANDBOX_SECRET_KEY.to_string(),
            (None, Some(_)) => {
                return Err(TossError::Config(
                    "TOSS_SECRET_KEY is required when TOSS_API_BASE is set".into(),
                ))
            }
        };
        let client_key = get("TOSS_CLIENT_KEY").unwrap_or_else(|| SANDBOX_CLIENT_KEY.to_string());
        let listen_text =
            get("TICKETON_TOSS_SANDBOX_LISTEN").unwrap_or_else(|| DEFAULT_SANDBOX_LISTEN.into());
        let sandbox_listen = listen_text.trim().parse().map_err(|e| {
            TossError::Config(format!(
                "TICKETON_TOSS_SANDBOX_LISTEN {listen_text:?} is not an address: {e}"
            ))
        })?;
        let millis = |name: &str, default: Duration| -> Result<Duration, TossError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(TossError::Config(format!(
                        "{name} must be a positive number of milliseconds, got {v:?}"
                    ))),
                },
            }
        };
        Ok(TossConfig {
            secret_key,
            client_key,
            api_base,
            sandbox_listen,
            connect_timeout: millis("TOSS_CONNECT_TIMEOUT_MS", DEFAULT_CONNECT_TIMEOUT)?,
            request_timeout: millis("TOSS_REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<TossConfig, TossError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TossConfig::from_lookup(|k| map.get(k).cloned())
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
