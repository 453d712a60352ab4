//! Bus scenarios written once against the traits, run on every implementation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ticketon_bus::driver::Received;
use ticketon_bus::{
    publish_json, run_batch_consumer, run_consumer, ApplyError, ConsumerStats, PublishError,
    PublishStats, Publisher, Subscriber, MAX_BATCH,
};
use ticketon_wire::{AdmissionEvent, EVENT_SCHEMA_VERSION};

/// How long a scenario waits for records before it gives up: a hang guard, not a speed goal.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// What a scenario needs from a bus.
pub(crate) trait TestBus: Sync {
    fn publisher(&self) -> Arc<dyn Publisher>;
    fn subscribe(&self, group: &str, topics: &[&str]) -> Box<dyn Subscriber>;
}

/// A unique prefix so runs against a shared broker never see each other's records.
pub(crate) fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The i-th event of `key`: `admittedAt` carries i so the order can be checked.
pub(crate) fn event(run: &str, key: &str, i: i64) -> AdmissionEvent {
    AdmissionEvent::Admitted {
        schema: EVENT_SCHEMA_VERSION,
        queue_id: key.to_string(),
        entry_id: format!("{run}/{key}/{i}"),
        user_id: format!("u{i}"),
        admitted_at: i,
        expires_at: i + 1,
    }
}

/// Publishes events `from..to` round-robin over `keys`.
pub(crate) fn publish_range(
    p: &dyn Publisher,
    topic: &str,
    run: &str,
    keys: &[String],
    from: i64,
    to: i64,
) {
    for i in from..to {
        let key = &keys[(i as usize) % keys.len()];
        if let Err(e) = publish_json(p, topic, key, &event(run, key, i)) {
            panic!("publish {i} failed: {e}");
        }
    }
}

pub(crate) fn keys(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("queue-{k}")).collect()
}

/// The handler's state: an idempotent apply keyed by entryId, as a service's would be.
#[derive(Default)]
pub(crate) struct Ledger {
    state: Mutex<LedgerState>,
}

#[derive(Default)]
struct LedgerState {
    applied: HashSet<String>,
    last_per_key: HashMap<String, i64>,
    duplicates: u64,
    out_of_order: Vec<String>,
}

impl Ledger {
    pub(crate) fn apply(&self, r: Received<AdmissionEvent>) -> Result<(), ApplyError> {
        let AdmissionEvent::Admitted {
            entry_id,
            admitted_at,
            ..
        } = r.event
        else {
            return Err(ApplyError::Reject("unexpected event type".into()));
        };
        let mut s = self.state.lock().unwrap();
        if !s.applied.insert(entry_id.clone()) {
            s.duplicates += 1; // already applied: a redelivery, absorbed
            return Ok(());
        }
        let last = s.last_per_key.insert(r.key.clone(), admitted_at);
        if last.is_some_and(|l| l >= admitted_at) {
            s.out_of_order.push(format!("{entry_id} after {last:?}"));
        }
        Ok(())
    }

    /// A batch as a store would apply it: every record in order, stopping at
    /// the first that cannot be applied.
    pub(crate) fn apply_batch(
        &self,
        batch: Vec<Received<AdmissionEvent>>,
    ) -> Result<(), ApplyError> {
        batch.into_iter().try_for_each(|r| self.apply(r))
    }

    pub(crate) fn len(&self) -> usize {
        self.state.lock().unwrap().applied.len()
    }

    pub(crate) fn duplicates(&self) -> u64 {
        self.state.lock().unwrap().duplicates
    }

    /// Asserts every event `0..n` of `run` was applied, in order per key.
    pub(crate) fn assert_complete(&self, run: &str, keys: &[String], n: i64) {
        self.assert_complete_except(run, keys, n, &[]);
    }

    /// Asserts every event `0..n` of `run` but those in `skipped` was applied,
    /// in order per key, and none of `skipped` was.
    pub(crate) fn assert_complete_except(
        &self,
        run: &str,
        keys: &[String],
        n: i64,
        skipped: &[i64],
    ) {
        let s = self.state.lock().unwrap();
        let id = |i: i64| format!("{run}/{}/{i}", keys[(i as usize) % keys.len()]);
        let missing: Vec<i64> = (0..n)
            .filter(|i| !skipped.contains(i) && !s.applied.contains(&id(*i)))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {n} events never applied, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let wrongly: Vec<i64> = skipped
            .iter()
            .copied()
            .filter(|i| s.applied.contains(&id(*i)))
            .collect();
        assert!(
            wrongly.is_empty(),
            "events applied that should have been skipped: {wrongly:?}"
        );
        assert_eq!(
            s.applied.len() as i64,
            n - skipped.len() as i64,
            "applied events that were never published"
        );
        assert!(
            s.out_of_order.is_empty(),
            "order broken within a key: {:?}",
            &s.out_of_order[..s.out_of_order.len().min(5)]
        );
    }
}

