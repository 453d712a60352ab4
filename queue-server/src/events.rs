//! The queue-server's side of the event bus (topics in proto-notes/events.md).
//!
//! Out: `ticketon.admissions` (`admitted`, `left`, `expired`), and when
//! enabled `ticketon.entries` (`joined`, for analytics). In:
//! `ticketon.sessions`, so that a buyer who paid or gave up frees the slot at
//! once instead of when the session times out.
//!
//! Admission events must never be lost or reordered, yet publishing must
//! never block a request. The bus refuses records when its bounded buffer is
//! full (Kafka down for a while); the outbox then keeps them, in order, in
//! `pending`, and the admission loop admits nobody until `pending` has drained
//! (see [`EventOutbox::drain`]). So an outage pauses admission instead of
//! dropping events, and `pending` never holds more than about one admission
//! tick's events plus the leaves that arrive meanwhile. Joined events are
//! analytics: when the buffer is full they are dropped and counted.
//!
//! A store that keeps its admissions elsewhere (Redis) must also survive the
//! death of the server that admitted: the last event of each admission batch
//! carries an [`AnnounceMark`], and once the bus confirms its delivery
//! ([`EventOutbox::settle`]) the store moves its announced cursor past the
//! batch. A server that takes over admission publishes again every batch
//! after the cursor, so each admission reaches the bus at least once and, as
//! consumers apply events idempotently per entryId, takes effect once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use ticketon_bus::kafka::{KafkaConfig, KafkaPublisher, KafkaSubscriber};
use ticketon_bus::{
    BusError, BusEvent, ConsumerStats, PublishError, PublishStats, Publisher, Subscriber,
};
use ticketon_wire::events::TOPIC_SESSIONS;
use ticketon_wire::EntryEvent;

/// The consumer group of all queue-servers on `ticketon.sessions`: each
/// session event is applied by one of them (the effect lands in the shared
/// store).
pub const SESSIONS_GROUP: &str = "ticketon-queue-server";

/// How the queue-server is connected to the other services.
#[derive(Debug)]
pub struct EventLink {
    pub publisher: Arc<dyn Publisher>,
    /// A member of the queue-servers' consumer group on `ticketon.sessions`.
    pub sessions: Box<dyn Subscriber>,
    /// Also publish every join on `ticketon.entries`.
    pub publish_entries: bool,
}

impl EventLink {
    /// Kafka at `brokers`: one idempotent producer for the process, and
    /// this server's membership in the queue-servers' consumer group on
    /// `ticketon.sessions`.
    pub fn kafka(brokers: &str, publish_entries: bool) -> Result<EventLink, BusError> {
        let kafka = KafkaConfig::new(brokers);
        let publisher = KafkaPublisher::new(&kafka)?;
        let sessions = KafkaSubscriber::subscribe(&kafka, SESSIONS_GROUP, &[TOPIC_SESSIONS])?;
        tracing::info!(brokers, publish_entries, "events over Kafka");
        Ok(EventLink {
            publisher: Arc::new(publisher),
            sessions,
            publish_entries,
        })
    }
}

#[derive(Debug)]
struct PendingRecord {
    topic: &'static str,
    key: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
    mark: Option<AnnounceMark>,
}

/// "Batch `batch` of the queue's admissions is announced once this record
/// is delivered": the last event of an admission batch carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceMark {
    pub queue_id: String,
    pub epoch: u64,
    pub batch: u64,
}

/// What [`EventOutbox::settle`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// The batches now known delivered, the latest per queue.
    pub announced: Vec<AnnounceMark>,
    /// A marked record failed for good: the batches after each queue's
    /// cursor must be published again.
    pub republish: bool,
}

/// Traced joins remembered at once (each an entryId and a traceparent, about
/// 200 bytes): past this the oldest is forgotten, and its admission starts
/// a trace of its own.
const MAX_TRACED_JOINS: usize = 65_536;

