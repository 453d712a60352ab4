//! The background sweeper: rewrites holds whose time is up to `expired` and
//! their seats to `available`, and marks events whose last seat sold as
//! `sold_out` (which tells their waiting room to stop).
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
    // Two loops, not one round doing both: under load a sweep of hundreds of
    // holds, each its own transaction, can take longer than the interval,
    // and a sale that sold out must not wait for it to say so.
    let sweep = crate::periodic::every(interval, stop.clone(), || async {
        match svc
            .background_store
            .sweep_expired(svc.now_ms(), SWEEP_BATCH)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "swept expired holds"),
            Err(e) => tracing::warn!(error = %e, "hold sweep failed; retrying next round"),
        }
    });
    // A hold that ran out keeps its seats `held` until swept, and counts as
    // a seat left: the sale is sold out only once such seats are sold again.
    let sold_out = crate::periodic::every(interval, stop, || async {
        match svc.background_store.settle_sold_out(svc.now_ms()).await {
            Ok(events) => {
                for e in events {
                    tracing::info!(event = %e.event_id, queue = %e.queue_id, "sold out");
                }
            }
            Err(e) => tracing::warn!(error = %e, "sold-out check failed; retrying next round"),
        }
    });
    tokio::join!(sweep, sold_out);
}
