//! The consume loop shared by both bus implementations: decode, apply, and only
//! then commit. Keeping it in one place is what makes "commit after apply" and
//! the retry policy identical on Kafka and in-process.
//!
//! Two entry points, one loop: [`run_consumer`] hands the handler one record
//! at a time; [`run_batch_consumer`] hands it everything already waiting (at
//! most [`MAX_BATCH`] records, see [`Subscriber::next_ready`]) so that a
//! handler can apply a burst in one database transaction instead of one round
//! trip per record. `run_consumer` is the same loop with batches of one.
//!
//! Policy (a "batch" is a single record under `run_consumer`):
//! - `Ok` from the handler: commit the batch. A commit covers everything
//!   before it in its partition, so the last delivery of each partition is
//!   committed, and only after the whole batch is applied.
//! - [`ApplyError::Retry`] (a transient failure, e.g. the database is down): do
//!   not commit; apply the same batch again after a backoff. Later records of
//!   the partition wait, so per-key order is never broken.
//! - [`ApplyError::Reject`] or an undecodable record (not JSON, unknown `type`,
//!   a `schema` newer than [`EVENT_SCHEMA_VERSION`]): it can never be applied, so
//!   it is logged, counted in `rejected` and committed rather than blocking
//!   the partition forever. A batch of several records that is rejected is
//!   applied again one record at a time (each with the same retry policy), so
//!   one bad record cannot take the others down with it. An undecodable record
//!   is counted when it is taken but committed with its batch, never ahead of
//!   the records before it.
//!
//! A handler may be given a record again after it applied it (a failed batch
//! that had applied part of its records, a crash before the commit), so it
//! must be idempotent, as at-least-once delivery requires anyway.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::{BusError, ConsumerStats, Delivery, Subscriber};
use ticketon_wire::events::EVENT_SCHEMA_VERSION;

/// What a handler reports when it did not apply a record (or a batch).
#[derive(Debug, Error)]
pub enum ApplyError {
    /// Transient: retry the same record (or batch) later.
    #[error("transient: {0}")]
    Retry(String),
    /// Permanent: the record can never be applied; skip it. From a batch:
    /// at least one of its records cannot be applied; the consumer then
    /// applies them one by one to find out which.
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
    /// The trace the record continues (its `traceparent` header).
    pub traceparent: Option<String>,
}

/// The most records [`run_batch_consumer`] takes into one batch (undecodable
/// ones included): a burst of a flash sale fits in a few transactions, and a
/// rejected batch, re-applied one record at a time, stays short.
pub const MAX_BATCH: usize = 256;

const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Consumes records one at a time until `stop` resolves, then closes the
/// subscriber (which makes the commits durable and leaves the group).
pub async fn run_consumer<E, F, Fut>(
    subscriber: Box<dyn Subscriber>,
    stats: &ConsumerStats,
    mut apply: F,
    stop: impl Future<Output = ()>,
) -> Result<(), BusError>
where
    E: DeserializeOwned + Clone,
    F: FnMut(Received<E>) -> Fut,
    Fut: Future<Output = Result<(), ApplyError>>,
{
    let one_at_a_time = move |batch: Vec<Received<E>>| {
        // `consume` never hands out an empty batch, and with a limit of one
        // never more than one record.
        let received = batch
            .into_iter()
            .next()
            .expect("the consume loop never applies an empty batch");
        apply(received)
    };
    consume(subscriber, stats, 1, one_at_a_time, stop).await
}

/// Consumes records in batches until `stop` resolves, then closes the
/// subscriber. Each batch is one record waited for plus whatever else is
/// already waiting (up to [`MAX_BATCH`] records in all), decoded and handed
/// to `apply` in delivery order; see the module doc for retries, rejects and
/// commits. `apply` must have the effect of applying the records one after
/// the other: it is also called with batches of one (after a reject), and
/// a subscriber without [`Subscriber::next_ready`] only ever yields those.
///
/// The batch is passed by value (cloned for each attempt, as [`run_consumer`]
/// clones its record) so that the future `apply` returns may own it.
pub async fn run_batch_consumer<E, F, Fut>(
    subscriber: Box<dyn Subscriber>,
    stats: &ConsumerStats,
    apply: F,
    stop: impl Future<Output = ()>,
) -> Result<(), BusError>
where
    E: DeserializeOwned + Clone,
    F: FnMut(Vec<Received<E>>) -> Fut,
    Fut: Future<Output = Result<(), ApplyError>>,
{
    consume(subscriber, stats, MAX_BATCH, apply, stop).await
}

