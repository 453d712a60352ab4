//! How the service gets its Toss client at startup: the configured Toss
//! endpoint, or, when `TOSS_API_BASE` is unset, the embedded sandbox
//! started on `TICKETON_TOSS_SANDBOX_LISTEN`, so that a fresh checkout runs
//! end to end with no Toss account and no network.

use super::client::TossClient;
use super::config::TossConfig;
use super::error::TossError;
use super::sandbox::{self, SandboxConfig, SandboxHandle};

/// The client the service uses, and the sandbox behind it if any. Keep
/// the whole value alive: dropping `sandbox` stops the embedded Toss.
#[derive(Debug)]
pub struct TossRuntime {
    pub client: TossClient,
    /// The key browsers hand to the Toss widget.
    pub client_key: String,
    pub sandbox: Option<SandboxHandle>,
}

/// Builds the client for `config`, starting the sandbox first when no Toss
/// endpoint is configured.
pub async fn start(config: &TossConfig) -> Result<TossRuntime, TossError> {
    let (base, sandbox) = match &config.api_base {
        Some(base) => (base.clone(), None),
        None => {
            let handle = sandbox::spawn(
                config.sandbox_listen,
                SandboxConfig::with_secret_key(config.secret_key.clone()),
            )
            .await?;
            (handle.base_url(), Some(handle))
        }
    };
    let client = TossClient::new(
        &base,
        &config.secret_key,
        config.connect_timeout,
        config.request_timeout,
    )?;
    Ok(TossRuntime {
        client,
        client_key: config.client_key.clone(),
        sandbox,
    })
}
