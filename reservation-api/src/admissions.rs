//! Consumes `ticketon.admissions` into the admission-session registry, so
//! that a token whose session ended (the fan left the queue, or the
//! admission ran out) is refused even though its signature is still valid.
//!
//! Events are applied in batches (`ticketon_bus::run_batch_consumer`): what
//! is waiting on the bus goes into one write transaction
//! ([`SqlStore::apply_admission_events`](crate::store::SqlStore::apply_admission_events)),
//! because one event per database round trip falls far behind a flash sale's
//! admissions. A batch is applied idempotently and committed on the bus only
//! after it is applied; a rejected batch is applied again one event at a
//! time by the consumer loop, through the same function.

use std::sync::Arc;

use ticketon_bus::driver::Received;
use ticketon_bus::{run_batch_consumer, ApplyError, ConsumerStats, Subscriber};
use ticketon_wire::AdmissionEvent;
use tokio::sync::watch;

use crate::service::Reservations;
use crate::store::StoreError;

/// All reservation-api instances share this consumer group: each admission
/// event is applied by one of them, into the shared database.
pub const ADMISSIONS_GROUP: &str = "ticketon-reservation-api";

pub async fn run(
    svc: Arc<Reservations>,
    subscriber: Box<dyn Subscriber>,
    stats: Arc<ConsumerStats>,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let result = run_batch_consumer::<AdmissionEvent, _, _>(
        subscriber,
        &stats,
        |batch: Vec<Received<AdmissionEvent>>| {
            let svc = svc.clone();
            // A span per traced record, open while its batch is applied:
            // each admission shows in its fan's trace, however it was batched.
            let spans: Vec<tracing::Span> = batch
                .iter()
                .filter_map(|r| r.traceparent.as_deref().map(|t| (r, t)))
                .map(|(r, traceparent)| {
                    let span = tracing::info_span!(
                        "admission.apply",
                        otel.name = "ticketon.admissions process",
                        otel.kind = "consumer",
                        entry = r.event.entry_id(),
                        batch = batch.len(),
                    );
                    ticketon_runtime::trace_context::continue_from(&span, traceparent);
                    span
                })
                .collect();
            let events: Vec<AdmissionEvent> = batch.into_iter().map(|r| r.event).collect();
            async move {
                let applied = svc
                    .background_store
                    .apply_admission_events(&events, svc.now_ms())
                    .await
                    .map_err(apply_error);
                drop(spans);
                applied
            }
        },
        stopped,
    )
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the admissions consumer stopped");
    }
}

fn apply_error(e: StoreError) -> ApplyError {
    match e {
        // The database is down or busy: apply it again later.
        StoreError::Database(_) => ApplyError::Retry(e.to_string()),
        other => ApplyError::Reject(other.to_string()),
    }
}