#[derive(Debug)]
pub struct EventOutbox {
    publisher: Arc<dyn Publisher>,
    pending: Mutex<VecDeque<PendingRecord>>,
    /// Marked records handed to the bus, by receipt, oldest first.
    awaiting: Mutex<VecDeque<(ticketon_bus::Receipt, AnnounceMark)>>,
    publish_entries: bool,
    pub entries_dropped: AtomicU64,
    /// Counters of the `ticketon.sessions` consumer.
    pub sessions_consumed: ConsumerStats,
    /// The trace context of each join that came with one (a `traceparent`
    /// header), by entryId, until the entry's admission event carries it to
    /// the reservation-api: so one purchase is one trace. Only traced joins
    /// are kept, and at most [`MAX_TRACED_JOINS`] of them.
    join_traces: Mutex<JoinTraces>,
}

/// Traced joins by entryId, forgetting the oldest past [`MAX_TRACED_JOINS`]:
/// an entry admitted by another server of a fleet, or of a deleted queue,
/// never comes back for its trace.
#[derive(Debug, Default)]
struct JoinTraces {
    by_entry: HashMap<String, String>,
    oldest_first: VecDeque<String>,
}

impl EventOutbox {
    pub fn new(publisher: Arc<dyn Publisher>, publish_entries: bool) -> Self {
        EventOutbox {
            publisher,
            pending: Mutex::new(VecDeque::new()),
            awaiting: Mutex::new(VecDeque::new()),
            publish_entries,
            entries_dropped: AtomicU64::new(0),
            join_traces: Mutex::new(JoinTraces::default()),
            sessions_consumed: ConsumerStats::default(),
        }
    }

    pub fn publish_stats(&self) -> &PublishStats {
        self.publisher.stats()
    }

    pub fn publisher(&self) -> &dyn Publisher {
        &*self.publisher
    }

    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Remembers the trace a join continued, for its entry's events.
    pub fn remember_join_trace(&self, entry_id: &str, traceparent: String) {
        let mut traces = self.join_traces.lock();
        let JoinTraces {
            by_entry,
            oldest_first,
        } = &mut *traces;
        if by_entry.len() >= MAX_TRACED_JOINS {
            while let Some(oldest) = oldest_first.pop_front() {
                if by_entry.remove(&oldest).is_some() {
                    break;
                }
            }
        }
        if oldest_first.len() >= 2 * MAX_TRACED_JOINS {
            // Entries taken since are still named here: drop them.
            oldest_first.retain(|id| by_entry.contains_key(id));
        }
        oldest_first.push_back(entry_id.to_string());
        by_entry.insert(entry_id.to_string(), traceparent);
    }

    /// The trace of the entry's join, kept for the entry's later events.
    pub fn join_trace(&self, entry_id: &str) -> Option<String> {
        let traces = self.join_traces.lock();
        traces.by_entry.get(entry_id).cloned()
    }

    /// The trace of the entry's join, forgotten from here on.
    pub fn take_join_trace(&self, entry_id: &str) -> Option<String> {
        let mut traces = self.join_traces.lock();
        if traces.by_entry.is_empty() {
            return None;
        }
        let trace = traces.by_entry.remove(entry_id);
        if traces.by_entry.is_empty() {
            // Whatever order is left names only forgotten entries.
            traces.oldest_first.clear();
        }
        trace
    }

    /// Hands a must-deliver event to the bus, or keeps it in order behind
    /// the ones already waiting; it carries `traceparent` in its header.
    pub fn send<E: BusEvent>(&self, event: &E, traceparent: Option<String>) {
        self.send_marked(event, traceparent, None);
    }

