//! Running the sale: setup, the fans, the monitor, and the checks at the
//! end.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hyper::Method;
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::checks;
use super::client::{entry_seq, Auth, Http, Reply};
use super::scenario::{Checkout, FanPlan, Scenario};
use super::venue::{SharedVenue, Venue};
use super::Args;

/// How a fan's sale ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum End {
    Tickets,
    Declined,
    /// Left the line, released the hold, or let it run out.
    Abandoned,
    SoldOut,
}

impl End {
    pub(crate) const ALL: [End; 4] = [End::Tickets, End::Declined, End::Abandoned, End::SoldOut];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            End::Tickets => "tickets",
            End::Declined => "declined",
            End::Abandoned => "abandoned",
            End::SoldOut => "sold out",
        }
    }
}

/// What the sale knows about one fan.
#[derive(Debug, Default)]
struct Fan {
    entry_id: Option<String>,
    seq: Option<u64>,
    /// Since the start of the sale.
    joined_ms: u64,
    eta_at_join_ms: Option<u64>,
    /// (ms since join, predicted remaining wait ms), thinned to at most 32.
    eta_samples: Vec<(u64, u64)>,
    admitted_at_unix_ms: Option<u64>,
    ticket_at_unix_ms: Option<u64>,
    /// Its push stream failed once: it polls from then on.
    stream_failed: bool,
    end: Option<End>,
}

/// One check, with the count of what violated it.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub violations: u64,
    pub detail: String,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.violations == 0
    }
}

/// Everything the report shows.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) checks: Vec<Check>,
    pub(crate) total_seats: u64,
    pub(crate) max_active: u32,
    pub(crate) duration_s: f64,
    pub(crate) ends: BTreeMap<&'static str, u64>,
    pub(crate) join_latency_ms: Vec<f64>,
    pub(crate) spike_joins: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) unavailable_ms: Vec<f64>,
    pub(crate) unavailable_without_retry_after: u64,
    pub(crate) refused: u64,
    /// The entryIds the waiting room told admitted.
    pub(crate) admitted_entries: Vec<String>,
    pub(crate) queue_id: String,
    pub(crate) eta_at_join: (f64, f64, usize),
    pub(crate) eta_at_half: (f64, f64, usize),
    pub(crate) first_admission_s: Option<f64>,
    pub(crate) admission_rate_achieved: f64,
    pub(crate) admission_to_ticket_ms: Vec<f64>,
    /// Seconds since the start of the sale of every admission seen.
    pub(crate) admission_offsets_s: Vec<f64>,
    /// (actual wait s, ETA at join s) of every admitted fan.
    pub(crate) eta_pairs: Vec<(f64, f64)>,
    /// One CSV line per admitted fan: what was predicted, and what happened.
    pub(crate) waits_csv: String,
    pub(crate) sell_out_s: Option<f64>,
    /// (second of the sale, waiting, active, seats sold)
    pub(crate) samples: Vec<(f64, u64, u64, u64)>,
    pub(crate) cpu: Vec<(String, f64)>,
}

struct Sale {
    /// The fans' requests to the reservation-api and the sandbox.
    http: Http,
    /// The fans' requests to the waiting room (joins, polls, leaves), with
    /// their own bound on requests in flight: a fan in line does not wait
    /// for a socket behind the buyers' slower seat and payment calls, as
    /// no real fan's phone does.
    queue_http: Http,
    /// The monitor's own client, so that its samples never queue behind
    /// the fans' requests.
    monitor_http: Http,
    /// The push streams' clients, one per loopback source address.
    stream_http: Vec<Http>,
    queue_urls: Vec<String>,
    reservation_url: String,
    sandbox_url: String,
    admin_key: String,
    queue_id: String,
    event_id: String,
    sections: Vec<String>,
    session_ttl_ms: u64,
    started: Instant,
    plans: Vec<FanPlan>,
    fans: Vec<Mutex<Fan>>,
    due: Mutex<BinaryHeap<Reverse<(u64, u32)>>>,
    due_changed: Notify,
    sold_out: AtomicBool,
    /// Seats of the tickets fans received.
    seats_sold: AtomicU64,
    /// For the live display: joins acknowledged, fans admitted, holds open.
    joined: AtomicU64,
    admitted: AtomicU64,
    holding: AtomicI64,
    ended: AtomicUsize,
    streams: AtomicUsize,
    max_streams: usize,
    stats: Mutex<Stats>,
    /// The seat map decoded last, shared by the fans' seat pickers.
    venue: SharedVenue,
}

#[derive(Default)]
struct Stats {
    /// (ms since start of the intended arrival, latency ms) of every
    /// acknowledged join.
    joins: Vec<(u64, f64)>,
    errors: BTreeMap<String, u64>,
    /// Latency (ms) of every 503 answer: an outage must be refused fast.
    unavailable_ms: Vec<f64>,
    /// 503 answers that did not say when to try again.
    unavailable_without_retry_after: u64,
    /// Requests answered 5xx or not at all (a 409 in the seat fight is the
    /// sale, not a refusal).
    refused: u64,
    second_tab_mismatches: u64,
}

impl Sale {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn error(&self, what: &str, reply: Result<&Reply, &String>) {
        let key = match reply {
            Ok(r) => format!("{what}: {} {}", r.status, r.error_code()),
            Err(e) => format!("{what}: {}", transport_kind(e)),
        };
        let mut stats = self.stats.lock();
        stats.refused += u64::from(reply.map_or(true, |r| r.status >= 500));
        if let Some(r) = reply.ok().filter(|r| r.status == 503) {
            stats.unavailable_ms.push(r.latency_ms);
            stats.unavailable_without_retry_after += u64::from(!r.retry_after);
        }
        *stats.errors.entry(key).or_default() += 1;
    }

