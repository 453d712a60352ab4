//! What every Ticketon binary starts with, written once for the
//! queue-server, the reservation-api and the one-process runner:
//! - [`settings::Common`]: the settings both services share, one flag and
//!   one environment variable each;
//! - [`logging::init`]: text or JSON logs, and OpenTelemetry traces;
//! - [`trace_context`]: W3C trace context over HTTP and Kafka headers;
//! - [`secrets`]: the admin key and token secret, generated for
//!   development when unset;
//! - [`Shutdown`]: Ctrl-C or SIGTERM, listened for from before the bind;
//! - [`systemd`]: `READY=1`, `STOPPING=1` and the watchdog's pings for the
//!   `Type=notify` units in `deploy/systemd/` (no-ops outside systemd);
//! - [`connections`]: the connection cap and header read timeout of both
//!   HTTP servers, with the canned 503 over the cap;
//! - [`page`]: the static HTML pages, with their CSP, ETag and caching;
//! - [`test_env`]: how tests reach real services (Redis, MariaDB, Kafka).

pub mod connections;
pub mod logging;
pub mod page;
pub mod secrets;
pub mod settings;
pub mod systemd;
pub mod test_env;
pub mod trace_context;

pub use logging::{LogFormat, Telemetry};
pub use secrets::{generate_secret, Secrets};
pub use settings::Common;

/// The request to stop: Ctrl-C, or SIGTERM (what systemd and Docker send).
///
/// Install it before the listener is bound: a signal that arrives between
/// the bind and the install would otherwise kill the process outright
/// instead of shutting it down gracefully.
#[derive(Debug)]
pub struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Starts listening for the signals now. Must run inside a tokio runtime.
    pub fn install() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Shutdown {
                    signals: Some((term, int)),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                    Shutdown { signals: None }
                }
            }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Resolves once a stop was asked for (also one asked for since
    /// [`Shutdown::install`]).
    pub async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
