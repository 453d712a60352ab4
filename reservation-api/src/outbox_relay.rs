//! Publishes the outbox: reads unpublished events in id order, hands them to
//! the bus, waits until the bus has them safely (`flush`), and only then
//! marks them published. A crash anywhere in between publishes an event
//! again (consumers are idempotent) but never loses one.

use std::sync::Arc;
use std::time::Duration;

use ticketon_bus::Publisher;
use tokio::sync::watch;

use crate::error::Result;
use crate::store::SqlStore;

const BATCH: i64 = 500;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Published rows are kept this long (for inspection), then deleted.
const KEEP_PUBLISHED_MS: i64 = 3_600_000;

/// Relays until `stop` turns true; runs a round every `interval`, and
/// straight away again while rounds come back full.
pub async fn run(
    store: SqlStore,
    publisher: Arc<dyn Publisher>,
    interval: Duration,
    clock: Arc<dyn crate::clock::Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            // One last round so that what was committed before shutdown leaves.
            if let Err(e) = relay_once(&store, &*publisher, clock.now_ms()).await {
                tracing::warn!(error = %e, "outbox relay: final round failed");
            }
            return;
        }
        loop {
            match relay_once(&store, &*publisher, clock.now_ms()).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay round failed; retrying");
                    break;
                }
            }
        }
        rounds += 1;
        if rounds.is_multiple_of(600) {
            let _ = store.prune_outbox(clock.now_ms() - KEEP_PUBLISHED_MS).await;
        }
    }
}

/// One round; returns how many events were published.
pub async fn relay_once(store: &SqlStore, publisher: &dyn Publisher, now_ms: i64) -> Result<usize> {
    let batch = store.unpublished(BATCH).await?;
    let mut handed = Vec::with_capacity(batch.len());
    for record in &batch {
        match publisher.publish_traced(
            &record.topic,
            &record.key,
            record.payload.clone(),
            record.traceparent.as_deref(),
        ) {
            Ok(()) => handed.push(record.id),
            Err(e) => {
                // Backpressure or a broken bus: keep order, try the rest later.
                tracing::debug!(error = %e, "outbox relay: bus refused an event");
                break;
            }
        }
    }
    if handed.is_empty() {
        return Ok(0);
    }
    if let Err(e) = publisher.flush(FLUSH_TIMEOUT).await {
        // Not marked: they go again next round (at least once).
        tracing::warn!(error = %e, "outbox relay: events not yet acknowledged");
        return Ok(0);
    }
    store.mark_published(&handed, now_ms).await?;
    Ok(handed.len())
}
