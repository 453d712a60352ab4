//! The Kafka subscriber: one member of a consumer group, committing offsets
//! itself and only for records the handler applied.
//!
//! Commits are asynchronous per record (librdkafka coalesces them) so applying
//! is never held up by a commit round trip; `close` commits the last applied
//! offsets synchronously before leaving the group. A commit lost in a crash only
//! means redelivery, which idempotent handlers absorb.
//!
//! [`Subscriber::next_ready`] polls `recv` once with a no-op waker: librdkafka
//! prefetches records into its queue, so a burst is handed over without a
//! wait, and `recv` is cancel-safe (a record is taken off the queue only when
//! the poll returns it), so giving up on a pending poll loses nothing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, TRACEPARENT_HEADER};
use crate::{BoxFuture, BusError, Delivery, Subscriber};

/// Logs what a silent consumer would hide: failed commits and rebalances.
struct GroupLog;

impl ClientContext for GroupLog {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for GroupLog {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, "offset commit failed; records since the last commit will be redelivered");
        }
    }
}

/// The Kafka [`Subscriber`].
pub struct KafkaSubscriber {
    consumer: Arc<StreamConsumer<GroupLog>>,
    /// Next offset to commit per (topic, partition): last applied + 1.
    applied: HashMap<(String, i32), i64>,
    /// An error `next_ready` polled off the queue: `next_ready` cannot report
    /// it, so the following `next` does (the consume loop counts and logs it).
    pending_error: Option<KafkaError>,
}

impl std::fmt::Debug for KafkaSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscriber")
            .field("applied", &self.applied)
            .field("pending_error", &self.pending_error)
            .finish_non_exhaustive()
    }
}

impl KafkaSubscriber {
    /// Joins `group` and subscribes to `topics` (which must exist).
    pub fn subscribe(
        config: &KafkaConfig,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscriber>, BusError> {
        let consumer: StreamConsumer<GroupLog> =
            config.consumer(group).create_with_context(GroupLog)?;
        consumer.subscribe(topics)?;
        Ok(Box::new(KafkaSubscriber {
            consumer: Arc::new(consumer),
            applied: HashMap::new(),
            pending_error: None,
        }))
    }

    fn offsets(&self) -> Result<TopicPartitionList, BusError> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &self.applied {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        Ok(tpl)
    }
}

fn delivery(m: &BorrowedMessage<'_>) -> Delivery {
    Delivery {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        key: m
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        traceparent: m.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == TRACEPARENT_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
        }),
    }
}

impl Subscriber for KafkaSubscriber {
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>> {
        Box::pin(async move {
            if let Some(e) = self.pending_error.take() {
                return Err(BusError::Kafka(e));
            }
            let m = self.consumer.recv().await?;
            Ok(delivery(&m))
        })
    }

    fn next_ready(&mut self) -> Option<Delivery> {
        if self.pending_error.is_some() {
            return None;
        }
        // One poll, never a wait: a pending `recv` is dropped (cancel-safe,
        // see the module doc) and the no-op waker is never woken.
        let polled = {
            let mut cx = Context::from_waker(Waker::noop());
            let recv = pin!(self.consumer.recv());
            let polled = recv.poll(&mut cx);
            polled.map(|r| r.map(|m| delivery(&m)))
        };
        match polled {
            Poll::Ready(Ok(d)) => Some(d),
            Poll::Ready(Err(e)) => {
                self.pending_error = Some(e);
                None
            }
            Poll::Pending => None,
        }
    }

    fn commit(&mut self, d: &Delivery) -> Result<(), BusError> {
        let next = d.offset + 1;
        self.applied.insert((d.topic.clone(), d.partition), next);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&d.topic, d.partition, Offset::Offset(next))?;
        self.consumer.commit(&tpl, CommitMode::Async)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
        Box::pin(async move {
            let tpl = self.offsets()?;
            let consumer = self.consumer;
            // Both the sync commit and leaving the group block a thread.
            tokio::task::spawn_blocking(move || {
                let committed = if tpl.count() > 0 {
                    consumer.commit(&tpl, CommitMode::Sync)
                } else {
                    Ok(())
                };
                consumer.unsubscribe();
                drop(consumer);
                committed
            })
            .await
            .map_err(|e| BusError::Timeout(format!("close task: {e}")))??;
            Ok(())
        })
    }
}
