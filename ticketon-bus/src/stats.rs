//! Counters that the services render in `/metrics`. Plain atomics so that the
//! hot publish path pays one relaxed increment and a scrape never takes a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Producer-side counters. `buffered` is the current depth of the bounded buffer:
/// records accepted but not yet safe (for Kafka: not yet acknowledged by the
/// broker; in-process: not yet committed by every consumer group).
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Records accepted by `publish`.
    pub accepted: AtomicU64,
    /// Records the broker acknowledged (in-process: appended to the log).
    pub delivered: AtomicU64,
    /// Records whose delivery failed for good (logged; see proto-notes/events.md).
    pub failed: AtomicU64,
    /// `publish` calls refused because the buffer was full (backpressure).
    pub rejected_full: AtomicU64,
    /// Current buffer depth.
    pub buffered: AtomicU64,
}

impl PublishStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Consumer-side counters, kept by [`super::run_consumer`] and
/// [`super::run_batch_consumer`] (which count records, not batches, except `retried`).
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Records the handler applied and that were then committed.
    pub applied: AtomicU64,
    /// Handler failures that were retried (the record, or the batch, was not
    /// committed): one per failed attempt, however many records it held.
    pub retried: AtomicU64,
    /// Records that can never be applied (not JSON, unknown type, newer schema):
    /// logged and committed so they do not block their partition.
    pub rejected: AtomicU64,
    /// Errors from the bus itself while fetching (the subscriber keeps going).
    pub fetch_errors: AtomicU64,
}
