//! Whether the database answers, probed in the background on a connection
//! of the probe's own, so that a request needing the database while it is
//! away is refused at once (503 `database_unavailable`, `Retry-After`)
//! instead of waiting out the pool's acquire timeout: sqlx keeps trying to
//! connect until then, which is right for a pool that is only busy and
//! wrong for a database that is down.
//!
//! The probe has a connection of its own because a pool saturated by a
//! sale is busy, not down: probing through it would refuse requests the
//! database could serve a moment later. Requests already waiting when the
//! database goes away are answered the same 503 then ([`DatabaseWatch::gone`]):
//! dropping a handler is what a client's disconnect does too, so handlers
//! are safe to stop at any await.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Connection};
use tokio::sync::{watch, Mutex};

/// Down and back are noticed within this (a refused or broken connection
/// fails the probe at once).
pub const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// A `SELECT 1` slower than this fails the probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Slow probes in a row that mean down: one slow answer from a database
/// busy with a sale must not refuse (and cut short) the requests in flight.
/// A probe that fails outright (connection refused or broken) means down
/// at once.
pub const SLOW_PROBES_FOR_DOWN: u32 = 2;

#[derive(Debug)]
pub struct DatabaseWatch {
    up: watch::Sender<bool>,
}

impl Default for DatabaseWatch {
    fn default() -> Self {
        DatabaseWatch {
            up: watch::Sender::new(true),
        }
    }
}

impl DatabaseWatch {
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Resolves once the database is seen down.
    pub async fn gone(&self) {
        let mut up = self.up.subscribe();
        let _ = up.wait_for(|up| !*up).await;
    }

    fn set(&self, up: bool) {
        let changed = self.up.send_if_modified(|current| {
            let changed = *current != up;
            *current = up;
            changed
        });
        if changed {
            if up {
                tracing::info!("the database answers again");
            } else {
                tracing::warn!(
                    "the database does not answer; refusing requests that need it until it does"
                );
            }
        }
    }
}

/// Probes `url` every [`PROBE_INTERVAL`] until `stop`.
pub async fn run(url: String, database: Arc<DatabaseWatch>, stop: watch::Receiver<bool>) {
    // The probe's connection, and its slow probes in a row.
    let state: Arc<Mutex<(Option<AnyConnection>, u32)>> = Arc::default();
    crate::periodic::every(PROBE_INTERVAL, stop, || {
        let (url, database, state) = (url.clone(), database.clone(), state.clone());
        async move {
            let mut state = state.lock().await;
            let (connection, slow) = &mut *state;
            let answer = tokio::time::timeout(PROBE_TIMEOUT, probe(&url, connection)).await;
            match answer {
                Ok(true) => {
                    *slow = 0;
                    database.set(true);
                }
                Ok(false) => {
                    *connection = None;
                    database.set(false);
                }
                Err(_) => {
                    // A stuck connection is not used again.
                    *connection = None;
                    *slow += 1;
                    if *slow >= SLOW_PROBES_FOR_DOWN {
                        database.set(false);
                    }
                }
            }
        }
    })
    .await;
}

async fn probe(url: &str, connection: &mut Option<AnyConnection>) -> bool {
    if connection.is_none() {
        *connection = AnyConnection::connect(url).await.ok();
    }
    match connection.as_mut() {
        Some(c) => sqlx::query("SELECT 1").execute(c).await.is_ok(),
        None => false,
    }
}
