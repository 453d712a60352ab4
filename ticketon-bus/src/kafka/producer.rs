//! The Kafka publisher: one librdkafka producer per process, whose own message
//! queue is the bounded buffer.
//!
//! Why librdkafka's queue and not a channel in front of it: the queue already is
//! bounded (`queue.buffering.max.messages`), answers "full" without blocking,
//! keeps records in order per partition while the broker is away, and hands
//! them to the idempotent producer's retry logic, so a second buffer would only
//! add a copy and a place where order could break. `buffered` in the stats is
//! the number of records accepted and not yet acknowledged or failed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::{KafkaConfig, TRACEPARENT_HEADER};
use crate::receipts::Receipts;
use crate::{BoxFuture, BusError, PublishError, PublishStats, Publisher, Receipt, ReceiptStatus};

/// Counts delivery reports and settles receipts; runs on librdkafka's
/// polling thread.
struct DeliveryCounter {
    stats: Arc<PublishStats>,
    receipts: Arc<Receipts>,
}

impl ClientContext for DeliveryCounter {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka producer error");
    }
}

impl ProducerContext for DeliveryCounter {
    /// The record's receipt, 0 for a record published without one.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, receipt: usize) {
        let receipt = receipt as Receipt;
        match result {
            Ok(_) => {
                PublishStats::bump(&self.stats.delivered);
                if receipt != 0 {
                    self.receipts.delivered(receipt);
                }
            }
            Err((error, _)) => {
                if receipt != 0 {
                    self.receipts.failed(receipt);
                }
                // With message.timeout.ms=0 and idempotence, librdkafka only gives up on
                // permanent errors (record too large, topic missing, fatal producer state).
                PublishStats::bump(&self.stats.failed);
                tracing::error!(%error, "kafka delivery failed; event lost");
            }
        }
        self.stats.buffered.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The Kafka [`Publisher`]. Cheap to share behind an `Arc`.
pub struct KafkaPublisher {
    producer: Arc<ThreadedProducer<DeliveryCounter>>,
    stats: Arc<PublishStats>,
    receipts: Arc<Receipts>,
    capacity: u64,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Creates the producer. It connects lazily: a broker that is down now is
    /// not an error, records wait in the buffer until it is back.
    pub fn new(config: &KafkaConfig) -> Result<Self, BusError> {
        let stats = Arc::new(PublishStats::default());
        let receipts = Arc::new(Receipts::default());
        let producer = config.producer().create_with_context(DeliveryCounter {
            stats: stats.clone(),
            receipts: receipts.clone(),
        })?;
        Ok(KafkaPublisher {
            producer: Arc::new(producer),
            stats,
            receipts,
            capacity: u64::from(config.buffer_capacity),
        })
    }
}

impl KafkaPublisher {
    /// Hands one record to librdkafka with `receipt` (0: none) as its
    /// delivery opaque.
    fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        traceparent: Option<&str>,
        receipt: Receipt,
    ) -> Result<(), PublishError> {
        // Counted before sending so that a fast delivery report never sees a zero depth.
        self.stats.buffered.fetch_add(1, Ordering::Relaxed);
        let mut record = BaseRecord::<str, [u8], usize>::with_opaque_to(topic, receipt as usize)
            .key(key)
            .payload(payload);
        if let Some(traceparent) = traceparent {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: TRACEPARENT_HEADER,
                value: Some(traceparent),
            }));
        }
        match self.producer.send(record) {
            Ok(()) => {
                PublishStats::bump(&self.stats.accepted);
                Ok(())
            }
            Err((error, _)) => {
                self.stats.buffered.fetch_sub(1, Ordering::Relaxed);
                match error {
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        PublishStats::bump(&self.stats.rejected_full);
                        Err(PublishError::Full {
                            depth: PublishStats::get(&self.stats.buffered),
                            capacity: self.capacity,
                        })
                    }
                    other => Err(PublishError::Unavailable(other.to_string())),
                }
            }
        }
    }
}

impl Publisher for KafkaPublisher {
    fn publish_traced(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<(), PublishError> {
        self.send(topic, key, &payload, traceparent, 0)
    }

    fn publish_receipted(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<Receipt, PublishError> {
        let receipt = self.receipts.issue();
        match self.send(topic, key, &payload, traceparent, receipt) {
            Ok(()) => Ok(receipt),
            Err(refused) => {
                self.receipts.withdraw(receipt);
                Err(refused)
            }
        }
    }

    fn receipt_status(&self) -> ReceiptStatus {
        self.receipts.status()
    }

    fn clear_failed_receipts(&self) {
        self.receipts.clear_failed();
    }

    fn stats(&self) -> &PublishStats {
        &self.stats
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        let producer = self.producer.clone();
        Box::pin(async move {
            // librdkafka's flush blocks a thread; keep it off the async workers.
            tokio::task::spawn_blocking(move || producer.flush(timeout))
                .await
                .map_err(|e| BusError::Timeout(format!("flush task: {e}")))?
                .map_err(|e| match e {
                    KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut) => {
                        BusError::Timeout("records still buffered".to_string())
                    }
                    other => BusError::Kafka(other),
                })
        })
    }

    fn check(&self, timeout: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        let producer = self.producer.clone();
        Box::pin(async move {
            // A metadata request is a real round trip to a broker; it blocks a
            // thread, like flush.
            tokio::task::spawn_blocking(move || {
                producer.client().fetch_metadata(None, timeout).map(drop)
            })
            .await
            .map_err(|e| BusError::Timeout(format!("metadata task: {e}")))?
            .map_err(BusError::Kafka)
        })
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}
