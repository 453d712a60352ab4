//! Consumes `ticketon.admissions` into the admission-session registry, so
//! that a token whose session ended (the fan left the queue, or the
//! admission ran out) is refused even though its signature is still valid.
//! Each event is applied idempotently and committed after it is applied
//! (`ticketon_bus::run_consumer`).

use std::sync::Arc;

use ticketon_bus::{run_consumer, ApplyError, ConsumerStats, Subscriber};
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
    let result = run_consumer::<AdmissionEvent, _, _>(
        subscriber,
        &stats,
        |received| {
            let svc = svc.clone();
            async move {
                svc.store
                    .apply_admission_event(&received.event, svc.now_ms())
                    .await
                    .map_err(|e| match e {
                        // The database is down or busy: apply it again later.
                        StoreError::Database(_) => ApplyError::Retry(e.to_string()),
                        other => ApplyError::Reject(other.to_string()),
                    })
            }
        },
        stopped,
    )
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the admissions consumer stopped");
    }
}