/// The loop behind both entry points, taking at most `max_batch` records per batch.
async fn consume<E, F, Fut>(
    mut subscriber: Box<dyn Subscriber>,
    stats: &ConsumerStats,
    max_batch: usize,
    mut apply: F,
    stop: impl Future<Output = ()>,
) -> Result<(), BusError>
where
    E: DeserializeOwned + Clone,
    F: FnMut(Vec<Received<E>>) -> Fut,
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
        let mut batch = Batch::<E>::new();
        batch.take(stats, delivery);
        while batch.taken < max_batch {
            let Some(delivery) = subscriber.next_ready() else {
                break;
            };
            batch.take(stats, delivery);
        }
        let records = &batch.records;
        // Not raced against `stop` (only the backoff is): an apply is finished
        // and committed rather than abandoned half-way (which would only
        // cause a redelivery).
        match settle(&mut apply, records, stats, &mut stop).await {
            Settled::Applied => {}
            Settled::Stopped => return subscriber.close().await,
            Settled::Rejected(why) if records.len() == 1 => {
                let r = &records[0];
                reject(stats, &r.topic, r.partition, r.offset, &why)
            }
            Settled::Rejected(why) => {
                tracing::warn!(
                    records = records.len(), %why,
                    "batch rejected; applying its records one by one"
                );
                for received in records {
                    match settle(&mut apply, std::slice::from_ref(received), stats, &mut stop).await
                    {
                        Settled::Applied => {}
                        Settled::Stopped => return subscriber.close().await,
                        Settled::Rejected(why) => reject(
                            stats,
                            &received.topic,
                            received.partition,
                            received.offset,
                            &why,
                        ),
                    }
                }
            }
        }
        for delivery in &batch.commits {
            subscriber.commit(delivery)?;
        }
    }
    subscriber.close().await
}

/// The records of one batch, and what to commit once they are applied.
#[derive(Debug)]
struct Batch<E> {
    /// The decoded records, in delivery order.
    records: Vec<Received<E>>,
    /// The last delivery taken of each (topic, partition), undecodable ones
    /// included: committing it covers the batch's earlier records there.
    commits: Vec<Delivery>,
    /// Deliveries taken, decodable or not.
    taken: usize,
}

impl<E: DeserializeOwned> Batch<E> {
    fn new() -> Self {
        Batch {
            records: Vec::new(),
            commits: Vec::new(),
            taken: 0,
        }
    }

    fn take(&mut self, stats: &ConsumerStats, delivery: Delivery) {
        self.taken += 1;
        match decode::<E>(&delivery) {
            Ok(received) => self.records.push(received),
            // Counted now, committed with the batch: a commit of its own
            // would also commit the records ahead of it, not yet applied.
            Err(why) => reject(
                stats,
                &delivery.topic,
                delivery.partition,
                delivery.offset,
                &why,
            ),
        }
        let last = self
            .commits
            .iter_mut()
            .find(|c| c.topic == delivery.topic && c.partition == delivery.partition);
        match last {
            Some(last) => *last = delivery,
            None => self.commits.push(delivery),
        }
    }
}

/// How applying a batch ended.
enum Settled {
    Applied,
    Rejected(String),
    /// `stop` resolved while waiting to retry; nothing is to be committed.
    Stopped,
}

