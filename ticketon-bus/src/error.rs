//! Errors at the bus boundary. Publishing has its own type because its callers
//! must tell backpressure (stop and retry later) apart from a broken bus.

use thiserror::Error;

/// Why a record was not accepted by [`super::Publisher::publish`].
#[derive(Debug, Error)]
pub enum PublishError {
    /// The bounded buffer is full (Kafka down or slower than the publisher, or
    /// in-process consumers behind). Nothing was queued: the caller must stop
    /// producing events (e.g. stop admitting) and try again later.
    #[error("event buffer full ({depth} of {capacity} records waiting)")]
    Full { depth: u64, capacity: u64 },
    #[error("event could not be encoded: {0}")]
    Encode(serde_json::Error),
    /// The bus cannot take records any more (e.g. a fatal idempotent-producer error).
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Everything else that can go wrong on the bus.
#[derive(Debug, Error)]
pub enum BusError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("consumer group {group} already has an active member on topic {topic}")]
    GroupBusy { group: String, topic: String },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("bus closed")]
    Closed,
}