    /// [`EventOutbox::send`] for the last event of an admission batch, whose
    /// delivery [`EventOutbox::settle`] reports.
    pub fn send_marked<E: BusEvent>(
        &self,
        event: &E,
        traceparent: Option<String>,
        mark: Option<AnnounceMark>,
    ) {
        let payload = match serde_json::to_vec(event) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "event could not be encoded");
                return;
            }
        };
        let record = PendingRecord {
            topic: E::TOPIC,
            key: event.key().to_string(),
            payload,
            traceparent,
            mark,
        };
        let mut pending = self.pending.lock();
        if pending.is_empty() {
            match self.try_publish(&record) {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "event bus refused an event; keeping it"),
            }
        }
        pending.push_back(record);
    }

    /// The admission batches whose last event the bus has delivered since
    /// the last call, or word that one will never be.
    pub fn settle(&self) -> Settlement {
        let mut awaiting = self.awaiting.lock();
        if awaiting.is_empty() {
            return Settlement::default();
        }
        let status = self.publisher.receipt_status();
        if status.failed > 0 {
            // Whatever was marked so far may sit behind the lost record;
            // the store publishes again from its cursor instead.
            self.publisher.clear_failed_receipts();
            awaiting.clear();
            return Settlement {
                announced: Vec::new(),
                republish: true,
            };
        }
        let mut announced: Vec<AnnounceMark> = Vec::new();
        while let Some((receipt, _)) = awaiting.front() {
            if *receipt > status.delivered_through {
                break;
            }
            let Some((_, mark)) = awaiting.pop_front() else {
                break;
            };
            match announced.iter_mut().find(|m| m.queue_id == mark.queue_id) {
                Some(latest) => *latest = mark,
                None => announced.push(mark),
            }
        }
        Settlement {
            announced,
            republish: false,
        }
    }

    /// Publishes what is waiting, in order. True when nothing is left, i.e.
    /// admission may go on.
    pub fn drain(&self) -> bool {
        let mut pending = self.pending.lock();
        while let Some(record) = pending.front() {
            if self.try_publish(record).is_err() {
                return false;
            }
            pending.pop_front();
        }
        true
    }

    fn try_publish(&self, record: &PendingRecord) -> Result<(), PublishError> {
        // The payload is cloned because a refused record must stay here; events
        // are a couple of hundred bytes and only admissions and leaves go this way.
        let payload = record.payload.clone();
        let trace = record.traceparent.as_deref();
        let Some(mark) = &record.mark else {
            return self
                .publisher
                .publish_traced(record.topic, &record.key, payload, trace);
        };
        let receipt =
            self.publisher
                .publish_receipted(record.topic, &record.key, payload, trace)?;
        self.awaiting.lock().push_back((receipt, mark.clone()));
        Ok(())
    }

    /// Best effort: analytics may lose a join when the bus is backed up.
    pub fn joined(&self, event: &EntryEvent) {
        if !self.publish_entries {
            return;
        }
        if ticketon_bus::publish_event(&*self.publisher, event).is_err() {
            self.entries_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn publishes_entries(&self) -> bool {
        self.publish_entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> EventOutbox {
        EventOutbox::new(Arc::new(ticketon_bus::memory::InProcessBus::new(10)), false)
    }

    #[test]
    fn a_join_trace_is_read_until_it_is_taken() {
        let events = outbox();
        events.remember_join_trace("e1", "00-t1".into());
        assert_eq!(events.take_join_trace("e2"), None);
        assert_eq!(events.join_trace("e1").as_deref(), Some("00-t1"), "kept");
        assert_eq!(events.take_join_trace("e1").as_deref(), Some("00-t1"));
        assert_eq!(events.take_join_trace("e1"), None);
    }

    #[test]
    fn past_the_cap_the_oldest_join_trace_is_forgotten() {
        let events = outbox();
        for i in 0..=MAX_TRACED_JOINS {
            events.remember_join_trace(&format!("e{i}"), format!("t{i}"));
        }
        assert_eq!(events.take_join_trace("e0"), None, "the oldest went first");
        assert_eq!(events.take_join_trace("e1").as_deref(), Some("t1"));
        let last = format!("e{MAX_TRACED_JOINS}");
        assert!(events.take_join_trace(&last).is_some());
    }
}
