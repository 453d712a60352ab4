//! Every metric of the reservation-api, named here and nowhere else, on the
//! `prometheus-client` crate (Prometheus text format 0.0.4 at `/metrics`).
//!
//! Counters and histograms live as long as the service and are bumped
//! where things happen: the HTTP layer (requests and latency per route),
//! the hold use case (results per lock strategy), the seat locks (retries)
//! and the payment endpoint (outcomes, revenue). What waits in the database
//! (outbox, reconciler, refunds for an operator), the pool and the bus are
//! read at scrape time ([`Scrape`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use ticketon_bus::{ConsumerStats, PublishStats};

use crate::error::{Error, ErrorCode};
use crate::seat_lock::SeatLockKind;
use crate::store::Backlogs;

/// The prefix of every series this service exports.
const PREFIX: &str = "ticketon_reservation";

/// Upper bounds of the request latency histograms, in seconds.
const LATENCY_BUCKETS_SECS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

type RouteLabels = [(&'static str, String); 2];
type RequestLabels = [(&'static str, String); 3];
type OneLabel = [(&'static str, &'static str); 1];
type HoldLabels = [(&'static str, &'static str); 2];

/// How a hold request ended, as counted per lock strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldResult {
    Held,
    /// Someone else has one of the seats, or buyers kept them in flux.
    Conflict,
    /// The request itself was refused (session, event, selection).
    Rejected,
    /// The database or the lock service failed.
    Error,
}

impl HoldResult {
    pub fn of<T>(result: &Result<T, Error>) -> Self {
        match result {
            Ok(_) => HoldResult::Held,
            Err(Error::SeatUnavailable { .. } | Error::Busy { .. }) => HoldResult::Conflict,
            Err(Error::Rejected { .. }) => HoldResult::Rejected,
            Err(_) => HoldResult::Error,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            HoldResult::Held => "held",
            HoldResult::Conflict => "conflict",
            HoldResult::Rejected => "rejected",
            HoldResult::Error => "error",
        }
    }
}

/// How a payment request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Charged; tickets issued.
    Approved,
    /// The provider declined the charge.
    Declined,
    /// Refused before the provider was asked (amount, reservation, session).
    Rejected,
    /// The provider's answer is not known yet: the reconciler settles it.
    Pending,
    /// Charged, then refunded because the seats were no longer the buyer's.
    Refunded,
    /// The request failed on our side or at the provider's transport.
    Error,
}

impl PaymentOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PaymentOutcome::Approved => "approved",
            PaymentOutcome::Declined => "declined",
            PaymentOutcome::Rejected => "rejected",
            PaymentOutcome::Pending => "pending",
            PaymentOutcome::Refunded => "refunded",
            PaymentOutcome::Error => "error",
        }
    }

    /// The outcome of a payment request that failed with `error`.
    pub fn of_error(error: &Error) -> Self {
        match error {
            Error::Rejected {
                code: ErrorCode::PaymentRefunded,
                ..
            } => PaymentOutcome::Refunded,
            Error::Rejected { .. } => PaymentOutcome::Rejected,
            Error::PaymentDeclined { .. } => PaymentOutcome::Declined,
            _ => PaymentOutcome::Error,
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    holds: Family<HoldLabels, Counter>,
    strategy: SeatLockKind,
    /// Bumped by the seat locks each time they back off and try again.
    pub hold_lock_retries: Counter,
    payments: Family<OneLabel, Counter>,
    /// Handed to the payments use cases, which count a sale at its commit.
    pub revenue_won: Counter,
}

impl Metrics {
    pub fn new(strategy: SeatLockKind) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status.",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS_SECS)) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from request to response, by route and method.",
            Unit::Seconds,
            latency.clone(),
        );
        let holds = Family::<HoldLabels, Counter>::default();
        registry.register(
            "holds",
            "Hold requests by lock strategy and result.",
            holds.clone(),
        );
        let retries = Family::<OneLabel, Counter>::default();
        let hold_lock_retries = retries
            .get_or_create(&[("strategy", strategy.as_str())])
            .clone();
        registry.register(
            "hold_lock_retries",
            "Times a seat lock backed off and tried again, by strategy.",
            retries,
        );
        let payments = Family::<OneLabel, Counter>::default();
        registry.register("payments", "Payment requests by outcome.", payments.clone());
        let revenue_won = Counter::default();
        registry.register(
            "revenue_won",
            "KRW of charges settled into tickets.",
            revenue_won.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            holds,
            strategy,
            hold_lock_retries,
            payments,
            revenue_won,
        }
    }

    /// `route`: the matched route template (never a raw path, whose ids
    /// would make a series per reservation). Methods outside the standard
    /// set are counted as `other`: any token is a valid method to hyper.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        let method = METHODS
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other");
        self.requests
            .get_or_create(&[
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("code", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&[("route", route.to_string()), ("method", method.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    pub fn record_hold(&self, result: HoldResult) {
        self.holds
            .get_or_create(&[
                ("strategy", self.strategy.as_str()),
                ("result", result.as_str()),
            ])
            .inc();
    }

    pub fn record_payment(&self, outcome: PaymentOutcome) {
        self.payments
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
    }

    /// The `/metrics` answer.
    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        let mut now = Registry::with_prefix(PREFIX);
        register_scrape(&mut now, scrape);
        let mut out = String::with_capacity(16 * 1024);
        for registry in [&self.registry, &now] {
            prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
                .expect("writing to a String cannot fail");
        }
        out
    }
}

/// What a scrape reads from the database, the pool and the bus.
#[derive(Debug)]
pub struct Scrape<'a> {
    pub now_ms: i64,
    /// `None` when the database did not answer.
    pub backlogs: Option<Backlogs>,
    /// Connections open, idle among them, and the cap.
    pub pool: (u32, u32, u32),
    pub bus: Option<&'a PublishStats>,
    pub admissions: &'a ConsumerStats,
}

fn gauge<N>(registry: &mut Registry, name: &str, help: &str, value: N)
where
    Gauge<N, AtomicU64>: prometheus_client::registry::Metric,
    AtomicU64: prometheus_client::metrics::gauge::Atomic<N>,
{
    let g = Gauge::<N, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    series: &[(&'static str, &AtomicU64)],
) {
    let family = Family::<OneLabel, Counter>::default();
    for (outcome, n) in series {
        family
            .get_or_create(&[("outcome", outcome)])
            .inc_by(n.load(Ordering::Relaxed));
    }
    registry.register(name, help, family);
}

fn register_backlogs(registry: &mut Registry, b: &Backlogs, now_ms: i64) {
    gauge::<u64>(
        registry,
        "outbox_unpublished",
        "Events committed but not yet published.",
        b.outbox.rows as u64,
    );
    gauge::<f64>(
        registry,
        "outbox_oldest_age_seconds",
        "How long the oldest unpublished event has waited.",
        b.outbox.oldest_age_secs(now_ms),
    );
    gauge::<u64>(
        registry,
        "reconciler_backlog",
        "Payments and refunds whose outcome the reconciler has yet to settle.",
        (b.payments_pending.rows + b.refunds_pending.rows) as u64,
    );
    gauge::<f64>(
        registry,
        "reconciler_oldest_pending_seconds",
        "How long the oldest unsettled payment or refund has waited.",
        b.payments_pending
            .oldest_age_secs(now_ms)
            .max(b.refunds_pending.oldest_age_secs(now_ms)),
    );
    gauge::<u64>(
        registry,
        "refunds_manual",
        "Refunds the provider refused: an operator must act.",
        b.refunds_failed as u64,
    );
}

fn register_scrape(registry: &mut Registry, scrape: &Scrape<'_>) {
    if let Some(backlogs) = &scrape.backlogs {
        register_backlogs(registry, backlogs, scrape.now_ms);
    }
    let (size, idle, max) = scrape.pool;
    let pool = Family::<OneLabel, Gauge<u64, AtomicU64>>::default();
    pool.get_or_create(&[("state", "idle")])
        .set(u64::from(idle));
    pool.get_or_create(&[("state", "in_use")])
        .set(u64::from(size.saturating_sub(idle)));
    registry.register(
        "db_pool_connections",
        "Database connections open, by state.",
        pool,
    );
    gauge::<u64>(
        registry,
        "db_pool_max_connections",
        "The pool's cap (TICKETON_DATABASE_MAX_CONNECTIONS).",
        u64::from(max),
    );
    if let Some(p) = scrape.bus {
        counter_family(
            registry,
            "events_published",
            "Outbox events by outcome at the bus.",
            &[
                ("accepted", &p.accepted),
                ("delivered", &p.delivered),
                ("failed", &p.failed),
                ("refused_full", &p.rejected_full),
            ],
        );
        gauge::<u64>(
            registry,
            "events_buffered",
            "Events handed to the bus, not yet acknowledged.",
            p.buffered.load(Ordering::Relaxed),
        );
    }
    let c = scrape.admissions;
    counter_family(
        registry,
        "admission_events",
        "ticketon.admissions records by outcome (the admission consumer's progress).",
        &[
            ("applied", &c.applied),
            ("retried", &c.retried),
            ("rejected", &c.rejected),
            ("fetch_error", &c.fetch_errors),
        ],
    );
}
