//! The consume loop shared by both bus implementations: decode, apply, and only
//! then commit. Keeping it in one place is what makes "commit after apply" and
//! the retry policy identical on Kafka and in-process.
//!
//! Policy:
//! - `Ok` from the handler: commit the record.
//! - [`ApplyError::Retry`] (a transient failure, e.g. the database is down): do
//!   not commit; apply the same record again after a backoff. Later records of
//!   the partition wait, so per-key order is never broken.
//! - [`ApplyError::Reject`] or an undecodable record (not JSON, unknown `type`,
//!   a `schema` newer than [`EVENT_SCHEMA_VERSION`]): it can never be applied, so
//!   it is logged, counted in `rejected` and committed rather than blocking
//!   the partition forever.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::{BusError, ConsumerStats, Delivery, Subscriber};
use ticketon_wire::events::EVENT_SCHEMA_VERSION;

/// What a handler reports when it did not apply a record.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// Transient: retry the same record later.
    #[error("transient: {0}")]
    Retry(String),
    /// Permanent: the record can never be applied; skip it.
    #[error("rejected: {0}")]
    Reject(String),
}

/// A decoded event together with where it came from; the position lets a
/// handler deduplicate redeliveries if the event itself carries no id.
#[derive(Debug, Clone)]
pub struct Received<E> {
    pub event: E,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
}

const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Consumes records until `stop` resolves, then closes the subscriber (which
/// makes the commits durable and leaves the group).
pub async fn run_consumer<E, F, Fut>(
    mut subscriber: Box<dyn Subscriber>,
    stats: &ConsumerStats,
    mut apply: F,
    stop: impl Future<Output = ()>,
) -> Result<(), BusError>
where
    E: DeserializeOwned + Clone,
    F: FnMut(Received<E>) -> Fut,
    Fut: Future<Output = Result<(), ApplyError>>,
{
    tokio::pin!(stop);
    loop {
        let delivery = tokio::select! {
            // Stop first: a stop request is honoured before taking another record.
            biased;
            _ = &mut stop => break,
            next = subscriber.next() => next,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(BusError::Closed) => break,
            Err(e) => {
                // librdkafka reconnects by itself; the error is worth a log line only.
                stats.fetch_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "event bus fetch error");
                continue;
            }
        };
        let received = match decode::<E>(&delivery) {
            Ok(r) => r,
            Err(why) => {
                reject(stats, &delivery, &why);
                subscriber.commit(&delivery)?;
                continue;
            }
        };
        let mut backoff = BACKOFF_START;
        loop {
            // Not raced against `stop`: an apply is finished and committed rather
            // than abandoned half-way (which would only cause a redelivery).
            match apply(received.clone()).await {
                Ok(()) => {
                    stats.applied.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(ApplyError::Reject(why)) => {
                    reject(stats, &delivery, &why);
                    break;
                }
                Err(ApplyError::Retry(why)) => {
                    stats.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic = %delivery.topic, offset = delivery.offset, %why, "apply failed; retrying");
                    tokio::select! {
                        _ = &mut stop => return subscriber.close().await,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        subscriber.commit(&delivery)?;
    }
    subscriber.close().await
}

fn reject(stats: &ConsumerStats, delivery: &Delivery, why: &str) {
    stats.rejected.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset,
        %why, "event cannot be applied; skipping it"
    );
}

/// Decodes a record, refusing schemas newer than this build understands.
pub fn decode<E: DeserializeOwned>(delivery: &Delivery) -> Result<Received<E>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(&delivery.payload).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(schema) = value.get("schema").and_then(|s| s.as_u64()) {
        if schema > u64::from(EVENT_SCHEMA_VERSION) {
            return Err(format!(
                "schema {schema} is newer than {EVENT_SCHEMA_VERSION}"
            ));
        }
    }
    let event = serde_json::from_value(value).map_err(|e| format!("unknown event: {e}"))?;
    Ok(Received {
        event,
        topic: delivery.topic.clone(),
        partition: delivery.partition,
        offset: delivery.offset,
        key: delivery.key.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketon_wire::events::AdmissionEvent;

    fn delivery(payload: &str) -> Delivery {
        Delivery {
            topic: "t".into(),
            partition: 0,
            offset: 7,
            key: "q1".into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn decodes_a_current_event() {
        let json = r#"{"type":"left","schema":1,"queueId":"q1","entryId":"e","userId":"u","at":3}"#;
        let r = decode::<AdmissionEvent>(&delivery(json)).unwrap();
        assert_eq!(r.offset, 7);
        assert_eq!(r.event.queue_id(), "q1");
    }

    #[test]
    fn refuses_newer_schema_garbage_and_unknown_types() {
        let newer =
            r#"{"type":"left","schema":2,"queueId":"q1","entryId":"e","userId":"u","at":3}"#;
        assert!(decode::<AdmissionEvent>(&delivery(newer))
            .unwrap_err()
            .contains("newer"));
        assert!(decode::<AdmissionEvent>(&delivery("{nope"))
            .unwrap_err()
            .contains("not JSON"));
        let unknown = r#"{"type":"teleported","schema":1,"queueId":"q1"}"#;
        assert!(decode::<AdmissionEvent>(&delivery(unknown))
            .unwrap_err()
            .contains("unknown event"));
    }
}