/// Applies `batch` (if it is not empty), again after a growing backoff for as
/// long as the handler asks for a retry and `stop` has not resolved.
async fn settle<E, F, Fut, S>(
    apply: &mut F,
    batch: &[Received<E>],
    stats: &ConsumerStats,
    stop: &mut Pin<&mut S>,
) -> Settled
where
    E: Clone,
    F: FnMut(Vec<Received<E>>) -> Fut,
    Fut: Future<Output = Result<(), ApplyError>>,
    S: Future<Output = ()>,
{
    let Some(first) = batch.first() else {
        return Settled::Applied;
    };
    let mut backoff = BACKOFF_START;
    loop {
        match apply(batch.to_vec()).await {
            Ok(()) => {
                stats
                    .applied
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return Settled::Applied;
            }
            Err(ApplyError::Reject(why)) => return Settled::Rejected(why),
            Err(ApplyError::Retry(why)) => {
                stats.retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    topic = %first.topic, offset = first.offset, records = batch.len(), %why,
                    "apply failed; retrying"
                );
                tokio::select! {
                    _ = stop.as_mut() => return Settled::Stopped,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Counts and logs a record that can never be applied, by where it sits.
fn reject(stats: &ConsumerStats, topic: &str, partition: i32, offset: i64, why: &str) {
    stats.rejected.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        topic = %topic, partition, offset,
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
        traceparent: delivery.traceparent.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use ticketon_wire::events::AdmissionEvent;

    use crate::BoxFuture;

    /// A subscriber that hands out a fixed script, everything at hand at once,
    /// then reports `Closed` (which ends the consume loop), and records commits.
    #[derive(Debug)]
    struct Scripted {
        waiting: VecDeque<Delivery>,
        commits: Arc<Mutex<Vec<(i32, i64)>>>,
    }

    impl Subscriber for Scripted {
        fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>> {
            let next = self.waiting.pop_front().ok_or(BusError::Closed);
            Box::pin(std::future::ready(next))
        }

        fn next_ready(&mut self) -> Option<Delivery> {
            self.waiting.pop_front()
        }

        fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
            self.commits
                .lock()
                .unwrap()
                .push((delivery.partition, delivery.offset));
            Ok(())
        }

        fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
            Box::pin(std::future::ready(Ok(())))
        }
    }

    fn at(partition: i32, offset: i64, payload: String) -> Delivery {
        Delivery {
            topic: "t".into(),
            partition,
            offset,
            key: format!("q{partition}"),
            payload: payload.into_bytes(),
            traceparent: None,
        }
    }

    fn left_at(partition: i32, offset: i64) -> Delivery {
        let json = format!(
            r#"{{"type":"left","schema":1,"queueId":"q{partition}","entryId":"e{partition}-{offset}","userId":"u","at":3}}"#
        );
        at(partition, offset, json)
    }

    /// p0@0, p1@0, p0@1, garbage at p1@1, p0@2.
    fn script(commits: &Arc<Mutex<Vec<(i32, i64)>>>) -> Box<dyn Subscriber> {
        Box::new(Scripted {
            waiting: VecDeque::from([
                left_at(0, 0),
                left_at(1, 0),
                left_at(0, 1),
                at(1, 1, "{nope".into()),
                left_at(0, 2),
            ]),
            commits: commits.clone(),
        })
    }

    type Seen = Mutex<Vec<Vec<(i32, i64)>>>;

    fn positions(batch: &[Received<AdmissionEvent>]) -> Vec<(i32, i64)> {
        batch.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[tokio::test]
    async fn a_batch_commits_the_last_delivery_of_each_partition_after_applying() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let seen: Seen = Mutex::default();
        let stats = ConsumerStats::default();
        run_batch_consumer(
            script(&commits),
            &stats,
            |batch: Vec<Received<AdmissionEvent>>| {
                // Nothing of the batch is committed while it is applied.
                assert!(commits.lock().unwrap().is_empty());
                seen.lock().unwrap().push(positions(&batch));
                std::future::ready(Ok(()))
            },
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![vec![(0, 0), (1, 0), (0, 1), (0, 2)]],
            "one batch, in delivery order, without the garbage"
        );
        assert_eq!(
            *commits.lock().unwrap(),
            vec![(0, 2), (1, 1)],
            "the garbage is committed with its batch"
        );
        assert_eq!(stats.applied.load(Ordering::Relaxed), 4);
        assert_eq!(stats.rejected.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn one_at_a_time_commits_every_record_as_before() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let seen: Seen = Mutex::default();
        let stats = ConsumerStats::default();
        run_consumer(
            script(&commits),
            &stats,
            |r: Received<AdmissionEvent>| {
                seen.lock().unwrap().push(vec![(r.partition, r.offset)]);
                std::future::ready(Ok(()))
            },
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
        assert_eq!(seen.into_inner().unwrap().len(), 4);
        assert_eq!(
            *commits.lock().unwrap(),
            vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]
        );
        assert_eq!(stats.applied.load(Ordering::Relaxed), 4);
        assert_eq!(stats.rejected.load(Ordering::Relaxed), 1);
    }

    fn delivery(payload: &str) -> Delivery {
        Delivery {
            topic: "t".into(),
            partition: 0,
            offset: 7,
            key: "q1".into(),
            payload: payload.as_bytes().to_vec(),
            traceparent: None,
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
