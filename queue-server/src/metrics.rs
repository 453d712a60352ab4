//! Every metric of the queue-server, named here and nowhere else, on the
//! `prometheus-client` crate (Prometheus text format 0.0.4 at `/metrics`).
//!
//! Three kinds of series:
//! - counters bumped where things happen (joins, admissions, leaves): the
//!   crate's `Counter` handles, resolved once at start, so that bumping one
//!   is a single relaxed atomic add;
//! - the per-request counters and latency histograms, which are sharded:
//!   each worker thread bumps its own cache-line-padded copy and a scrape adds
//!   them up. One shared counter (or the crate's mutex-guarded `Histogram`)
//!   would bounce its cache line between the cores on every request, which at
//!   tens of thousands of requests a second is a measurable share of the
//!   work; [`RequestCollector`] hands the sums to the crate's encoder;
//! - gauges read at scrape time from the store, the bus and the push layer
//!   ([`Scrape`]), so that a queue that is deleted disappears by itself.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::utils::CachePadded;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::events::EventOutbox;
use crate::model::{QueueId, QueueStatus};
use crate::push::{PushStats, StreamKind};
use crate::store::QueueInfo;

/// The prefix of every series this service exports.
const PREFIX: &str = "ticketon_queue";

/// Routes as metric labels (a fixed set, never a raw path: unbounded label
/// values would let clients blow up the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    Healthz,
    Readyz,
    Metrics,
    Queue,
    QueueStatus,
    Entries,
    Entry,
    /// A proof-of-work challenge.
    Challenge,
    /// A pre-queue draw's record.
    Draw,
    /// The waiting room page.
    Page,
    Unknown,
}

impl RouteLabel {
    const ALL: [RouteLabel; 11] = [
        RouteLabel::Healthz,
        RouteLabel::Readyz,
        RouteLabel::Metrics,
        RouteLabel::Queue,
        RouteLabel::QueueStatus,
        RouteLabel::Entries,
        RouteLabel::Entry,
        RouteLabel::Challenge,
        RouteLabel::Draw,
        RouteLabel::Page,
        RouteLabel::Unknown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RouteLabel::Healthz => "healthz",
            RouteLabel::Readyz => "readyz",
            RouteLabel::Metrics => "metrics",
            RouteLabel::Queue => "queue",
            RouteLabel::QueueStatus => "queue_status",
            RouteLabel::Entries => "entries",
            RouteLabel::Entry => "entry",
            RouteLabel::Challenge => "challenge",
            RouteLabel::Draw => "draw",
            RouteLabel::Page => "page",
            RouteLabel::Unknown => "unknown",
        }
    }
}

/// The statuses counted by code; anything else is counted as "other".
const STATUS_CODES: [u16; 17] = [
    101, 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500, 503, 0,
];
/// Upper bounds of the latency histograms, in microseconds.
const LATENCY_BUCKETS_US: [u64; 11] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

const SHARDS: usize = 8;

fn status_label(code: u16) -> String {
    if code == 0 {
        "other".to_string()
    } else {
        code.to_string()
    }
}

/// The counters bumped on every request, one copy per shard.
#[derive(Default, Debug)]
struct RequestShard {
    requests: [[AtomicU64; STATUS_CODES.len()]; RouteLabel::ALL.len()],
    latency_buckets: [[AtomicU64; LATENCY_BUCKETS_US.len() + 1]; RouteLabel::ALL.len()],
    latency_sum_us: [AtomicU64; RouteLabel::ALL.len()],
}

#[derive(Default, Debug)]
struct RequestShards([CachePadded<RequestShard>; SHARDS]);

fn shard_index() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

impl RequestShards {
    fn sum(&self, counter: impl Fn(&RequestShard) -> &AtomicU64) -> u64 {
        self.0
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }
}

/// Hands the sharded request counters to the crate's encoder at scrape time.
#[derive(Debug)]
struct RequestCollector(Arc<RequestShards>);