/// Runs one group member until the ledger holds `target` events (or PATIENCE
/// runs out), then closes it cleanly. Returns the consumer's counters.
pub(crate) async fn consume_until(
    sub: Box<dyn Subscriber>,
    ledger: &Ledger,
    target: usize,
) -> ConsumerStats {
    let stats = ConsumerStats::default();
    let reached = tokio::sync::Notify::new();
    let stop = async {
        if ledger.len() < target {
            // The guard only ends a hung test; the ledger check below then fails it.
            let _ = tokio::time::timeout(PATIENCE, reached.notified()).await;
        }
    };
    let apply = |r| {
        let out = ledger.apply(r);
        if ledger.len() >= target {
            reached.notify_one();
        }
        std::future::ready(out)
    };
    run_consumer(sub, &stats, apply, stop)
        .await
        .expect("consumer failed");
    stats
}

/// [`consume_until`] through [`run_batch_consumer`]; also returns the size
/// of every batch handed to the handler, in order.
pub(crate) async fn consume_batches_until(
    sub: Box<dyn Subscriber>,
    ledger: &Ledger,
    target: usize,
) -> (ConsumerStats, Vec<usize>) {
    let stats = ConsumerStats::default();
    let sizes = Mutex::new(Vec::new());
    let reached = tokio::sync::Notify::new();
    let stop = async {
        if ledger.len() < target {
            let _ = tokio::time::timeout(PATIENCE, reached.notified()).await;
        }
    };
    let apply = |batch: Vec<Received<AdmissionEvent>>| {
        sizes.lock().unwrap().push(batch.len());
        let out = ledger.apply_batch(batch);
        if ledger.len() >= target {
            reached.notify_one();
        }
        std::future::ready(out)
    };
    run_batch_consumer(sub, &stats, apply, stop)
        .await
        .expect("consumer failed");
    (stats, sizes.into_inner().unwrap())
}

/// Waits (at most PATIENCE) until the ledger holds `n` events.
pub(crate) async fn wait_for(ledger: &Ledger, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while ledger.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn flush(p: &dyn Publisher) {
    p.flush(PATIENCE).await.expect("flush");
}

pub(crate) fn counter(c: &AtomicU64) -> u64 {
    PublishStats::get(c)
}

/// N events over several keys, one group: all arrive, in order per key, once.
pub(crate) async fn ordered_per_key(bus: &dyn TestBus, topic: &str) {
    let run = unique("order");
    let keys = keys(7);
    let n = 700;
    let p = bus.publisher();
    publish_range(p.as_ref(), topic, &run, &keys, 0, n);
    flush(p.as_ref()).await;
    let s = p.stats();
    assert_eq!(counter(&s.accepted), n as u64);
    assert_eq!(counter(&s.delivered), n as u64);
    assert_eq!(counter(&s.failed), 0);

    let ledger = Ledger::default();
    let stats = consume_until(bus.subscribe(&unique("g"), &[topic]), &ledger, n as usize).await;
    ledger.assert_complete(&run, &keys, n);
    assert_eq!(ledger.duplicates(), 0);
    assert_eq!(stats.applied.load(Ordering::Relaxed), n as u64);
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 0);
}

/// [`ordered_per_key`] through the batch consumer: what is waiting is taken
/// in batches (never more than [`MAX_BATCH`]), and still every event
/// arrives once, in order per key. Returns the batch sizes.
pub(crate) async fn ordered_per_key_in_batches(bus: &dyn TestBus, topic: &str) -> Vec<usize> {
    let run = unique("batch");
    let keys = keys(7);
    let n = 700;
    let p = bus.publisher();
    publish_range(p.as_ref(), topic, &run, &keys, 0, n);
    flush(p.as_ref()).await;

    let ledger = Ledger::default();
    let (stats, sizes) =
        consume_batches_until(bus.subscribe(&unique("g"), &[topic]), &ledger, n as usize).await;
    ledger.assert_complete(&run, &keys, n);
    assert_eq!(ledger.duplicates(), 0);
    assert_eq!(stats.applied.load(Ordering::Relaxed), n as u64);
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 0);
    assert_eq!(sizes.iter().sum::<usize>(), n as usize, "{sizes:?}");
    assert!(
        sizes.iter().all(|s| (1..=MAX_BATCH).contains(s)),
        "batch sizes out of bounds: {sizes:?}"
    );
    assert!(
        sizes.iter().any(|s| *s > 1),
        "records already waiting were not batched: {sizes:?}"
    );
    sizes
}

