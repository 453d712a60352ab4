//! Admission events on the Redis store across the death of the lease holder:
//! every admission reaches the bus even when the server that admitted it
//! never got its events delivered, and a batch known delivered is not
//! published again. Runs against the shared Redis under a key prefix of its
//! own, with the in-process bus standing in for Kafka.

mod redis_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use queue_server::events::{EventLink, SESSIONS_GROUP};
use redis_support::*;
use reqwest::StatusCode;
use ticketon_bus::memory::InProcessBus;
use ticketon_bus::{
    BoxFuture, BusError, PublishError, PublishStats, Publisher, Receipt, ReceiptStatus, Subscriber,
};
use ticketon_wire::events::{TOPIC_ADMISSIONS, TOPIC_SESSIONS};
use ticketon_wire::AdmissionEvent;

/// A bus that takes every record and never confirms a delivery: a holder
/// on it dies, as far as its admissions' events go, before any arrived.
#[derive(Debug, Default)]
struct NeverDelivered {
    stats: PublishStats,
    issued: AtomicU64,
}

impl Publisher for NeverDelivered {
    fn publish_traced(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Option<&str>,
    ) -> Result<(), PublishError> {
        Ok(())
    }

    fn publish_receipted(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Option<&str>,
    ) -> Result<Receipt, PublishError> {
        Ok(self.issued.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn receipt_status(&self) -> ReceiptStatus {
        ReceiptStatus {
            delivered_through: 0,
            failed: 0,
        }
    }

    fn stats(&self) -> &PublishStats {
        &self.stats
    }

    fn flush(&self, _: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async { Err(BusError::Timeout("never delivered".into())) })
    }
}

fn link(publisher: Arc<dyn Publisher>) -> EventLink {
    let sessions = InProcessBus::new(100)
        .subscribe(SESSIONS_GROUP, &[TOPIC_SESSIONS])
        .unwrap();
    EventLink {
        publisher,
        sessions,
        publish_entries: false,
    }
}

/// The `admitted` events on `sub` within `quiet` of each other, counted by
/// entryId.
async fn admitted_events(sub: &mut Box<dyn Subscriber>, quiet: Duration) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    while let Ok(delivery) = tokio::time::timeout(quiet, sub.next()).await {
        let delivery = delivery.unwrap();
        if let AdmissionEvent::Admitted { entry_id, .. } =
            serde_json::from_slice(&delivery.payload).unwrap()
        {
            *seen.entry(entry_id).or_default() += 1;
        }
        sub.commit(&delivery).unwrap();
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_whose_events_never_arrived_are_published_by_the_next_holder() {
    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("announce").await else {
        return;
    };
    let queue = "announce";
    let a = server_with_events(
        options(&target, &prefix),
        Some(link(Arc::new(NeverDelivered::default()))),
    )
    .await;
    a.put_queue(queue, 1000, 1000, "paused").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let (code, body) = a.join(queue, &format!("fan-{i}")).await;
        assert_eq!(code, StatusCode::CREATED);
        ids.push(body["entryId"].as_str().unwrap().to_string());
    }
    // Three leave before their turn: they were never admitted.
    for id in &ids[5..8] {
        let resp = a
            .client
            .delete(a.url(&format!("/v1/api/queues/{queue}/entries/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    a.set_status(queue, "open").await;
    eventually(
        "a admits everyone left",
        Duration::from_secs(10),
        || async { a.queue(queue).await["admittedTotal"] == 27 },
    )
    .await;
    // One leaves after its admission: it was admitted all the same.
    let resp = a
        .client
        .delete(a.url(&format!("/v1/api/queues/{queue}/entries/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    a.shutdown().await;

    let bus_b = InProcessBus::new(10_000);
    let mut seen_by_b = bus_b.subscribe("test", &[TOPIC_ADMISSIONS]).unwrap();
    let b = server_with_events(options(&target, &prefix), Some(link(Arc::new(bus_b)))).await;
    let republished = admitted_events(&mut seen_by_b, Duration::from_secs(3)).await;
    let expected: HashMap<String, u32> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !(5..8).contains(i))
        .map(|(_, id)| (id.clone(), 1))
        .collect();
    assert_eq!(
        republished, expected,
        "each of a's admissions once, and only those"
    );
    let metrics = b
        .client
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ticketon_queue_admissions_republished_total 27"),
        "counted: {}",
        metrics
            .lines()
            .find(|l| l.contains("republished"))
            .unwrap_or("none")
    );
    b.shutdown().await;

    // b's bus delivered them: nobody publishes them a third time.
    let bus_c = InProcessBus::new(10_000);
    let mut seen_by_c = bus_c.subscribe("test", &[TOPIC_ADMISSIONS]).unwrap();
    let c = server_with_events(options(&target, &prefix), Some(link(Arc::new(bus_c)))).await;
    eventually("c takes the lease", Duration::from_secs(10), || async {
        c.store().holds_lease(queue)
    })
    .await;
    let (code, body) = c.join(queue, "late-fan").await;
    assert_eq!(code, StatusCode::CREATED);
    let late = body["entryId"].as_str().unwrap().to_string();
    let seen = admitted_events(&mut seen_by_c, Duration::from_secs(2)).await;
    assert_eq!(seen, HashMap::from([(late, 1)]), "only c's own admission");
    c.shutdown().await;
}
