//! The Kafka bus against a real broker: tansu started by `.ci/tansu.sh` on a
//! free loopback port (one per test, stopped when the test ends), or the broker
//! in `TICKETON_KAFKA_BROKERS` for the tests that do not stop or pause it.
//! Without either, the tests skip loudly (and fail under CI=true).

mod support;

use std::sync::Arc;

use support::scenarios::{self, counter, expect_full, TestBus};
use ticketon_bus::kafka::{create_topics, KafkaConfig, KafkaPublisher, KafkaSubscriber};
use ticketon_bus::{Publisher, Subscriber};
use ticketon_runtime::test_env::service_unavailable;
use ticketon_runtime::test_env::Broker;
use ticketon_wire::events::TOPIC_ADMISSIONS;

struct KafkaBus {
    config: KafkaConfig,
    /// One producer per process, as in the services.
    publisher: Arc<KafkaPublisher>,
}

impl KafkaBus {
    fn new(config: KafkaConfig) -> Self {
        let publisher = Arc::new(KafkaPublisher::new(&config).expect("producer"));
        KafkaBus { config, publisher }
    }
}

impl TestBus for KafkaBus {
    fn publisher(&self) -> Arc<dyn Publisher> {
        self.publisher.clone()
    }
    fn subscribe(&self, group: &str, topics: &[&str]) -> Box<dyn Subscriber> {
        KafkaSubscriber::subscribe(&self.config, group, topics).expect("subscribe")
    }
}

fn broker(own: bool) -> Option<Broker> {
    let b = if own { Broker::own() } else { Broker::any() };
    match b {
        Ok(b) => Some(b),
        Err(e) => {
            service_unavailable("Kafka", e);
            None
        }
    }
}