impl Collector for RequestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let shards = &self.0;
        {
            let mut requests = encoder.encode_descriptor(
                "http_requests",
                "HTTP requests by route and status.",
                None,
                MetricType::Counter,
            )?;
            for route in RouteLabel::ALL {
                for (i, code) in STATUS_CODES.iter().enumerate() {
                    let n = shards.sum(|s| &s.requests[route as usize][i]);
                    if n > 0 {
                        let labels = [
                            ("route", route.as_str().to_string()),
                            ("code", status_label(*code)),
                        ];
                        requests
                            .encode_family(&labels)?
                            .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                    }
                }
            }
        }
        let mut latency = encoder.encode_descriptor(
            "http_request_duration",
            "Time from request to response, by route.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for route in RouteLabel::ALL {
            let r = route as usize;
            let mut buckets = Vec::with_capacity(LATENCY_BUCKETS_US.len() + 1);
            let mut count = 0;
            for (i, le) in LATENCY_BUCKETS_US.iter().enumerate() {
                let n = shards.sum(|s| &s.latency_buckets[r][i]);
                count += n;
                buckets.push((*le as f64 / 1e6, n));
            }
            let over = shards.sum(|s| &s.latency_buckets[r][LATENCY_BUCKETS_US.len()]);
            count += over;
            buckets.push((f64::INFINITY, over));
            if count == 0 {
                continue;
            }
            let sum = shards.sum(|s| &s.latency_sum_us[r]) as f64 / 1e6;
            latency
                .encode_family(&[("route", route.as_str())])?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// What a scrape reads from the rest of the server.
#[derive(Debug)]
pub struct Scrape<'a> {
    pub queues: &'a [(QueueId, QueueInfo)],
    pub store_up: bool,
    pub events: Option<&'a EventOutbox>,
    pub push: &'a PushStats,
    /// Client addresses the per-address join limits remember.
    pub join_limit_addresses: usize,
    /// Queues whose admission this server runs (holds the lease of).
    pub admission_leases: usize,
}

type QueueLabels = [(&'static str, String); 1];

#[derive(Debug)]
pub struct Metrics {
    pub joins_created: Counter,
    pub joins_existing: Counter,
    pub joins_refused: Counter,
    pub admissions: Counter,
    pub expirations: Counter,
    pub leaves: Counter,
    /// Admission ticks skipped because admission events could not be handed
    /// to the bus (Kafka backed up).
    pub admission_paused_ticks: Counter,
    /// Pre-queue draws this process committed.
    pub draws: Counter,
    /// Admissions published again because no delivery of their events was
    /// on record (a lease taken over, or a delivery that failed).
    pub admissions_republished: Counter,
    /// Connections hyper serves now (upgraded WebSockets are counted by the
    /// push layer). Also the connection cap's count.
    pub connections_open: Gauge<u64, AtomicU64>,
    /// Connections answered 503 at once because the cap was reached.
    pub connections_refused: Counter,
    requests: Arc<RequestShards>,
    /// The series that live as long as the server.
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let joins = Family::<[(&'static str, &'static str); 1], Counter>::default();
        let joins_by = |result| joins.get_or_create(&[("result", result)]).clone();
        let (joins_created, joins_existing, joins_refused) = (
            joins_by("created"),
            joins_by("existing"),
            joins_by("refused"),
        );
        registry.register("joins", "Joins by result.", joins);
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let admissions = counter(
            &mut registry,
            "admissions",
            "Entries admitted by this process.",
        );
        let expirations = counter(
            &mut registry,
            "expirations",
            "Admitted sessions that ran out.",
        );
        let leaves = counter(&mut registry, "leaves", "Entries that left.");
        let admission_paused_ticks = counter(
            &mut registry,
            "admission_paused_ticks",
            "Admission ticks skipped because the bus had no room for their events.",
        );
        let draws = counter(
            &mut registry,
            "draws",
            "Pre-queue draws this process made and committed at a scheduled opening.",
        );
        let admissions_republished = counter(
            &mut registry,
            "admissions_republished",
            "Admissions whose events were published again: a new lease holder found them not marked delivered.",
        );
        let connections_refused = counter(
            &mut registry,
            "connections_refused",
            "Connections answered 503 at once because --max-connections was reached.",
        );
        let connections_open = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "connections_open",
            "HTTP connections open (upgraded WebSockets apart).",
            connections_open.clone(),
        );
        let requests = Arc::new(RequestShards::default());
        registry.register_collector(Box::new(RequestCollector(requests.clone())));
        Metrics {
            joins_created,
            joins_existing,
            joins_refused,
            admissions,
            expirations,
            leaves,
            admission_paused_ticks,
            draws,
            admissions_republished,
            connections_open,
            connections_refused,
            requests,
            registry,
        }
    }

    pub fn record_request(&self, route: RouteLabel, status: u16, elapsed: Duration) {
        let code_index = STATUS_CODES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(STATUS_CODES.len() - 1);
        let shard = &self.requests.0[shard_index()];
        let r = route as usize;
        shard.requests[r][code_index].fetch_add(1, Ordering::Relaxed);
        let us = elapsed.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        shard.latency_buckets[r][bucket].fetch_add(1, Ordering::Relaxed);
        shard.latency_sum_us[r].fetch_add(us, Ordering::Relaxed);
    }

    /// The `/metrics` answer.
    pub fn render(&self, scrape: Scrape<'_>) -> String {
        let mut now = Registry::with_prefix(PREFIX);
        register_scrape(&mut now, &scrape);
        let mut out = String::with_capacity(8192 + scrape.queues.len() * 1024);
        for registry in [&self.registry, &now] {
            prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
                .expect("writing to a String cannot fail");
        }
        out
    }
}