    fn end(&self, fan: u32, end: End) {
        let mut f = self.fans[fan as usize].lock();
        if f.end.is_none() {
            f.end = Some(end);
            self.ended.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn schedule(&self, fan: u32, at_ms: u64) {
        self.due.lock().push(Reverse((at_ms, fan)));
        self.due_changed.notify_one();
    }

    /// Why a waiting fan stops waiting now, if it does: the waiting room
    /// says the sale sold out (`status`, its latest message), or the fan's
    /// patience ran out.
    fn stops_waiting(&self, fan: u32, status: &Value) -> Option<End> {
        if status["queueStatus"] == "sold_out" {
            return Some(End::SoldOut);
        }
        let joined = self.fans[fan as usize].lock().joined_ms;
        self.plans[fan as usize]
            .leave_after_ms
            .is_some_and(|after| self.now_ms() >= joined + after)
            .then_some(End::Abandoned)
    }

    fn queue_url(&self, fan: u32) -> &str {
        &self.queue_urls[fan as usize % self.queue_urls.len()]
    }

    fn entry_url(&self, fan: u32, entry_id: &str) -> String {
        format!(
            "{}/v1/api/queues/{}/entries/{entry_id}",
            self.queue_url(fan),
            self.queue_id
        )
    }
}

fn transport_kind(e: &str) -> &str {
    if e.contains("no answer within") {
        "timeout"
    } else if e.contains("onnect") {
        "connect"
    } else if e.starts_with("the stream") || e.starts_with("stream answered") {
        e
    } else {
        "transport"
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

pub(crate) async fn run(
    args: &Args,
    scenario: &Scenario,
    max: Duration,
) -> anyhow::Result<Outcome> {
    let http = Http::new(args.max_in_flight);
    let queue_id = format!("flash-{}", unix_ms());
    let max_active = scenario.max_active();
    {
        let url = &args.queue_urls[0];
        let put = http
            .send(
                Method::PUT,
                &format!("{url}/v1/api/queues/{queue_id}"),
                Auth::Bearer(&args.admin_key),
                Some(&json!({
                    "admissionRatePerSec": scenario.admission_rate_per_sec,
                    "maxActive": max_active,
                    "sessionTtlSec": scenario.session_ttl_sec,
                })),
            )
            .await
            .map_err(anyhow::Error::msg)
            .context("creating the queue")?;
        if put.status != 201 && put.status != 200 {
            bail!("creating the queue: {} {}", put.status, put.json());
        }
    }
    let sections: Vec<Value> = scenario
        .section_sizes()
        .iter()
        .enumerate()
        .map(|(i, (rows, per_row))| {
            json!({"name": format!("S{}", i + 1), "rows": rows, "seatsPerRow": per_row,
                   "price": Scenario::price_krw(i as u32)})
        })
        .collect();
    let event = http
        .send(
            Method::POST,
            &format!("{}/v1/api/events", args.reservation_url),
            Auth::AdminKey(&args.admin_key),
            Some(&json!({
                "name": "Flash sale", "venue": "Stadium", "startsAt": "2027-06-01T19:00:00+09:00",
                "queueId": queue_id, "holdTtlSec": scenario.hold_ttl_sec, "maxSeatsPerOrder": 4,
                "status": "on_sale", "sections": sections,
            })),
        )
        .await
        .map_err(anyhow::Error::msg)
        .context("creating the event")?;
    if event.status != 201 {
        bail!("creating the event: {} {}", event.status, event.json());
    }
    let event = event.json();
    let event_id = event["eventId"].as_str().unwrap_or_default().to_string();
    let total_seats: u64 = event["sections"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["totalSeats"].as_u64()).sum())
        .unwrap_or(0);
    let plans = scenario.plans();
    let sale = Arc::new(Sale {
        http,
        queue_http: Http::new(args.queue_in_flight),
        monitor_http: Http::new(8),
        stream_http: match args.stream_addresses {
            // A system under test on another host: the default route's address.
            0 => vec![Http::new(args.max_streams)],
            n => (0..n.min(250))
                .map(|i| {
                    let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + i);
                    Http::from_address(args.max_streams, Some(source.into()))
                })
                .collect(),
        },
        queue_urls: args.queue_urls.clone(),
        reservation_url: args.reservation_url.clone(),
        sandbox_url: args.sandbox_url.clone(),
        admin_key: args.admin_key.clone(),
        queue_id,
        event_id,
        sections: (1..=scenario.sections).map(|i| format!("S{i}")).collect(),
        session_ttl_ms: u64::from(scenario.session_ttl_sec) * 1000,
        started: Instant::now(),
        fans: (0..plans.len())
            .map(|_| Mutex::new(Fan::default()))
            .collect(),
        plans,
        due: Mutex::new(BinaryHeap::new()),
        due_changed: Notify::new(),
        sold_out: AtomicBool::new(false),
        seats_sold: AtomicU64::new(0),
        joined: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        holding: AtomicI64::new(0),
        ended: AtomicUsize::new(0),
        streams: AtomicUsize::new(0),
        max_streams: args.max_streams,
        stats: Mutex::new(Stats::default()),
        venue: SharedVenue::default(),
    });
    let cpu_before = cpu_ticks(&args.pids);
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn(monitor(sale.clone(), stop.clone()));
    for _ in 0..args.poll_workers.max(1) {
        tokio::spawn(poll_worker(sale.clone(), stop.clone()));
    }
    let next_arrival = Arc::new(AtomicUsize::new(0));
    for _ in 0..args.join_workers.max(1) {
        tokio::spawn(join_worker(sale.clone(), next_arrival.clone()));
    }

    // The sale is called off at `--max-secs`, or by Ctrl-C (SIGINT): either
    // way the checks run and the report is written, with the fans still
    // unfinished counted as such.
    let deadline = Instant::now() + max;
    let called_off = tokio::signal::ctrl_c();
    tokio::pin!(called_off);
    while sale.ended.load(Ordering::Relaxed) < sale.plans.len() && Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut called_off => {
                eprintln!("flash-sale: called off (SIGINT); checking and reporting");
                break;
            }
        }
    }
    let duration_s = sale.started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sale.due_changed.notify_waiters();
    let samples = monitor.await?;
    let cpu = cpu_usage(&args.pids, &cpu_before, duration_s);
    finish(
        args,
        scenario,
        &sale,
        total_seats,
        max_active,
        samples,
        cpu,
        duration_s,
    )
    .await
}

