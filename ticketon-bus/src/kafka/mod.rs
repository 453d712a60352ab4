//! The Kafka implementation of the bus (rdkafka / librdkafka).
//!
//! Settings and the reasons for them are in `proto-notes/events.md`; the short
//! version is in [`KafkaConfig`]. Topics are created explicitly ([`create_topics`]):
//! brokers that auto-create topics would do it with their own partition counts.

mod admin;
mod consumer;
mod producer;

pub use admin::create_topics;
pub use consumer::KafkaSubscriber;
pub use producer::KafkaPublisher;

use rdkafka::ClientConfig;

/// The record header that carries the W3C trace context.
const TRACEPARENT_HEADER: &str = "traceparent";

/// Connection and tuning settings shared by producer, consumers and admin.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub client_id: String,
    /// How long the producer waits to fill a batch: a few ms of latency buys
    /// far fewer, larger requests under a flash-sale burst.
    pub linger_ms: u32,
    /// Upper bound of one batch in bytes (`batch.size`).
    pub batch_size_bytes: u32,
    /// `lz4`: cheap on CPU (the services share two cores) and JSON compresses well.
    pub compression: String,
    /// The bounded buffer: records accepted but not yet acknowledged
    /// (`queue.buffering.max.messages`). When full, `publish` returns `Full`.
    pub buffer_capacity: u32,
    /// How long a record may wait for the broker before it fails. 0 = forever:
    /// an admission event must wait out a Kafka outage, not expire in the buffer.
    pub message_timeout_ms: u32,
    /// Consumer group session timeout: how soon a crashed member's partitions move.
    pub session_timeout_ms: u32,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            client_id: "ticketon".to_string(),
            linger_ms: 5,
            batch_size_bytes: 1_000_000,
            compression: "lz4".to_string(),
            buffer_capacity: 100_000,
            message_timeout_ms: 0,
            session_timeout_ms: 10_000,
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // Loopback and container setups advertise one address; don't
            // spend time on IPv6 lookups of it.
            .set("broker.address.family", "v4");
        c
    }

    /// Producer settings. Idempotence with acks=all and at most 5 requests in
    /// flight is what lets librdkafka retry without duplicating or reordering.
    fn producer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_size_bytes.to_string())
            .set("compression.type", &self.compression)
            .set(
                "queue.buffering.max.messages",
                self.buffer_capacity.to_string(),
            )
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            // The Java client's partitioner: the same key lands in the same
            // partition whichever client language produced it.
            .set("partitioner", "murmur2_random");
        c
    }

    /// Consumer settings: offsets are committed by us, after applying, never
    /// automatically; a group without offsets starts at the oldest record.
    fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.partition.eof", "false");
        c
    }
}
