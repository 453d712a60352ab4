//! The in-process bus honours the same contract as Kafka: order, at least
//! once with commit after apply, resume after restart, backpressure when full;
//! one record at a time and in batches.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::scenarios::{self, event, expect_full, keys, Ledger, TestBus};
use ticketon_bus::driver::Received;
use ticketon_bus::memory::InProcessBus;
use ticketon_bus::{
    publish_json, run_batch_consumer, run_consumer, ApplyError, BusError, ConsumerStats, Publisher,
    Subscriber, MAX_BATCH,
};
use ticketon_wire::AdmissionEvent;

impl TestBus for InProcessBus {
    fn publisher(&self) -> Arc<dyn Publisher> {
        Arc::new(self.clone())
    }
    fn subscribe(&self, group: &str, topics: &[&str]) -> Box<dyn Subscriber> {
        InProcessBus::subscribe(self, group, topics).expect("subscribe")
    }
}

#[tokio::test]
async fn delivers_everything_in_order_per_key() {
    scenarios::ordered_per_key(&InProcessBus::new(10_000), "t.order").await;
}

#[tokio::test]
async fn restarted_member_resumes_from_commits() {
    scenarios::restart_resumes_from_commits(&InProcessBus::new(10_000), "t.restart").await;
}

#[tokio::test]
async fn consumer_and_publisher_run_concurrently() {
    let bus = InProcessBus::new(10_000);
    scenarios::publish_through_outage(&bus, "t.live", 300, false, || {}, |_| {}).await;
}

#[tokio::test]
async fn crash_before_commit_redelivers_and_idempotent_apply_absorbs_it() {
    let bus = InProcessBus::new(100);
    let ks = keys(1);
    scenarios::publish_range(&bus, "t.crash", "crash", &ks, 0, 5);
    let mut sub = InProcessBus::subscribe(&bus, "g", &["t.crash"]).unwrap();
    let d0 = sub.next().await.unwrap();
    let d1 = sub.next().await.unwrap();
    let _d2 = sub.next().await.unwrap(); // applied, but the process dies before commit
    sub.commit(&d0).unwrap();
    sub.commit(&d1).unwrap();
    drop(sub);

    let mut again = InProcessBus::subscribe(&bus, "g", &["t.crash"]).unwrap();
    assert_eq!(
        again.next().await.unwrap().offset,
        2,
        "resumes right after the last commit"
    );

    // Through the driver, with the ledger already holding 0..=2, the redelivery of 2 is absorbed.
    drop(again);
    let ledger = Ledger::default();
    for i in 0..3 {
        let r = ticketon_bus::driver::Received {
            event: event("crash", &ks[0], i),
            topic: "t.crash".into(),
            partition: 0,
            offset: i,
            key: ks[0].clone(),
            traceparent: None,
        };
        ledger.apply(r).unwrap();
    }
    scenarios::consume_until(
        InProcessBus::subscribe(&bus, "g", &["t.crash"]).unwrap(),
        &ledger,
        5,
    )
    .await;
    ledger.assert_complete("crash", &ks, 5);
    assert_eq!(
        ledger.duplicates(),
        1,
        "exactly the uncommitted record comes back"
    );
}

#[tokio::test]
async fn a_records_trace_context_travels_with_it() {
    let bus = InProcessBus::new(100);
    scenarios::traceparent_travels_with_the_record(&bus, "t.trace").await;
}

#[tokio::test]
async fn full_buffer_is_backpressure_not_loss() {
    let bus = InProcessBus::new(10);
    let ks = keys(2);
    let mut sub = InProcessBus::subscribe(&bus, "g", &["t.full"]).unwrap();
    scenarios::publish_range(&bus, "t.full", "full", &ks, 0, 10);
    assert_eq!(scenarios::counter(&bus.stats().buffered), 10);
    expect_full(&bus, "t.full");

    // Applying and committing three frees three places.
    for _ in 0..3 {
        let d = sub.next().await.unwrap();
        sub.commit(&d).unwrap();
    }
    assert_eq!(scenarios::counter(&bus.stats().buffered), 7);
    scenarios::publish_range(&bus, "t.full", "full", &ks, 10, 13);
    expect_full(&bus, "t.full");
    drop(sub);

    let ledger = Ledger::default();
    // The member resumes at offset 3; mark 0..3 as applied as the first member did.
    for i in 0..3 {
        let key = &ks[i as usize % 2];
        let r = ticketon_bus::driver::Received {
            event: event("full", key, i),
            topic: "t.full".into(),
            partition: 0,
            offset: i,
            key: key.clone(),
            traceparent: None,
        };
        ledger.apply(r).unwrap();
    }
    scenarios::consume_until(
        InProcessBus::subscribe(&bus, "g", &["t.full"]).unwrap(),
        &ledger,
        13,
    )
    .await;
    ledger.assert_complete("full", &ks, 13);
    assert_eq!(
        scenarios::counter(&bus.stats().buffered),
        0,
        "committed records leave memory"
    );
}

