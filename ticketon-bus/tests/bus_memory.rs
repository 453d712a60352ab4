//! The in-process bus honours the same contract as Kafka: order, at least
//! once with commit after apply, resume after restart, backpressure when full.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::scenarios::{self, event, expect_full, keys, Ledger, TestBus};
use ticketon_bus::memory::InProcessBus;
use ticketon_bus::{
    publish_json, run_consumer, ApplyError, BusError, ConsumerStats, Publisher, Subscriber,
};

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