/// A fresh topic, so a shared broker's old records and groups never interfere.
async fn fresh_topic(config: &KafkaConfig, prefix: &str) -> String {
    let topic = scenarios::unique(prefix);
    create_topics(config, &[(topic.as_str(), 3)])
        .await
        .expect("create topic");
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delivers_everything_in_order_per_key() {
    let Some(b) = broker(false) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let topic = fresh_topic(&bus.config, "t.order").await;
    scenarios::ordered_per_key(&bus, &topic).await;
}

/// The batch consumer over Kafka: `next_ready` hands over what librdkafka
/// has prefetched, so records come in batches, still once and in order per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_batch_consumer_delivers_everything_in_order_per_key() {
    let Some(b) = broker(false) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let topic = fresh_topic(&bus.config, "t.batch").await;
    scenarios::ordered_per_key_in_batches(&bus, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_carries_a_records_trace_context_in_its_header() {
    let Some(b) = broker(false) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let topic = fresh_topic(&bus.config, "t.trace").await;
    scenarios::traceparent_travels_with_the_record(&bus, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_restarted_member_resumes_from_commits() {
    let Some(b) = broker(false) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let topic = fresh_topic(&bus.config, "t.restart").await;
    scenarios::restart_resumes_from_commits(&bus, &topic).await;
}

/// The broker freezes mid-publish (SIGSTOP: Kafka unreachable but its data
/// intact): publishing goes on without blocking, records wait in the buffer,
/// and after the broker is back every one arrives once, in order per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_broker_paused_mid_publish_loses_nothing() {
    let Some(b) = broker(true) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let n = 600;
    let ledger = scenarios::publish_through_outage(
        &bus,
        TOPIC_ADMISSIONS,
        n,
        false,
        || b.pause().expect("pause broker"),
        |stats| {
            // Nothing can have been acknowledged while the broker is frozen.
            assert!(
                counter(&stats.buffered) >= (n / 3) as u64,
                "buffered {}",
                counter(&stats.buffered)
            );
            std::thread::sleep(std::time::Duration::from_secs(2));
            b.resume().expect("resume broker");
        },
    )
    .await;
    assert_eq!(ledger.duplicates(), 0, "a retried batch was applied twice");
}

/// The broker is killed and started again on the same port. tansu's memory
/// storage restarts empty: its records and the group's committed offsets are
/// gone, and a consumer that lived through it would fetch from positions that
/// belong to the old log (seen: records read out of order; skipping is
/// possible too). So the honest test with this broker is the one where the
/// processes restart with it: the member closes, the broker restarts, a fresh
/// producer publishes, and a new member of the same group must apply all of it
/// exactly once. (The consumer riding out an outage is the SIGSTOP test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_group_resumes_after_broker_restart() {
    let Some(b) = broker(true) else { return };
    let config = KafkaConfig::new(&b.brokers);
    let run = scenarios::unique("bounce");
    let ks = scenarios::keys(4);
    let (n1, n2) = (200, 300);
    let group = scenarios::unique("g");
    let ledger = scenarios::Ledger::default();

    let before = KafkaBus::new(config.clone());
    scenarios::publish_range(
        before.publisher.as_ref(),
        TOPIC_ADMISSIONS,
        &run,
        &ks,
        0,
        n1,
    );
    scenarios::flush(before.publisher.as_ref()).await;
    scenarios::consume_until(
        before.subscribe(&group, &[TOPIC_ADMISSIONS]),
        &ledger,
        n1 as usize,
    )
    .await;
    drop(before);

    b.stop().expect("stop broker");
    b.start_again().expect("restart broker");

    let after = KafkaBus::new(config);
    scenarios::publish_range(
        after.publisher.as_ref(),
        TOPIC_ADMISSIONS,
        &run,
        &ks,
        n1,
        n1 + n2,
    );
    scenarios::flush(after.publisher.as_ref()).await;
    assert_eq!(counter(&after.publisher.stats().delivered), n2 as u64);
    scenarios::consume_until(
        after.subscribe(&group, &[TOPIC_ADMISSIONS]),
        &ledger,
        (n1 + n2) as usize,
    )
    .await;
    ledger.assert_complete(&run, &ks, n1 + n2);
    assert_eq!(
        ledger.duplicates(),
        0,
        "an event was applied twice across the restart"
    );
}

/// What the issue asks for in full: records buffered while the broker is
/// down reach it after a restart. Against tansu's memory storage this cannot
/// pass: the restarted broker has forgotten the idempotent producer's id, and
/// librdkafka loops on UNKNOWN_PRODUCER_ID (bump epoch, retry, rejected again),
/// so the records stay buffered (not lost, not reordered, never delivered).
/// A real Kafka keeps producer state in its log across restarts. The restarted
/// tansu also gives the topics new ids, which has crashed this test binary
/// (SIGSEGV inside librdkafka's metadata cache), so run it alone. Run with
/// `--ignored` against such a broker (TICKETON_KAFKA_BROKERS cannot be
/// restarted by the test, so this uses its own tansu and is expected to fail
/// there): see proto-notes/events.md, "Broker restarts".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu memory storage forgets idempotent producer ids on restart (proto-notes/events.md)"]
async fn kafka_records_buffered_across_broker_restart_are_delivered() {
    let Some(b) = broker(true) else { return };
    let bus = KafkaBus::new(KafkaConfig::new(&b.brokers));
    let n = 600;
    let ledger = scenarios::publish_through_outage(
        &bus,
        TOPIC_ADMISSIONS,
        n,
        true,
        || b.stop().expect("stop broker"),
        |stats| {
            assert!(
                counter(&stats.buffered) >= (n / 3) as u64,
                "buffered {}",
                counter(&stats.buffered)
            );
            b.start_again().expect("restart broker");
        },
    )
    .await;
    assert_eq!(ledger.duplicates(), 0);
}

/// A full producer buffer answers `Full` at once instead of blocking or dropping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_full_buffer_is_backpressure_not_loss() {
    let Some(b) = broker(true) else { return };
    let mut config = KafkaConfig::new(&b.brokers);
    config.buffer_capacity = 50;
    let bus = KafkaBus::new(config);
    let p = bus.publisher();
    let ks = scenarios::keys(3);
    b.pause().expect("pause broker");
    scenarios::publish_range(p.as_ref(), TOPIC_ADMISSIONS, "full", &ks, 0, 50);
    expect_full(p.as_ref(), TOPIC_ADMISSIONS);
    assert_eq!(counter(&p.stats().buffered), 50);
    b.resume().expect("resume broker");
    scenarios::flush(p.as_ref()).await;
    assert_eq!(counter(&p.stats().delivered), 50);
    assert_eq!(counter(&p.stats().buffered), 0);

    let ledger = scenarios::Ledger::default();
    scenarios::consume_until(
        bus.subscribe(&scenarios::unique("g"), &[TOPIC_ADMISSIONS]),
        &ledger,
        50,
    )
    .await;
    ledger.assert_complete("full", &ks, 50);
}