#[tokio::test]
async fn one_active_member_per_group() {
    let bus = InProcessBus::new(10);
    let first = InProcessBus::subscribe(&bus, "g", &["t"]).unwrap();
    assert!(matches!(
        InProcessBus::subscribe(&bus, "g", &["t"]),
        Err(BusError::GroupBusy { .. })
    ));
    assert!(InProcessBus::subscribe(&bus, "other", &["t"]).is_ok());
    drop(first);
    assert!(InProcessBus::subscribe(&bus, "g", &["t"]).is_ok());
}

#[tokio::test]
async fn transient_failure_is_retried_in_place_and_garbage_is_skipped() {
    let bus = InProcessBus::new(100);
    let ks = keys(1);
    bus.publish("t.retry", &ks[0], b"{not json".to_vec())
        .unwrap();
    scenarios::publish_range(&bus, "t.retry", "retry", &ks, 0, 4);

    let ledger = Ledger::default();
    let stats = ConsumerStats::default();
    let mut failures_left = 3;
    let stop = async {
        while ledger.len() < 4 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let sub = InProcessBus::subscribe(&bus, "g", &["t.retry"]).unwrap();
    run_consumer(
        sub,
        &stats,
        |r: ticketon_bus::driver::Received<ticketon_wire::AdmissionEvent>| {
            // Event 1 fails three times (say the database is down), then succeeds.
            let out = match &r.event {
                ticketon_wire::AdmissionEvent::Admitted { admitted_at: 1, .. }
                    if failures_left > 0 =>
                {
                    failures_left -= 1;
                    Err(ApplyError::Retry("db down".into()))
                }
                _ => ledger.apply(r),
            };
            std::future::ready(out)
        },
        stop,
    )
    .await
    .unwrap();
    ledger.assert_complete("retry", &ks, 4);
    assert_eq!(stats.retried.load(Ordering::Relaxed), 3);
    assert_eq!(
        stats.rejected.load(Ordering::Relaxed),
        1,
        "the garbage record"
    );
    assert_eq!(stats.applied.load(Ordering::Relaxed), 4);
    assert_eq!(
        scenarios::counter(&bus.stats().buffered),
        0,
        "garbage was committed too"
    );
}

#[tokio::test]
async fn batch_consumer_delivers_everything_in_order_per_key() {
    let sizes =
        scenarios::ordered_per_key_in_batches(&InProcessBus::new(10_000), "t.batch.order").await;
    // Everything was published before the member joined: the first batch is full.
    assert_eq!(sizes[0], MAX_BATCH, "{sizes:?}");
}

fn admitted_at(r: &Received<AdmissionEvent>) -> i64 {
    match r.event {
        AdmissionEvent::Admitted { admitted_at, .. } => admitted_at,
        _ => -1,
    }
}

/// A batch is committed only after it is applied, and a transient failure
/// applies the same batch again: nothing is lost and nothing is skipped.
#[tokio::test]
async fn batch_is_committed_after_apply_and_retried_whole() {
    let topic = "t.batch.retry";
    let n: i64 = 600;
    let bus = InProcessBus::new(1_000);
    let ks = keys(3);
    scenarios::publish_range(&bus, topic, "bretry", &ks, 0, n);

    let ledger = Ledger::default();
    let stats = ConsumerStats::default();
    let attempts = Mutex::new(Vec::new());
    let mut failures_left = 2;
    let stop = async {
        while ledger.len() < n as usize {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let sub = InProcessBus::subscribe(&bus, "g", &[topic]).unwrap();
    run_batch_consumer(
        sub,
        &stats,
        |batch: Vec<Received<AdmissionEvent>>| {
            let first = batch[0].offset;
            // Everything before the batch is committed, nothing of it yet.
            assert_eq!(
                scenarios::counter(&bus.stats().buffered),
                (n - first) as u64,
                "commits when the batch at offset {first} is applied"
            );
            attempts.lock().unwrap().push((first, batch.len()));
            // The second batch fails twice (say the database is down), then succeeds.
            let out = if first == MAX_BATCH as i64 && failures_left > 0 {
                failures_left -= 1;
                Err(ApplyError::Retry("db down".into()))
            } else {
                ledger.apply_batch(batch)
            };
            std::future::ready(out)
        },
        stop,
    )
    .await
    .unwrap();

    ledger.assert_complete("bretry", &ks, n);
    assert_eq!(ledger.duplicates(), 0);
    let full = MAX_BATCH;
    let rest = n as usize - 2 * MAX_BATCH;
    assert_eq!(
        attempts.into_inner().unwrap(),
        vec![
            (0, full),
            (full as i64, full),
            (full as i64, full),
            (full as i64, full),
            (2 * full as i64, rest),
        ],
        "the failed batch is applied again whole, and only it"
    );
    assert_eq!(stats.retried.load(Ordering::Relaxed), 2);
    assert_eq!(stats.applied.load(Ordering::Relaxed), n as u64);
    assert_eq!(scenarios::counter(&bus.stats().buffered), 0);
}

/// A member stopped while its batch waits to be retried commits none of it:
/// the next member of the group gets the whole batch again.
#[tokio::test]
async fn batch_stopped_before_it_applies_is_redelivered_whole() {
    let topic = "t.batch.stop";
    let bus = InProcessBus::new(100);
    let ks = keys(2);
    scenarios::publish_range(&bus, topic, "bstop", &ks, 0, 10);

    let stats = ConsumerStats::default();
    let stop = async {
        while stats.retried.load(Ordering::Relaxed) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    run_batch_consumer(
        InProcessBus::subscribe(&bus, "g", &[topic]).unwrap(),
        &stats,
        |_batch: Vec<Received<AdmissionEvent>>| {
            std::future::ready(Err(ApplyError::Retry("db down".into())))
        },
        stop,
    )
    .await
    .unwrap();
    assert_eq!(stats.applied.load(Ordering::Relaxed), 0);
    assert_eq!(
        scenarios::counter(&bus.stats().buffered),
        10,
        "nothing of an unapplied batch is committed"
    );

    let ledger = Ledger::default();
    let (again, _) = scenarios::consume_batches_until(
        InProcessBus::subscribe(&bus, "g", &[topic]).unwrap(),
        &ledger,
        10,
    )
    .await;
    ledger.assert_complete("bstop", &ks, 10);
    assert_eq!(ledger.duplicates(), 0);
    assert_eq!(again.applied.load(Ordering::Relaxed), 10);
    assert_eq!(scenarios::counter(&bus.stats().buffered), 0);
}

/// One event that can never be applied makes its batch fail as a whole (a
/// rolled-back transaction); the batch is then applied one record at a time,
/// so every other event is still applied, in order, and all are committed.
#[tokio::test]
async fn rejected_record_in_a_batch_does_not_drop_the_others() {
    let topic = "t.batch.reject";
    let bus = InProcessBus::new(100);
    let ks = keys(2);
    // Garbage first: it is rejected when taken and committed with the batch.
    bus.publish(topic, &ks[0], b"{not json".to_vec()).unwrap();
    scenarios::publish_range(&bus, topic, "breject", &ks, 0, 10);

    let ledger = Ledger::default();
    let stats = ConsumerStats::default();
    let sizes = Mutex::new(Vec::new());
    let stop = async {
        while ledger.len() < 9 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    run_batch_consumer(
        InProcessBus::subscribe(&bus, "g", &[topic]).unwrap(),
        &stats,
        |batch: Vec<Received<AdmissionEvent>>| {
            sizes.lock().unwrap().push(batch.len());
            let out = if batch.iter().any(|r| admitted_at(r) == 4) {
                Err(ApplyError::Reject("event 4 breaks a constraint".into()))
            } else {
                ledger.apply_batch(batch)
            };
            std::future::ready(out)
        },
        stop,
    )
    .await
    .unwrap();

    ledger.assert_complete_except("breject", &ks, 10, &[4]);
    assert_eq!(ledger.duplicates(), 0);
    assert_eq!(
        sizes.into_inner().unwrap(),
        vec![10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        "the whole batch once, then each record alone"
    );
    assert_eq!(stats.applied.load(Ordering::Relaxed), 9);
    assert_eq!(
        stats.rejected.load(Ordering::Relaxed),
        2,
        "the garbage record and event 4"
    );
    assert_eq!(
        scenarios::counter(&bus.stats().buffered),
        0,
        "the rejected records were committed too"
    );
}

#[test]
fn publish_event_uses_home_topic_and_queue_id_key() {
    let bus = InProcessBus::new(10);
    let e = event("home", "queue-7", 1);
    ticketon_bus::publish_event(&bus, &e).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(async {
        let mut sub =
            InProcessBus::subscribe(&bus, "g", &[ticketon_wire::events::TOPIC_ADMISSIONS]).unwrap();
        sub.next().await.unwrap()
    });
    assert_eq!(d.key, "queue-7");
    assert_eq!(
        serde_json::from_slice::<ticketon_wire::AdmissionEvent>(&d.payload).unwrap(),
        e
    );
    let _ = publish_json(&bus, "x", "k", &1);
}
