//! The event bus: how the services hand events to each other.
//!
//! Two implementations share one contract so that a service is written once and
//! runs the same way on embedded defaults (no Kafka) and in production:
//! - [`memory::InProcessBus`]: an in-process log guarded by a mutex, for a
//!   single process without Kafka.
//! - [`kafka::KafkaPublisher`] / [`kafka::KafkaSubscriber`]: rdkafka against a
//!   real broker.
//!
//! The contract (also in `proto-notes/events.md`):
//! - **Publishing never blocks.** [`Publisher::publish`] either accepts the
//!   record into a bounded buffer or returns [`PublishError::Full`] at once.
//!   A full buffer is *backpressure*, never a silent drop: the caller must stop
//!   doing what produces events (the queue-server stops admitting) and retry.
//! - **Order per key.** Every record has a key (the `queueId`); records with one
//!   key are delivered in publish order, also across broker outages.
//! - **At least once, commit after apply.** A [`Subscriber`] delivers a record
//!   until it is committed; [`driver::run_consumer`] (one record at a time)
//!   and [`driver::run_batch_consumer`] (what is waiting, applied together)
//!   commit only after the handler returned `Ok`, so a crash between apply
//!   and commit redelivers it. Handlers must therefore be idempotent.

pub mod driver;
pub mod error;
pub mod kafka;
pub mod memory;
pub mod receipts;
pub mod stats;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

pub use driver::{run_batch_consumer, run_consumer, ApplyError, MAX_BATCH};
pub use error::{BusError, PublishError};
pub use receipts::{Receipt, ReceiptStatus};
pub use stats::{ConsumerStats, PublishStats};

use ticketon_wire::events::{
    AdmissionEvent, EntryEvent, SessionEvent, TicketEvent, TOPIC_ADMISSIONS, TOPIC_ENTRIES,
    TOPIC_SESSIONS, TOPIC_TICKETS,
};

/// A boxed future, so that both traits stay object-safe (`Box<dyn Subscriber>`):
/// one allocation per record is nothing next to a network round trip.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The producing half of the bus.
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Hands a record to the bus without blocking. `Ok` means accepted into the
    /// buffer (it will be delivered, in order for its key); see [`PublishError`].
    /// `traceparent`: the W3C trace context the record continues, carried
    /// in the record's `traceparent` header.
    fn publish_traced(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<(), PublishError>;

    /// [`Publisher::publish_traced`] for a record whose delivery the caller
    /// must learn of: its receipt, to compare with
    /// [`Publisher::receipt_status`]. The default is for a bus whose
    /// acceptance is its delivery.
    fn publish_receipted(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<Receipt, PublishError> {
        self.publish_traced(topic, key, payload, traceparent)?;
        Ok(0)
    }

    /// How far the receipted records are delivered (see [`receipts`]).
    fn receipt_status(&self) -> ReceiptStatus {
        ReceiptStatus::ALL_DELIVERED
    }

    /// Lets the delivered watermark pass receipted records that failed for
    /// good, once the caller has arranged to publish them again.
    fn clear_failed_receipts(&self) {}

    /// [`Publisher::publish_traced`] outside any trace.
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), PublishError> {
        self.publish_traced(topic, key, payload, None)
    }

    /// Counters and buffer depth, for `/metrics`.
    fn stats(&self) -> &PublishStats;

    /// Waits until everything accepted so far is delivered, or `timeout` passes.
    /// Call before shutting down: records still buffered when the publisher is
    /// dropped are lost.
    fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<(), BusError>>;

    /// Whether the bus can take records now, for `/readyz`: a round trip to
    /// the broker for Kafka. The default, for a bus inside the process, is
    /// always ready.
    fn check(&self, timeout: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        let _ = timeout;
        Box::pin(async { Ok(()) })
    }

    /// What this bus is, as `/readyz` names it.
    fn name(&self) -> &'static str {
        "in-process bus"
    }
}

/// One record as a subscriber sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
    /// The trace the record continues (its `traceparent` header).
    pub traceparent: Option<String>,
}

/// The consuming half of the bus: one member of a consumer group.
pub trait Subscriber: Send + std::fmt::Debug {
    /// The next record. A record that is never committed is delivered again to
    /// the next subscriber of the same group (at least once).
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>>;

    /// A delivery already waiting, without waiting: what lets
    /// [`driver::run_batch_consumer`] apply a burst of records in one go
    /// instead of one round trip each. `None` says only "nothing at hand right
    /// now", never "closed"; errors surface through the next [`Subscriber::next`].
    /// Same at-least-once rules as `next`. The default has nothing at hand, so
    /// a subscriber without it is consumed in batches of one.
    fn next_ready(&mut self) -> Option<Delivery> {
        None
    }

    /// Marks `delivery` and everything before it in its partition as applied.
    /// Does not block; the commit is made durable at the latest by [`Subscriber::close`].
    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError>;

    /// Makes the commits durable and leaves the group.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>>;
}

/// An event type with its home topic and key.
pub trait BusEvent: Serialize {
    const TOPIC: &'static str;
    /// The partitioning key: the `queueId`, so one sale's events stay in order.
    fn key(&self) -> &str;
}

impl BusEvent for AdmissionEvent {
    const TOPIC: &'static str = TOPIC_ADMISSIONS;
    fn key(&self) -> &str {
        self.queue_id()
    }
}

impl BusEvent for SessionEvent {
    const TOPIC: &'static str = TOPIC_SESSIONS;
    fn key(&self) -> &str {
        self.queue_id()
    }
}

impl BusEvent for TicketEvent {
    const TOPIC: &'static str = TOPIC_TICKETS;
    fn key(&self) -> &str {
        self.queue_id()
    }
}

impl BusEvent for EntryEvent {
    const TOPIC: &'static str = TOPIC_ENTRIES;
    fn key(&self) -> &str {
        match self {
            EntryEvent::Joined { queue_id, .. } => queue_id,
        }
    }
}

/// Publishes `event` as JSON on its home topic, keyed by its `queueId`.
pub fn publish_event<E: BusEvent>(
    publisher: &(impl Publisher + ?Sized),
    event: &E,
) -> Result<(), PublishError> {
    publish_json(publisher, E::TOPIC, event.key(), event)
}

/// Publishes any serializable value as JSON on `topic` (tests use fresh topics).
pub fn publish_json(
    publisher: &(impl Publisher + ?Sized),
    topic: &str,
    key: &str,
    value: &impl Serialize,
) -> Result<(), PublishError> {
    let payload = serde_json::to_vec(value).map_err(PublishError::Encode)?;
    publisher.publish(topic, key, payload)
}
