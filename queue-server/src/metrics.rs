//! Prometheus metrics, rendered by hand in the text exposition format.
//!
//! Counters are plain atomics bumped on the request path (no locks, no
//! allocation); per-queue gauges are read from the store at scrape time, so a
//! queue that is deleted disappears from /metrics by itself.
//!
//! The per-request counters are sharded: each worker thread bumps its own
//! cache-line-padded copy and a scrape adds them up. One shared counter would
//! bounce its cache line between the cores on every request, which at tens
//! of thousands of requests a second is a measurable share of the work.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam::utils::CachePadded;

use crate::events::EventOutbox;
use crate::model::QueueId;
use crate::push::{PushStats, StreamKind};
use crate::store::QueueInfo;

/// Routes as metric labels (a fixed set, never a raw path: unbounded label
/// values would let clients blow up the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    Healthz,
    Metrics,
    Queue,
    QueueStatus,
    Entries,
    Entry,
    Unknown,
}

impl RouteLabel {
    const ALL: [RouteLabel; 7] = [
        RouteLabel::Healthz,
        RouteLabel::Metrics,
        RouteLabel::Queue,
        RouteLabel::QueueStatus,
        RouteLabel::Entries,
        RouteLabel::Entry,
        RouteLabel::Unknown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RouteLabel::Healthz => "healthz",
            RouteLabel::Metrics => "metrics",
            RouteLabel::Queue => "queue",
            RouteLabel::QueueStatus => "queue_status",
            RouteLabel::Entries => "entries",
            RouteLabel::Entry => "entry",
            RouteLabel::Unknown => "unknown",
        }
    }
}

const STATUS_CODES: [u16; 13] = [
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 500, 503, 0,
];
/// Upper bounds of the latency histogram, in microseconds.
const LATENCY_BUCKETS_US: [u64; 11] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
];

const SHARDS: usize = 8;

/// Reads one per-queue gauge from a queue's info.
type GaugeReader = fn(&QueueInfo) -> u64;

/// The counters bumped on every request, one copy per shard.
#[derive(Default, Debug)]
struct RequestShard {
    requests: [[AtomicU64; STATUS_CODES.len()]; RouteLabel::ALL.len()],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

fn shard_index() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

#[derive(Default, Debug)]
pub struct Metrics {
    pub joins_created: AtomicU64,
    pub joins_existing: AtomicU64,
    pub joins_refused: AtomicU64,
    pub admissions: AtomicU64,
    pub expirations: AtomicU64,
    pub leaves: AtomicU64,
    /// Admission ticks skipped because admission events could not be handed
    /// to the bus (Kafka backed up).
    pub admission_paused_ticks: AtomicU64,
    /// Connections hyper serves now (upgraded WebSockets are counted by the
    /// push layer).
    pub connections_open: AtomicU64,
    /// Connections answered 503 at once because the cap was reached.
    pub connections_refused: AtomicU64,
    shards: [CachePadded<RequestShard>; SHARDS],
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_request(&self, route: RouteLabel, status: u16, elapsed: Duration) {
        let code_index = STATUS_CODES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(STATUS_CODES.len() - 1);
        let shard = &self.shards[shard_index()];
        shard.requests[route as usize][code_index].fetch_add(1, Ordering::Relaxed);
        let us = elapsed.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        shard.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn render(
        &self,
        queues: &[(QueueId, QueueInfo)],
        store_healthy: bool,
        events: Option<&EventOutbox>,
        push: &PushStats,
    ) -> String {
        let mut out = String::with_capacity(4096 + queues.len() * 512);
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        counter(
            &mut out,
            "ticketon_queue_joins_total",
            "Joins by result.",
            &[
                ("result=\"created\"", &self.joins_created),
                ("result=\"existing\"", &self.joins_existing),
                ("result=\"refused\"", &self.joins_refused),
            ],
        );
        counter(
            &mut out,
            "ticketon_queue_admissions_total",
            "Entries admitted by this process.",
            &[("", &self.admissions)],
        );
        counter(
            &mut out,
            "ticketon_queue_expirations_total",
            "Admitted sessions that ran out.",
            &[("", &self.expirations)],
        );
        counter(
            &mut out,
            "ticketon_queue_leaves_total",
            "Entries that left.",
            &[("", &self.leaves)],
        );
        render_connections(&mut out, self, push);
        let _ = writeln!(out, "# HELP ticketon_queue_store_up Whether the queue store answers.\n# TYPE ticketon_queue_store_up gauge\nticketon_queue_store_up {}", u8::from(store_healthy));
        if let Some(events) = events {
            render_events(&mut out, events);
        }
        let gauges: [(&str, &str, GaugeReader); 4] = [
            (
                "ticketon_queue_waiting",
                "Entries waiting, per queue.",
                |i| i.counters.waiting,
            ),
            (
                "ticketon_queue_active",
                "Admitted sessions alive, per queue.",
                |i| i.counters.active,
            ),
            (
                "ticketon_queue_admitted",
                "Entries admitted since the queue was created.",
                |i| i.counters.admitted_total,
            ),
            (
                "ticketon_queue_joined",
                "Entries created since the queue was created.",
                |i| i.counters.joined_total,
            ),
        ];
        for (name, help, read) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (id, info) in queues {
                let _ = writeln!(out, "{name}{{queue=\"{id}\"}} {}", read(info));
            }
        }
        out
    }