/// A counter family filled with values read at scrape time.
fn counter_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    series: &[(&'static str, u64)],
) {
    let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
    for (value, n) in series {
        family.get_or_create(&[(label, value)]).inc_by(*n);
    }
    registry.register(name, help, family);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g = Gauge::<u64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn register_scrape(registry: &mut Registry, scrape: &Scrape<'_>) {
    gauge(
        registry,
        "admission_leases",
        "Queues whose admission this server runs now (in a fleet, the lease holder's).",
        scrape.admission_leases as u64,
    );
    gauge(
        registry,
        "store_up",
        "Whether the queue store answers.",
        u64::from(scrape.store_up),
    );
    gauge(
        registry,
        "join_limit_addresses",
        "Client addresses the per-address join limits remember (joined a limited queue in about \
         the last minute).",
        scrape.join_limit_addresses as u64,
    );
    register_push(registry, scrape.push);
    if let Some(events) = scrape.events {
        register_events(registry, events);
    }
    register_queues(registry, scrape.queues);
}

fn register_push(registry: &mut Registry, push: &PushStats) {
    let open = Family::<[(&'static str, &'static str); 1], Gauge<u64, AtomicU64>>::default();
    for kind in StreamKind::ALL {
        open.get_or_create(&[("kind", kind.as_str())])
            .set(push.open(kind));
    }
    registry.register("push_streams_open", "Push streams open, by kind.", open);
    registry.register(
        "push_messages",
        "Status messages sent on push streams (heartbeats apart).",
        push.messages.clone(),
    );
    registry.register(
        "push_streams_refused",
        "Streams refused because their address reached --max-streams-per-ip.",
        push.refused_per_ip.clone(),
    );
}

fn register_events(registry: &mut Registry, events: &EventOutbox) {
    let p = events.publish_stats();
    let s = &events.sessions_consumed;
    let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
    counter_family(
        registry,
        "events_published",
        "Events by outcome at the bus.",
        "outcome",
        &[
            ("accepted", read(&p.accepted)),
            ("delivered", read(&p.delivered)),
            ("failed", read(&p.failed)),
            ("refused_full", read(&p.rejected_full)),
        ],
    );
    gauge(
        registry,
        "events_buffered",
        "Events accepted by the bus and not yet acknowledged.",
        read(&p.buffered),
    );
    gauge(
        registry,
        "events_pending",
        "Admission events waiting for room in the bus (admission pauses while > 0).",
        events.pending() as u64,
    );
    let dropped = Counter::<u64>::default();
    dropped.inc_by(read(&events.entries_dropped));
    registry.register(
        "entry_events_dropped",
        "Joined (analytics) events dropped because the bus was full.",
        dropped,
    );
    counter_family(
        registry,
        "session_events",
        "ticketon.sessions records by outcome (the session consumer's progress).",
        "outcome",
        &[
            ("applied", read(&s.applied)),
            ("retried", read(&s.retried)),
            ("rejected", read(&s.rejected)),
            ("fetch_error", read(&s.fetch_errors)),
        ],
    );
}

/// Reads one per-queue gauge from a queue's info.
type GaugeReader = fn(&QueueInfo) -> u64;

fn register_queues(registry: &mut Registry, queues: &[(QueueId, QueueInfo)]) {
    let gauges: [(&str, &str, GaugeReader); 6] = [
        ("waiting", "Entries waiting, per queue.", |i| {
            i.counters.waiting
        }),
        ("active", "Admitted sessions alive, per queue.", |i| {
            i.counters.active
        }),
        (
            "admitted",
            "Entries admitted since the queue was created.",
            |i| i.counters.admitted_total,
        ),
        (
            "joined",
            "Entries created since the queue was created.",
            |i| i.counters.joined_total,
        ),
        (
            "admission_rate_per_second",
            "The configured admission rate.",
            |i| u64::from(i.settings.admission_rate_per_sec),
        ),
        (
            "max_active",
            "The configured cap on admitted sessions alive at once.",
            |i| u64::from(i.settings.max_active),
        ),
    ];
    for (name, help, read) in gauges {
        let family = Family::<QueueLabels, Gauge<u64, AtomicU64>>::default();
        for (id, info) in queues {
            family
                .get_or_create(&[("queue", id.to_string())])
                .set(read(info));
        }
        registry.register(name, help, family);
    }
    let status = Family::<[(&'static str, String); 2], Gauge<u64, AtomicU64>>::default();
    for (id, info) in queues {
        for candidate in QueueStatus::ALL {
            status
                .get_or_create(&[
                    ("queue", id.to_string()),
                    ("status", candidate.as_str().to_string()),
                ])
                .set(u64::from(info.status == candidate));
        }
    }
    registry.register(
        "status",
        "1 for the queue's current status (open, paused, closed), 0 for the others.",
        status,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_counters() {
        let m = Metrics::new();
        m.record_request(RouteLabel::Entries, 201, Duration::from_micros(300));
        m.record_request(RouteLabel::Entries, 418, Duration::from_secs(5));
        m.joins_created.inc();
        let push = PushStats::default();
        let text = m.render(Scrape {
            queues: &[],
            store_up: true,
            events: None,
            push: &push,
            join_limit_addresses: 3,
            admission_leases: 1,
        });
        for line in [
            "ticketon_queue_join_limit_addresses 3",
            "ticketon_queue_http_requests_total{route=\"entries\",code=\"201\"} 1",
            "ticketon_queue_http_requests_total{route=\"entries\",code=\"other\"} 1",
            "ticketon_queue_http_request_duration_seconds_bucket{route=\"entries\",le=\"0.0005\"} 1",
            "ticketon_queue_http_request_duration_seconds_bucket{route=\"entries\",le=\"+Inf\"} 2",
            "ticketon_queue_http_request_duration_seconds_count{route=\"entries\"} 2",
            "ticketon_queue_joins_total{result=\"created\"} 1",
            "ticketon_queue_store_up 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