/// A member stops mid-stream; the next member of the group resumes from the
/// committed offsets: nothing lost, and after a clean close nothing redelivered.
pub(crate) async fn restart_resumes_from_commits(bus: &dyn TestBus, topic: &str) {
    let run = unique("restart");
    let keys = keys(5);
    let n = 500;
    let p = bus.publisher();
    publish_range(p.as_ref(), topic, &run, &keys, 0, n);
    flush(p.as_ref()).await;

    let group = unique("g");
    let ledger = Ledger::default();
    consume_until(bus.subscribe(&group, &[topic]), &ledger, (n / 2) as usize).await;
    let first = ledger.len();
    assert!(
        first >= (n / 2) as usize && first < n as usize,
        "first member applied {first}"
    );

    // More events arrive while no member runs.
    publish_range(p.as_ref(), topic, &run, &keys, n, n + 100);
    flush(p.as_ref()).await;

    consume_until(bus.subscribe(&group, &[topic]), &ledger, (n + 100) as usize).await;
    ledger.assert_complete(&run, &keys, n + 100);
    assert_eq!(
        ledger.duplicates(),
        0,
        "a cleanly closed member's commits were not honoured"
    );
}

/// Consumes concurrently with a publisher that keeps publishing through an
/// outage: a third of the events, then `down()`, a third while down, then
/// `up(stats)` (which may inspect the buffer before recovering), the rest, flush.
/// With `drain_first` the outage starts only once the first third is applied
/// (a broker that restarts empty loses what it held; see proto-notes/events.md).
pub(crate) async fn publish_through_outage(
    bus: &dyn TestBus,
    topic: &str,
    n: i64,
    drain_first: bool,
    down: impl FnOnce(),
    up: impl FnOnce(&PublishStats),
) -> Ledger {
    let run = unique("outage");
    let keys = keys(4);
    let p = bus.publisher();
    let ledger = Ledger::default();
    let consumer = consume_until(bus.subscribe(&unique("g"), &[topic]), &ledger, n as usize);
    let publisher = async {
        let third = n / 3;
        publish_range(p.as_ref(), topic, &run, &keys, 0, third);
        if drain_first {
            flush(p.as_ref()).await;
            wait_for(&ledger, third as usize).await;
        }
        down();
        publish_range(p.as_ref(), topic, &run, &keys, third, 2 * third);
        up(p.stats());
        publish_range(p.as_ref(), topic, &run, &keys, 2 * third, n);
        flush(p.as_ref()).await;
    };
    tokio::join!(consumer, publisher);
    ledger.assert_complete(&run, &keys, n);
    let s = p.stats();
    assert_eq!(counter(&s.delivered), n as u64);
    assert_eq!(counter(&s.failed), 0);
    assert_eq!(counter(&s.buffered), 0);
    ledger
}

/// A full buffer answers `Full` at once, drops nothing, and frees up as records drain.
pub(crate) fn expect_full(p: &dyn Publisher, topic: &str) -> PublishError {
    let before = counter(&p.stats().rejected_full);
    let err = publish_json(p, topic, "queue-x", &event("full", "queue-x", 0))
        .expect_err("buffer should be full");
    assert!(matches!(err, PublishError::Full { .. }), "{err}");
    assert_eq!(counter(&p.stats().rejected_full), before + 1);
    err
}

/// A record's trace context travels with it (the `traceparent` header), and
/// a record published without one arrives without one.
pub(crate) async fn traceparent_travels_with_the_record(bus: &dyn TestBus, topic: &str) {
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let publisher = bus.publisher();
    publisher
        .publish_traced(topic, "q1", b"traced".to_vec(), Some(TRACEPARENT))
        .expect("accepted");
    publisher
        .publish(topic, "q1", b"plain".to_vec())
        .expect("accepted");
    let mut subscriber = bus.subscribe(&unique("g.trace"), &[topic]);
    let traced = tokio::time::timeout(Duration::from_secs(30), subscriber.next())
        .await
        .expect("a record in time")
        .expect("a record");
    assert_eq!(traced.payload, b"traced");
    assert_eq!(traced.traceparent.as_deref(), Some(TRACEPARENT));
    let plain = tokio::time::timeout(Duration::from_secs(30), subscriber.next())
        .await
        .expect("a record in time")
        .expect("a record");
    assert_eq!(plain.payload, b"plain");
    assert_eq!(plain.traceparent, None);
}