    fn sum(&self, counter: impl Fn(&RequestShard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }

    fn render_requests(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP ticketon_queue_http_requests_total HTTP requests by route and status.\n# TYPE ticketon_queue_http_requests_total counter");
        for route in RouteLabel::ALL {
            for (i, code) in STATUS_CODES.iter().enumerate() {
                let n = self.sum(|s| &s.requests[route as usize][i]);
                if n > 0 {
                    let code = if *code == 0 {
                        "other".to_string()
                    } else {
                        code.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "ticketon_queue_http_requests_total{{route=\"{}\",code=\"{code}\"}} {n}",
                        route.as_str()
                    );
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        let name = "ticketon_queue_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to response.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += self.sum(|s| &s.latency_buckets[i]);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *le as f64 / 1e6
            );
        }
        cumulative += self.sum(|s| &s.latency_buckets[LATENCY_BUCKETS_US.len()]);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum(|s| &s.latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

fn render_connections(out: &mut String, metrics: &Metrics, push: &PushStats) {
    let _ = writeln!(out, "# HELP ticketon_queue_connections_open HTTP connections open (upgraded WebSockets apart).\n# TYPE ticketon_queue_connections_open gauge\nticketon_queue_connections_open {}", metrics.connections_open.load(Ordering::Relaxed));
    counter(
        out,
        "ticketon_queue_connections_refused_total",
        "Connections answered 503 at once because --max-connections was reached.",
        &[("", &metrics.connections_refused)],
    );
    let name = "ticketon_queue_push_streams_open";
    let _ = writeln!(
        out,
        "# HELP {name} Push streams open, by kind.\n# TYPE {name} gauge"
    );
    for kind in StreamKind::ALL {
        let _ = writeln!(
            out,
            "{name}{{kind=\"{}\"}} {}",
            kind.as_str(),
            push.open(kind)
        );
    }
    counter(
        out,
        "ticketon_queue_push_messages_total",
        "Status messages sent on push streams (heartbeats apart).",
        &[("", &push.messages)],
    );
    counter(
        out,
        "ticketon_queue_push_streams_refused_total",
        "Streams refused because their address reached --max-streams-per-ip.",
        &[("", &push.refused_per_ip)],
    );
}

fn render_events(out: &mut String, events: &EventOutbox) {
    let p = events.publish_stats();
    let s = &events.sessions_consumed;
    counter(
        out,
        "ticketon_queue_events_published_total",
        "Events by outcome at the bus.",
        &[
            ("outcome=\"accepted\"", &p.accepted),
            ("outcome=\"delivered\"", &p.delivered),
            ("outcome=\"failed\"", &p.failed),
            ("outcome=\"refused_full\"", &p.rejected_full),
        ],
    );
    let _ = writeln!(out, "# HELP ticketon_queue_events_buffered Events accepted by the bus and not yet acknowledged.\n# TYPE ticketon_queue_events_buffered gauge\nticketon_queue_events_buffered {}", p.buffered.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP ticketon_queue_events_pending Admission events waiting for room in the bus (admission pauses while > 0).\n# TYPE ticketon_queue_events_pending gauge\nticketon_queue_events_pending {}", events.pending());
    counter(
        out,
        "ticketon_queue_entry_events_dropped_total",
        "Joined (analytics) events dropped because the bus was full.",
        &[("", &events.entries_dropped)],
    );
    counter(
        out,
        "ticketon_queue_session_events_total",
        "ticketon.sessions records by outcome.",
        &[
            ("outcome=\"applied\"", &s.applied),
            ("outcome=\"retried\"", &s.retried),
            ("outcome=\"rejected\"", &s.rejected),
            ("outcome=\"fetch_error\"", &s.fetch_errors),
        ],
    );
}

fn counter(out: &mut String, name: &str, help: &str, series: &[(&str, &AtomicU64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, value) in series {
        let value = value.load(Ordering::Relaxed);
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_counters() {
        let m = Metrics::new();
        m.record_request(RouteLabel::Entries, 201, Duration::from_micros(300));
        m.record_request(RouteLabel::Entries, 418, Duration::from_secs(5));
        m.joins_created.fetch_add(1, Ordering::Relaxed);
        let text = m.render(&[], true, None, &PushStats::default());
        assert!(
            text.contains("ticketon_queue_http_requests_total{route=\"entries\",code=\"201\"} 1")
        );
        assert!(
            text.contains("ticketon_queue_http_requests_total{route=\"entries\",code=\"other\"} 1")
        );
        assert!(
            text.contains("ticketon_queue_http_request_duration_seconds_bucket{le=\"0.0005\"} 1")
        );
        assert!(text.contains("ticketon_queue_http_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("ticketon_queue_joins_total{result=\"created\"} 1"));
        assert!(text.contains("ticketon_queue_store_up 1"));
    }
}