/// Joins fans at their arrival times. Each worker takes the next fan in
/// arrival order and sleeps until it arrives, so joins go out on schedule
/// while the server keeps up; when it does not, arrivals wait for a free
/// worker, and their latency counts from the intended arrival (no
/// coordinated omission) instead of piling up as tasks in the client.
async fn join_worker(sale: Arc<Sale>, next: Arc<AtomicUsize>) {
    loop {
        let fan = next.fetch_add(1, Ordering::Relaxed);
        let Some(plan) = sale.plans.get(fan) else {
            return;
        };
        let at = sale.started + Duration::from_millis(plan.arrival_ms);
        tokio::time::sleep_until(at.into()).await;
        join(sale.clone(), fan as u32).await;
    }
}

async fn join(sale: Arc<Sale>, fan: u32) {
    let plan = &sale.plans[fan as usize];
    let url = format!(
        "{}/v1/api/queues/{}/entries",
        sale.queue_url(fan),
        sale.queue_id
    );
    let user = format!("fan-{fan}");
    let body = json!({ "userId": user });
    loop {
        let reply = sale
            .queue_http
            .send(Method::POST, &url, Auth::None, Some(&body))
            .await;
        match &reply {
            Ok(r) if r.status == 201 || r.status == 200 => {
                let latency = sale.now_ms().saturating_sub(plan.arrival_ms) as f64;
                sale.stats.lock().joins.push((plan.arrival_ms, latency));
                sale.joined.fetch_add(1, Ordering::Relaxed);
                let joined = r.json();
                let entry_id = joined["entryId"].as_str().unwrap_or_default().to_string();
                {
                    let mut f = sale.fans[fan as usize].lock();
                    f.seq = entry_seq(&entry_id);
                    f.joined_ms = sale.now_ms();
                    f.eta_at_join_ms = joined["etaSeconds"].as_u64().map(|s| s * 1000);
                    f.entry_id = Some(entry_id.clone());
                }
                if plan.second_tab {
                    let again = sale
                        .queue_http
                        .send(Method::POST, &url, Auth::None, Some(&body))
                        .await;
                    if let Ok(a) = &again {
                        if a.json()["entryId"].as_str() != Some(&entry_id) {
                            sale.stats.lock().second_tab_mismatches += 1;
                        }
                    }
                }
                on_status(&sale, fan, &joined).await;
                return;
            }
            Ok(r) if r.status == 409 && r.json()["error"]["code"] == "sold_out" => {
                // Arrived after the last seat sold: the waiting room says so.
                sale.end(fan, End::SoldOut);
                return;
            }
            Ok(r) if r.status == 400 || r.status == 404 => {
                // Refused for good (the queue is gone or the request is wrong).
                sale.error("join", Ok(r));
                return;
            }
            _ => {
                sale.error("join", reply.as_ref());
                let backoff = rand::rng().random_range(500..1_500);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
        }
    }
}

/// Acts on an entry's status, from a join, a poll or a push message.
async fn on_status(sale: &Arc<Sale>, fan: u32, status: &Value) {
    match status["status"].as_str() {
        Some("waiting") => {
            let now = sale.now_ms();
            record_eta(sale, fan, status);
            let push =
                sale.plans[fan as usize].push && !sale.fans[fan as usize].lock().stream_failed;
            if let Some(end) = sale.stops_waiting(fan, status) {
                leave(sale, fan, end).await;
            } else if push && sale.streams.fetch_add(1, Ordering::Relaxed) < sale.max_streams {
                tokio::spawn(watch(sale.clone(), fan));
            } else {
                if push {
                    sale.streams.fetch_sub(1, Ordering::Relaxed);
                }
                let after = status["pollAfterMs"].as_u64().unwrap_or(1_000).max(100);
                sale.schedule(fan, now + after);
            }
        }
        _ => on_final(sale, fan, status),
    }
}

/// A final status (from a poll or a push message): admitted, left, expired.
fn on_final(sale: &Arc<Sale>, fan: u32, status: &Value) {
    match status["status"].as_str() {
        Some("admitted") => {
            let expires = status["expiresAt"].as_str().and_then(parse_rfc3339_ms);
            let admitted_at = expires.map(|e| e.saturating_sub(sale.session_ttl_ms));
            let token = status["admissionToken"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let first = {
                let mut f = sale.fans[fan as usize].lock();
                let first = f.admitted_at_unix_ms.is_none();
                f.admitted_at_unix_ms = admitted_at.or(Some(unix_ms()));
                first
            };
            if first {
                sale.admitted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(purchase(sale.clone(), fan, token));
            }
        }
        Some("left") => sale.end(fan, End::Abandoned),
        Some("expired") => sale.end(fan, End::Abandoned),
        _ => {}
    }
}

async fn leave(sale: &Sale, fan: u32, end: End) {
    let Some(entry) = sale.fans[fan as usize].lock().entry_id.clone() else {
        return;
    };
    let reply = sale
        .queue_http
        .send(
            Method::DELETE,
            &sale.entry_url(fan, &entry),
            Auth::None,
            None,
        )
        .await;
    match &reply {
        Ok(r) if r.status == 204 => sale.end(fan, end),
        _ => {
            sale.error("leave", reply.as_ref());
            sale.schedule(fan, sale.now_ms() + 1_000);
        }
    }
}

/// Serves the polls that are due, from the one timer heap.
async fn poll_worker(sale: Arc<Sale>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        // Ok(fan): due now; Err(ms): nothing due for that long.
        let next = {
            let mut due = sale.due.lock();
            let now = sale.now_ms();
            match due.peek() {
                Some(Reverse((at, _))) if *at <= now => {
                    due.pop().map_or(Err(0), |Reverse(d)| Ok(d.1))
                }
                Some(Reverse((at, _))) => Err(at.saturating_sub(now).min(50)),
                None => Err(50),
            }
        };
        let fan = match next {
            Ok(fan) => fan,
            Err(wait) => {
                let _ = tokio::time::timeout(
                    Duration::from_millis(wait.max(1)),
                    sale.due_changed.notified(),
                )
                .await;
                continue;
            }
        };
        if sale.fans[fan as usize].lock().end.is_some() {
            continue;
        }
        let Some(entry) = sale.fans[fan as usize].lock().entry_id.clone() else {
            continue;
        };
        let reply = sale
            .queue_http
            .send(Method::GET, &sale.entry_url(fan, &entry), Auth::None, None)
            .await;
        match &reply {
            Ok(r) if r.status == 200 => on_status(&sale, fan, &r.json()).await,
            Ok(r) if r.status == 404 => {
                // Counted by the sweep at the end: a lost acknowledged join.
                sale.error("poll", reply.as_ref());
                sale.end(fan, End::Abandoned);
            }
            _ => {
                sale.error("poll", reply.as_ref());
                sale.schedule(fan, sale.now_ms() + 1_000);
            }
        }
    }
}

/// Watches the entry over Server-Sent Events until a final message; falls
/// back to polling when the stream fails.
async fn watch(sale: Arc<Sale>, fan: u32) {
    use http_body_util::BodyExt;
    let Some(entry) = sale.fans[fan as usize].lock().entry_id.clone() else {
        return;
    };
    let url = sale.entry_url(fan, &entry);
    let result = async {
        let client = &sale.stream_http[fan as usize % sale.stream_http.len()];
        let response = client.event_stream(&url).await?;
        if response.status() != 200 {
            return Err(format!("stream answered {}", response.status()));
        }
        let mut body = response.into_body();
        let mut buffer = String::new();
        loop {
            // Wake up every second even without a message: a fan far back
            // hears rarely, but still notices a sell-out or its own patience
            // running out.
            let frame = match tokio::time::timeout(Duration::from_secs(1), body.frame()).await {
                Ok(Some(frame)) => frame.map_err(|e| e.to_string())?,
                Ok(None) => break,
                Err(_) => match sale.stops_waiting(fan, &Value::Null) {
                    Some(end) => return Ok(Some(end)),
                    None => continue,
                },
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(json) = line.strip_prefix("data:") {
                        let status: Value =
                            serde_json::from_str(json.trim()).unwrap_or(Value::Null);
                        let state = status["status"].as_str().unwrap_or_default().to_string();
                        if state == "waiting" {
                            record_eta(&sale, fan, &status);
                            if let Some(end) = sale.stops_waiting(fan, &status) {
                                return Ok(Some(end));
                            }
                        } else {
                            on_final(&sale, fan, &status);
                            return Ok(None);
                        }
                    }
                }
            }
        }
        Err("the stream ended".to_string())
    }
    .await;
    sale.streams.fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(None) => {}
        Ok(Some(end)) => leave(&sale, fan, end).await,
        Err(e) => {
            sale.error("push", Err(&e));
            sale.fans[fan as usize].lock().stream_failed = true;
            sale.schedule(fan, sale.now_ms() + 500);
        }
    }
}

