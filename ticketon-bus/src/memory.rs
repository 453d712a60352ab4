//! The in-process bus used on embedded defaults (no Kafka configured).
//!
//! It is a small Kafka in miniature rather than a plain channel, so that a
//! service behaves the same with and without Kafka: records sit in a log per
//! topic, each consumer group has a committed offset, a subscriber that is
//! dropped without committing leaves its records to be delivered again to the
//! next subscriber of the group (at least once), and records leave memory only
//! when every group that ever subscribed to the topic has committed them.
//!
//! Differences from Kafka, on purpose: one partition per topic (a total order,
//! which is stronger than per-key order), one active member per group (a
//! single process has no one to share partitions with), and nothing survives a
//! process restart (there is nowhere to keep it; the services rebuild state
//! from their stores).
//!
//! Bounded buffer: the log holds at most `capacity` records across topics. A
//! topic with no group keeps its records for a subscriber that comes later, so
//! publishing to a topic nobody consumes eventually returns
//! [`PublishError::Full`]: only publish what something consumes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::{BoxFuture, BusError, Delivery, PublishError, PublishStats, Publisher, Subscriber};

/// An in-process bus; clones share the same log.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus").finish_non_exhaustive()
    }
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every append so that idle subscribers wake up.
    appended: watch::Sender<u64>,
    stats: PublishStats,
    capacity: u64,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, TopicLog>,
    retained: u64,
}

/// One record as the log keeps it.
struct Record {
    key: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

#[derive(Default)]
struct TopicLog {
    /// Offset of `records[0]`.
    base: u64,
    records: VecDeque<Record>,
    groups: HashMap<String, Group>,
}

struct Group {
    committed: u64,
    active: bool,
}

impl TopicLog {
    fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }

    /// Forgets records every group has committed; returns how many.
    fn trim(&mut self) -> u64 {
        let Some(floor) = self.groups.values().map(|g| g.committed).min() else {
            return 0;
        };
        let mut dropped = 0;
        while self.base < floor && self.records.pop_front().is_some() {
            self.base += 1;
            dropped += 1;
        }
        dropped
    }
}

impl InProcessBus {
    /// A bus that buffers at most `capacity` uncommitted records.
    pub fn new(capacity: u64) -> Self {
        let (appended, _) = watch::channel(0);
        InProcessBus {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                appended,
                stats: PublishStats::default(),
                capacity,
            }),
        }
    }

    /// Joins `group` on `topics`, starting after the group's committed offsets
    /// (at the oldest retained record for a new group, like Kafka's `earliest`).
    pub fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscriber>, BusError> {
        let mut state = self.inner.lock();
        if let Some(busy) = topics.iter().find(|t| {
            state
                .topics
                .get(**t)
                .and_then(|l| l.groups.get(group))
                .is_some_and(|g| g.active)
        }) {
            return Err(BusError::GroupBusy {
                group: group.to_string(),
                topic: busy.to_string(),
            });
        }
        let mut cursors = Vec::with_capacity(topics.len());
        for topic in topics {
            let log = state.topics.entry(topic.to_string()).or_default();
            let base = log.base;
            let g = log.groups.entry(group.to_string()).or_insert(Group {
                committed: base,
                active: false,
            });
            g.active = true;
            cursors.push((topic.to_string(), g.committed.max(base)));
        }
        Ok(Box::new(InProcessSubscriber {
            inner: self.inner.clone(),
            group: group.to_string(),
            cursors,
            next_topic: 0,
            appended: self.inner.appended.subscribe(),
        }))
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-written (every
        // mutation is a single push/pop), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Publisher for InProcessBus {
    fn publish_traced(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<(), PublishError> {
        let stats = &self.inner.stats;
        {
            let mut state = self.inner.lock();
            if state.retained >= self.inner.capacity {
                PublishStats::bump(&stats.rejected_full);
                return Err(PublishError::Full {
                    depth: state.retained,
                    capacity: self.inner.capacity,
                });
            }
            let log = state.topics.entry(topic.to_string()).or_default();
            log.records.push_back(Record {
                key: key.to_string(),
                payload,
                traceparent: traceparent.map(str::to_string),
            });
            state.retained += 1;
            stats.buffered.store(state.retained, Ordering::Relaxed);
        }
        PublishStats::bump(&stats.accepted);
        PublishStats::bump(&stats.delivered);
        self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    fn stats(&self) -> &PublishStats {
        &self.inner.stats
    }

    fn flush(&self, _timeout: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        // Appending is delivery: there is nothing in flight.
        Box::pin(async { Ok(()) })
    }
}

impl std::fmt::Debug for InProcessSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessSubscriber")
            .field("group", &self.group)
            .field("cursors", &self.cursors)
            .finish_non_exhaustive()
    }
}

struct InProcessSubscriber {
    inner: Arc<Inner>,
    group: String,
    /// (topic, next offset to deliver)
    cursors: Vec<(String, u64)>,
    /// Round-robin start, so one busy topic cannot starve the others.
    next_topic: usize,
    appended: watch::Receiver<u64>,
}

impl InProcessSubscriber {
    fn try_next(&mut self) -> Option<Delivery> {
        let state = self.inner.lock();
        let n = self.cursors.len();
        for i in 0..n {
            let idx = (self.next_topic + i) % n;
            let (topic, cursor) = &mut self.cursors[idx];
            let Some(log) = state.topics.get(topic.as_str()) else {
                continue;
            };
            // Records below `base` were committed by this group too, so skipping is safe.
            *cursor = (*cursor).max(log.base);
            if *cursor < log.end() {
                let record = &log.records[(*cursor - log.base) as usize];
                let delivery = Delivery {
                    topic: topic.clone(),
                    partition: 0,
                    offset: *cursor as i64,
                    key: record.key.clone(),
                    payload: record.payload.clone(),
                    traceparent: record.traceparent.clone(),
                };
                *cursor += 1;
                self.next_topic = (idx + 1) % n;
                return Some(delivery);
            }
        }
        None
    }
}

impl Subscriber for InProcessSubscriber {
    fn next(&mut self) -> BoxFuture<'_, Result<Delivery, BusError>> {
        Box::pin(async move {
            loop {
                // Mark the current append count as seen *before* looking, so an
                // append between the look and the wait still wakes us.
                self.appended.borrow_and_update();
                if let Some(d) = self.try_next() {
                    return Ok(d);
                }
                self.appended
                    .changed()
                    .await
                    .map_err(|_| BusError::Closed)?;
            }
        })
    }

    fn next_ready(&mut self) -> Option<Delivery> {
        // No need to mark the append count as seen: `next` marks it before it
        // looks, so the worst case is one extra look that finds nothing.
        self.try_next()
    }

    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut state = self.inner.lock();
        let dropped = match state.topics.get_mut(delivery.topic.as_str()) {
            Some(log) => {
                if let Some(g) = log.groups.get_mut(&self.group) {
                    g.committed = g.committed.max(delivery.offset as u64 + 1);
                }
                log.trim()
            }
            None => 0,
        };
        state.retained -= dropped;
        self.inner
            .stats
            .buffered
            .store(state.retained, Ordering::Relaxed);
        Ok(())
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
        // Commits are already applied to the shared state; Drop leaves the group.
        drop(self);
        Box::pin(async { Ok(()) })
    }
}

impl Drop for InProcessSubscriber {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        for (topic, _) in &self.cursors {
            if let Some(g) = state
                .topics
                .get_mut(topic.as_str())
                .and_then(|l| l.groups.get_mut(&self.group))
            {
                g.active = false;
            }
        }
    }
}
