//! The background sweeper: rewrites holds whose time is up to `expired` and
//! their seats to `available`.
//!
//! It is tidying, not correctness: an expired hold already stops blocking
//! its seats the moment it ends (see `domain::hold`). Sweeping keeps the
//! tables truthful for reporting and for later consumers (payments,
//! session events).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::Reservations;

/// Holds expired per sweep round; the next round continues if more remain.
const SWEEP_BATCH: i64 = 500;

pub async fn run(svc: Arc<Reservations>, interval: Duration, stop: watch::Receiver<bool>) {
    crate::periodic::every(interval, stop, || async {
        match svc.store.sweep_expired(svc.now_ms(), SWEEP_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "swept expired holds"),
            Err(e) => tracing::warn!(error = %e, "hold sweep failed; retrying next round"),
        }
    })
    .await
}