/// Keeps the ETA of a waiting message (at most 32 per fan, thinned evenly).
fn record_eta(sale: &Sale, fan: u32, status: &Value) {
    let now = sale.now_ms();
    let mut f = sale.fans[fan as usize].lock();
    let since_join = now.saturating_sub(f.joined_ms);
    if let Some(eta) = status["etaSeconds"].as_u64() {
        if f.eta_samples.len() >= 32 {
            let kept: Vec<_> = f.eta_samples.iter().step_by(2).copied().collect();
            f.eta_samples = kept;
        }
        f.eta_samples.push((since_join, eta * 1000));
    }
}

async fn think(sale: &Sale, fan: u32) {
    let ms = sale.plans[fan as usize].think_ms;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// An admitted fan: seat map, hold, checkout, tickets.
async fn purchase(sale: Arc<Sale>, fan: u32, token: String) {
    let plan = sale.plans[fan as usize].clone();
    think(&sale, fan).await;
    let mut section = plan.section as usize % sale.sections.len();
    let mut taken: Vec<i64> = Vec::new();
    let mut hold: Option<(String, i64)> = None;
    let mut conflicts = 0;
    let mut admission_live = true;
    let mut venue: Option<Arc<Venue>> = None;
    while conflicts < 6 {
        let Some(map) = read_venue(&sale, venue.as_ref()).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        venue = Some(map.clone());
        let mut free: Vec<i64> = map
            .available(&sale.sections[section])
            .iter()
            .filter(|s| !taken.contains(s))
            .copied()
            .collect();
        if free.is_empty() {
            // This section is gone. Like the seat picker, look at the rest
            // of the venue for a section with seats left; with none, seats
            // may still come back from holds that run out, until the event
            // says it is sold out. A fan looks again every 2 s, as the page
            // does.
            let open: Vec<usize> = map
                .sections_with_seats()
                .filter_map(|name| sale.sections.iter().position(|n| n == name))
                .filter(|&other| other != section)
                .collect();
            if !open.is_empty() {
                section = open[rand::rng().random_range(0..open.len())];
                taken.clear();
                continue;
            }
            match sections_with_seats(&sale).await {
                VenueStatus::SoldOut => break,
                VenueStatus::Open(sections) if !sections.is_empty() => {
                    section = sections[rand::rng().random_range(0..sections.len())];
                    taken.clear();
                }
                VenueStatus::Open(_) | VenueStatus::Unreadable => {
                    taken.clear();
                    tokio::time::sleep(Duration::from_millis(2_000)).await;
                }
            }
            continue;
        }
        let want = (plan.seats_wanted as usize).min(free.len());
        let start = rand::rng().random_range(0..=free.len() - want);
        let mut pick: Vec<i64> = free[start..start + want].to_vec();
        if conflicts > 0 {
            // Others are fighting over the same block: try scattered seats.
            free.shuffle(&mut rand::rng());
            pick = free[..want].to_vec();
        }
        let reply = sale
            .http
            .send(
                Method::POST,
                &format!("{}/v1/api/reservations", sale.reservation_url),
                Auth::Bearer(&token),
                Some(&json!({"eventId": sale.event_id, "seatIds": pick})),
            )
            .await;
        match &reply {
            Ok(r) if r.status == 201 => {
                let held = r.json();
                let id = held["reservationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                hold = Some((id, held["amount"].as_i64().unwrap_or(0)));
                break;
            }
            Ok(r) if r.status == 409 && r.json()["error"]["code"] == "sold_out" => break,
            Ok(r) if r.status == 409 => {
                conflicts += 1;
                taken.extend(pick);
                sale.error("hold", Ok(r));
            }
            Ok(r) if r.status == 401 => {
                // The admission ran out while the fan waited for seats.
                sale.error("hold", Ok(r));
                admission_live = false;
                break;
            }
            _ => {
                conflicts += 1;
                sale.error("hold", reply.as_ref());
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    let Some((reservation_id, amount)) = hold else {
        // Nothing left to hold, or the fight lost too often: the fan stops,
        // and gives the slot back as the seat picker's "stop" button does,
        // so the next fan in line goes in now rather than when this
        // admission runs out.
        if admission_live {
            leave_sale(&sale, &token).await;
        }
        sale.end(fan, End::SoldOut);
        return;
    };
    sale.holding.fetch_add(1, Ordering::Relaxed);
    think(&sale, fan).await;
    checkout(&sale, fan, &plan, &token, &reservation_id, amount).await;
    sale.holding.fetch_sub(1, Ordering::Relaxed);
}

async fn checkout(
    sale: &Sale,
    fan: u32,
    plan: &FanPlan,
    token: &str,
    reservation_id: &str,
    amount: i64,
) {
    match plan.checkout {
        Checkout::Release => {
            let reply = release(sale, token, reservation_id).await;
            if !matches!(&reply, Ok(r) if r.status == 200) {
                sale.error("release", reply.as_ref());
            }
            sale.end(fan, End::Abandoned);
        }
        Checkout::LetExpire => sale.end(fan, End::Abandoned),
        Checkout::Declined | Checkout::Pay => {
            let declined = plan.checkout == Checkout::Declined;
            let end = pay(sale, fan, token, reservation_id, amount, declined).await;
            sale.end(fan, end);
        }
    }
}

async fn leave_sale(sale: &Sale, token: &str) {
    let reply = sale
        .http
        .send(
            Method::DELETE,
            &format!("{}/v1/api/session", sale.reservation_url),
            Auth::Bearer(token),
            None,
        )
        .await;
    if !matches!(&reply, Ok(r) if r.status == 200) {
        sale.error("stop buying", reply.as_ref());
    }
}

async fn release(sale: &Sale, token: &str, reservation_id: &str) -> Result<Reply, String> {
    let url = format!(
        "{}/v1/api/reservations/{reservation_id}",
        sale.reservation_url
    );
    sale.http
        .send(Method::DELETE, &url, Auth::Bearer(token), None)
        .await
}

async fn pay(
    sale: &Sale,
    fan: u32,
    token: &str,
    reservation_id: &str,
    amount: i64,
    declined: bool,
) -> End {
    let mut widget = json!({"orderId": reservation_id, "amount": amount});
    if declined {
        widget["failWith"] = "REJECT_CARD_PAYMENT".into();
    }
    let created = sale
        .http
        .send(
            Method::POST,
            &format!("{}/v1/sandbox/payments", sale.sandbox_url),
            Auth::None,
            Some(&widget),
        )
        .await;
    let payment_key = match &created {
        Ok(r) if r.status == 200 => r.json()["paymentKey"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        _ => {
            sale.error("widget", created.as_ref());
            return End::Abandoned;
        }
    };
    let body =
        json!({"reservationId": reservation_id, "paymentKey": payment_key, "amount": amount});
    for _ in 0..20 {
        let reply = sale
            .http
            .send(
                Method::POST,
                &format!("{}/v1/api/payments", sale.reservation_url),
                Auth::Bearer(token),
                Some(&body),
            )
            .await;
        match &reply {
            Ok(r) if r.status == 201 => {
                let access = r.json()["accessToken"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let tickets = sale
                    .http
                    .send(
                        Method::GET,
                        &format!("{}/v1/api/tickets", sale.reservation_url),
                        Auth::Bearer(&access),
                        None,
                    )
                    .await;
                let count = match &tickets {
                    Ok(t) if t.status == 200 => t.json().as_array().map_or(0, |a| a.len()) as u32,
                    _ => {
                        sale.error("tickets", tickets.as_ref());
                        0
                    }
                };
                let mut f = sale.fans[fan as usize].lock();
                sale.seats_sold
                    .fetch_add(u64::from(count), Ordering::Relaxed);
                f.ticket_at_unix_ms = Some(unix_ms());
                return End::Tickets;
            }
            Ok(r) if r.status == 402 => {
                // Declined: give the seats back rather than sit on them.
                let _ = release(sale, token, reservation_id).await;
                return End::Declined;
            }
            // Pending: the outcome is being settled; asking again reports it.
            Ok(r) if r.status == 202 => tokio::time::sleep(Duration::from_millis(500)).await,
            Ok(r) if r.status == 409 || r.status == 410 => {
                sale.error("pay", Ok(r));
                return End::Abandoned;
            }
            _ => {
                sale.error("pay", reply.as_ref());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    End::Abandoned
}

enum VenueStatus {
    SoldOut,
    /// The indexes of the sections with seats available now.
    Open(Vec<usize>),
    Unreadable,
}

/// The event as the seat picker reads it: sold out, or where seats are left.
async fn sections_with_seats(sale: &Sale) -> VenueStatus {
    let url = format!("{}/v1/api/events/{}", sale.reservation_url, sale.event_id);
    let event = match sale.http.send(Method::GET, &url, Auth::None, None).await {
        Ok(r) if r.status == 200 => r.json(),
        other => {
            sale.error("event", other.as_ref());
            return VenueStatus::Unreadable;
        }
    };
    if event["status"] == "sold_out" {
        return VenueStatus::SoldOut;
    }
    let open = event["sections"]
        .as_array()
        .map(|sections| {
            sections
                .iter()
                .filter(|s| s["availableSeats"].as_u64().unwrap_or(0) > 0)
                .filter_map(|s| {
                    let name = s["name"].as_str()?;
                    sale.sections.iter().position(|n| n == name)
                })
                .collect()
        })
        .unwrap_or_default();
    VenueStatus::Open(open)
}

/// The venue as the fan's seat picker has it now: the map it read last
/// while the server says it is unchanged (304), else the new one.
async fn read_venue(sale: &Sale, known: Option<&Arc<Venue>>) -> Option<Arc<Venue>> {
    let url = format!(
        "{}/v1/api/events/{}/seat-map",
        sale.reservation_url, sale.event_id
    );
    let reply = sale
        .http
        .get_unless_unchanged(&url, known.map(|v| v.etag.as_str()))
        .await;
    match &reply {
        Ok(r) if r.status == 304 && known.is_some() => known.cloned(),
        Ok(r) if r.status == 200 => {
            let venue = sale.venue.of(r.etag.as_deref(), &r.body);
            if venue.is_none() {
                sale.error("seat map", Err(&"an undecodable seat map".to_string()));
            }
            venue
        }
        _ => {
            sale.error("seat map", reply.as_ref());
            None
        }
    }
}

/// Samples the queue and the seat map, and calls the sale sold out once no
/// seat is available or held.
async fn monitor(sale: Arc<Sale>, stop: Arc<AtomicBool>) -> Vec<(f64, u64, u64, u64)> {
    let mut samples = Vec::new();
    // Drawn on a terminal only (indicatif hides itself otherwise).
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    while !stop.load(Ordering::Relaxed) {
        let t = sale.started.elapsed().as_secs_f64();
        let errors: u64 = sale.stats.lock().errors.values().sum();
        progress.set_message(format!(
            "arrived {} | waiting {} | admitted {} | holding {} | sold {} | ended {} | errors {}",
            sale.joined.load(Ordering::Relaxed),
            samples.last().map_or(0, |s: &(f64, u64, u64, u64)| s.1),
            sale.admitted.load(Ordering::Relaxed),
            sale.holding.load(Ordering::Relaxed),
            sale.seats_sold.load(Ordering::Relaxed),
            sale.ended.load(Ordering::Relaxed),
            errors,
        ));
        progress.tick();
        let queue = sale
            .monitor_http
            .send(
                Method::GET,
                &format!("{}/v1/api/queues/{}", sale.queue_urls[0], sale.queue_id),
                Auth::Bearer(&sale.admin_key),
                None,
            )
            .await;
        let event = sale
            .monitor_http
            .send(
                Method::GET,
                &format!("{}/v1/api/events/{}", sale.reservation_url, sale.event_id),
                Auth::None,
                None,
            )
            .await;
        if let (Ok(q), Ok(e)) = (&queue, &event) {
            let available: u64 = e.json()["sections"]
                .as_array()
                .map(|s| s.iter().filter_map(|x| x["availableSeats"].as_u64()).sum())
                .unwrap_or(0);
            let queue = q.json();
            let waiting = queue["waiting"].as_u64().unwrap_or(0);
            let active = queue["active"].as_u64().unwrap_or(0);
            samples.push((t, waiting, active, sale.seats_sold.load(Ordering::Relaxed)));
            if available == 0 && !sale.sold_out.load(Ordering::Relaxed) {
                let held = sale
                    .monitor_http
                    .send(
                        Method::GET,
                        &format!(
                            "{}/v1/api/events/{}/seats?status=held",
                            sale.reservation_url, sale.event_id
                        ),
                        Auth::None,
                        None,
                    )
                    .await;
                if matches!(&held, Ok(h) if h.json().as_array().is_some_and(|a| a.is_empty())) {
                    sale.sold_out.store(true, Ordering::Relaxed);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    progress.finish_and_clear();
    samples
}

fn cpu_ticks(pids: &[String]) -> Vec<(String, u64)> {
    pids.iter()
        .filter_map(|p| {
            let (name, pid) = p.split_once('=')?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command (which may hold spaces), utime and stime.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((name.to_string(), ticks))
        })
        .collect()
}

/// CPU of each process over the sale, in cores (1.0 = one core busy).
fn cpu_usage(pids: &[String], before: &[(String, u64)], seconds: f64) -> Vec<(String, f64)> {
    let after = cpu_ticks(pids);
    before
        .iter()
        .filter_map(|(name, b)| {
            let a = after.iter().find(|(n, _)| n == name)?.1;
            // Linux reports CPU time in clock ticks of 1/100 s.
            Some((
                name.clone(),
                (a.saturating_sub(*b)) as f64 / 100.0 / seconds.max(0.001),
            ))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    args: &Args,
    scenario: &Scenario,
    sale: &Arc<Sale>,
    total_seats: u64,
    max_active: u32,
    samples: Vec<(f64, u64, u64, u64)>,
    cpu: Vec<(String, f64)>,
    duration_s: f64,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome {
        total_seats,
        max_active,
        duration_s,
        samples,
        cpu,
        ..Outcome::default()
    };
    let mut unfinished = 0;
    let mut admitted = Vec::new();
    let mut eta_join = Vec::new();
    let mut eta_half = Vec::new();
    let mut to_ticket = Vec::new();
    let start_unix = unix_ms().saturating_sub(sale.started.elapsed().as_millis() as u64);
    for f in &sale.fans {
        let f = f.lock();
        match f.end {
            Some(end) => *out.ends.entry(end.as_str()).or_default() += 1,
            None => unfinished += 1,
        }
        if let (Some(at), Some(seq)) = (f.admitted_at_unix_ms, f.seq) {
            admitted.push((at, seq));
            let joined_unix = start_unix + f.joined_ms;
            let actual = at.saturating_sub(joined_unix) as f64;
            // Waits under 5 s are all rounding: the ETA is in whole seconds.
            if let Some(eta) = f.eta_at_join_ms {
                out.eta_pairs.push((actual / 1000.0, eta as f64 / 1000.0));
            }
            let half_sample = f
                .eta_samples
                .iter()
                .min_by_key(|(since, _)| (*since as f64 - actual / 2.0).abs() as u64);
            let _ = writeln!(
                out.waits_csv,
                "{seq},{:.3},{:.3},{},{},{}",
                f.joined_ms as f64 / 1000.0,
                actual / 1000.0,
                f.eta_at_join_ms
                    .map_or(String::new(), |e| (e / 1000).to_string()),
                half_sample.map_or(String::new(), |(since, _)| format!(
                    "{:.3}",
                    *since as f64 / 1000.0
                )),
                half_sample.map_or(String::new(), |(_, eta)| (eta / 1000).to_string()),
            );
            if actual >= 5_000.0 {
                if let Some(eta) = f.eta_at_join_ms {
                    eta_join.push(checks::eta_error_pct(eta as f64, actual));
                }
                // The sample nearest half of the wait, if it is near enough
                // (between a quarter and three quarters of it) to be one,
                // with 5 s or more still to wait (whole seconds again).
                if let Some(&(since, eta)) = half_sample {
                    let since = since as f64;
                    let near_half = (0.25..=0.75).contains(&(since / actual));
                    if near_half && actual - since >= 5_000.0 {
                        eta_half.push(checks::eta_error_pct(eta as f64, actual - since));
                    }
                }
            }
            if let Some(ticket) = f.ticket_at_unix_ms {
                to_ticket.push(ticket.saturating_sub(at) as f64);
            }
        }
    }
    out.eta_at_join = {
        let (m, p) = checks::error_summary(&mut eta_join);
        (m, p, eta_join.len())
    };
    out.eta_at_half = {
        let (m, p) = checks::error_summary(&mut eta_half);
        (m, p, eta_half.len())
    };
    to_ticket.sort_by(f64::total_cmp);
    out.admission_to_ticket_ms = to_ticket;
    let times: Vec<u64> = admitted.iter().map(|a| a.0).collect();
    out.admission_offsets_s = times
        .iter()
        .map(|t| t.saturating_sub(start_unix) as f64 / 1000.0)
        .collect();
    if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) {
        out.first_admission_s = Some(first.saturating_sub(start_unix) as f64 / 1000.0);
        let span = (last - first) as f64 / 1000.0;
        out.admission_rate_achieved = if span > 0.0 {
            times.len() as f64 / span
        } else {
            0.0
        };
    }
    out.sell_out_s = out
        .samples
        .iter()
        .find(|s| s.3 >= total_seats && total_seats > 0)
        .map(|s| s.0);
    let stats = std::mem::take(&mut *sale.stats.lock());
    let spike_ms = (scenario.spike_secs * 1000.0) as u64;
    let mut spike: Vec<f64> = stats
        .joins
        .iter()
        .filter(|(at, _)| *at < spike_ms)
        .map(|(_, l)| *l)
        .collect();
    out.spike_joins = spike.len() as u64;
    spike.sort_by(f64::total_cmp);
    out.join_latency_ms = spike;
    out.errors = stats.errors;
    let mut unavailable = stats.unavailable_ms;
    unavailable.sort_by(f64::total_cmp);
    out.unavailable_ms = unavailable;
    out.unavailable_without_retry_after = stats.unavailable_without_retry_after;
    out.refused = stats.refused;
    out.queue_id = sale.queue_id.clone();
    out.admitted_entries = sale
        .fans
        .iter()
        .filter_map(|f| {
            let f = f.lock();
            f.admitted_at_unix_ms.and(f.entry_id.clone())
        })
        .collect();

    // No acknowledged join is lost: every entry a join acknowledged is
    // still known to the queue (waiting, admitted, left or expired).
    let mut lost = 0;
    let ids: Vec<(u32, String)> = sale
        .fans
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.lock().entry_id.clone().map(|e| (i as u32, e)))
        .collect();
    let mut probes = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(64).max(1)) {
        let (sale, chunk) = (sale.clone(), chunk.to_vec());
        probes.spawn(async move {
            let mut lost = 0;
            for (fan, entry) in chunk {
                let url = sale.entry_url(fan, &entry);
                if let Ok(r) = sale
                    .queue_http
                    .send(Method::GET, &url, Auth::None, None)
                    .await
                {
                    if r.status == 404 {
                        lost += 1;
                    }
                }
            }
            lost
        });
    }
    while let Some(n) = probes.join_next().await {
        lost += n.unwrap_or(0);
    }

    // Payments still being settled (the reconciler) move both the tickets
    // and the ledger: wait until nothing is pending any more (every charge
    // has become tickets or a refund) or the two agree, for up to
    // `--settle-secs`, and say how long it took.
    let settle_started = Instant::now();
    let deadline = settle_started + Duration::from_secs(args.settle_secs);
    let (db, money) = loop {
        let db = database_figures(&args.database_url, &sale.event_id).await?;
        let money = ledger(args, sale).await?;
        let settled = db.unsettled == 0 && money.0 == db.ticket_krw;
        if settled || Instant::now() >= deadline {
            break (db, money);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let max_sampled_active = out.samples.iter().map(|s| s.2).max().unwrap_or(0);
    let busiest_second = checks::max_in_one_second(&times) as u64;
    let inversions = checks::fifo_inversions(&admitted);
    let everyone_served = unfinished == 0;
    let sold_out_or_ended =
        db.sold_seats == total_seats || (everyone_served && scenario.fans < total_seats as usize);
    let (queue_status, event_status) = sale_statuses(sale).await;
    let told =
        db.sold_seats < total_seats || (queue_status == "sold_out" && event_status == "sold_out");
    out.checks = vec![
        Check {
            name: "no seat sold twice",
            violations: db.seats_sold_twice,
            detail: format!("{} seats sold", db.sold_seats),
        },
        Check {
            name: "tickets equal the seats of paid reservations",
            violations: db.tickets.abs_diff(db.paid_seats),
            detail: format!("{} tickets, {} paid seats", db.tickets, db.paid_seats),
        },
        Check {
            name: "money adds up (captured − refunded = ticket prices)",
            violations: money.0.abs_diff(db.ticket_krw),
            detail: format!(
                "captured − refunded {} KRW, tickets {} KRW{}; {} payments or refunds still \
                 pending after {settle_secs:.1} s of settling",
                money.0, db.ticket_krw, money.1, db.unsettled
            ),
        },
        Check {
            name: "every fan ends in a known state",
            violations: unfinished,
            detail: End::ALL
                .iter()
                .map(|e| format!("{} {}", out.ends.get(e.as_str()).unwrap_or(&0), e.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        },
        Check {
            name: "no acknowledged join is lost",
            violations: lost,
            detail: format!("{} joins acknowledged", ids.len()),
        },
        Check {
            name: "a second tab gets the same entry",
            violations: stats.second_tab_mismatches,
            detail: String::new(),
        },
        Check {
            name: "admission is FIFO (inversions of join order)",
            violations: inversions,
            detail: format!("{} admissions seen", admitted.len()),
        },
        Check {
            name: "maxActive never exceeded",
            violations: max_sampled_active.saturating_sub(u64::from(max_active)),
            detail: format!("most active at a sample {max_sampled_active} of {max_active}"),
        },
        Check {
            name: "admissions within the rate in every second",
            violations: busiest_second.saturating_sub(u64::from(scenario.admission_rate_per_sec)),
            detail: format!(
                "busiest second {busiest_second} of {}",
                scenario.admission_rate_per_sec
            ),
        },
        Check {
            name: "the sale sells out (or ends)",
            violations: u64::from(!sold_out_or_ended),
            detail: format!("{} of {total_seats} seats sold", db.sold_seats),
        },
        Check {
            name: "a sold-out sale says so (event and queue sold_out)",
            violations: u64::from(!told),
            detail: format!("event {event_status}, queue {queue_status}"),
        },
    ];
    Ok(out)
}

/// The queue's and the event's status as the service reports them.
async fn sale_statuses(sale: &Sale) -> (String, String) {
    let read = |url: String, auth: Auth<'static>| async move {
        match sale.monitor_http.send(Method::GET, &url, auth, None).await {
            Ok(r) => r.json()["status"].as_str().unwrap_or("unknown").to_string(),
            Err(e) => format!("unreadable ({e})"),
        }
    };
    let queue_url = format!("{}/v1/api/queues/{}", sale.queue_urls[0], sale.queue_id);
    let event_url = format!("{}/v1/api/events/{}", sale.reservation_url, sale.event_id);
    (
        read(queue_url, Auth::None).await,
        read(event_url, Auth::None).await,
    )
}

struct DbFigures {
    seats_sold_twice: u64,
    sold_seats: u64,
    tickets: u64,
    paid_seats: u64,
    ticket_krw: i64,
    /// Payment attempts and refunds of the event not yet settled.
    unsettled: u64,
}

async fn database_figures(url: &str, event_id: &str) -> anyhow::Result<DbFigures> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .with_context(|| format!("opening the database {url}"))?;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        let event_id = event_id.to_string();
        async move {
            let n: i64 = sqlx::query_scalar(sql)
                .bind(event_id)
                .fetch_one(&pool)
                .await
                .with_context(|| sql.to_string())?;
            anyhow::Ok(n)
        }
    };
    let figures = DbFigures {
        seats_sold_twice: count(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM tickets WHERE event_id = ? \
             AND status <> 'cancelled' GROUP BY seat_id HAVING COUNT(*) > 1) twice",
        )
        .await? as u64,
        sold_seats: count("SELECT COUNT(*) FROM seats WHERE event_id = ? AND status = 'sold'")
            .await? as u64,
        tickets: count("SELECT COUNT(*) FROM tickets WHERE event_id = ? AND status <> 'cancelled'")
            .await? as u64,
        paid_seats: count(
            "SELECT COUNT(*) FROM reservation_seats rs JOIN reservations r \
             ON r.id = rs.reservation_id WHERE r.event_id = ? AND r.status = 'paid'",
        )
        .await? as u64,
        // MySQL sums to DECIMAL, which the Any driver cannot read as an
        // integer; the cast is harmless on SQLite.
        ticket_krw: count(
            "SELECT CAST(COALESCE(SUM(price_krw), 0) AS SIGNED) FROM tickets \
             WHERE event_id = ? AND status <> 'cancelled'",
        )
        .await?,
        unsettled: (count(
            "SELECT COUNT(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id \
             WHERE r.event_id = ? AND p.status = 'pending'",
        )
        .await?
            + count(
                "SELECT COUNT(*) FROM refunds f JOIN payments p ON p.id = f.payment_id \
                 JOIN reservations r ON r.id = p.reservation_id \
                 WHERE r.event_id = ? AND f.status = 'pending'",
            )
            .await?) as u64,
    };
    pool.close().await;
    Ok(figures)
}

/// The sandbox's captured minus refunded, with a line of detail.
async fn ledger(args: &Args, sale: &Sale) -> anyhow::Result<(i64, String)> {
    {
        let reply = sale
            .http
            .send(
                Method::GET,
                &format!("{}/v1/sandbox/ledger", args.sandbox_url),
                Auth::TossSecret(&args.sandbox_secret_key),
                None,
            )
            .await
            .map_err(anyhow::Error::msg)
            .context("reading the sandbox ledger")?;
        if reply.status != 200 {
            bail!(
                "the sandbox ledger answered {} {}",
                reply.status,
                reply.json()
            );
        }
        let totals = reply.json();
        let captured = totals["capturedKrw"].as_i64().unwrap_or(0);
        let refunded = totals["refundedKrw"].as_i64().unwrap_or(0);
        let detail = format!(
            " ({} payments captured, {refunded} KRW refunded)",
            totals["capturedPayments"]
        );
        Ok((captured - refunded, detail))
    }
}
