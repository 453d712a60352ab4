//! Seat-hold benchmark: the three `--seat-lock` strategies side by side on
//! MariaDB, at low contention (buyers spread over 50,000 seats) and at high
//! contention (all buyers on the same 100 seats).
//!
//! It drives the reservation service in-process (`Reservations::hold`, the
//! call the HTTP handler makes) so the figures compare strategies, not HTTP
//! stacks. Each buyer loops: pick 2 adjacent seats at random, try to hold
//! them (timed), release a won hold at once (untimed) so seats keep
//! changing hands. Every scenario gets a fresh database.
//!
//! cargo run --release -p ticketon-bench --bin seat-holds -- --runs 3

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::Rng;
use reservation_api::clock::SystemClock;
use reservation_api::{Buyer, Config, Error, Reservations, SeatLockKind};
use ticketon_bench::scratch_db::{bench_event, ScratchDatabase};
use ticketon_bench::stats::{median, quantile};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    mysql_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Concurrent buyers.
    #[arg(long, default_value_t = 64)]
    buyers: usize,
    /// Seconds of load per strategy and scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Repetitions; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    rows: u32,
    seats_per_row: u32,
}

const SCENARIOS: [Scenario; 2] = [
    Scenario {
        name: "low contention (50,000 seats)",
        rows: 500,
        seats_per_row: 100,
    },
    Scenario {
        name: "high contention (100 seats)",
        rows: 1,
        seats_per_row: 100,
    },
];
const STRATEGIES: [SeatLockKind; 3] = [
    SeatLockKind::Pessimistic,
    SeatLockKind::Optimistic,
    SeatLockKind::Distributed,
];

#[derive(Debug, Default, Clone)]
struct Figures {
    holds_per_sec: f64,
    attempts_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    conflicts: u64,
    busy: u64,
    errors: u64,
}

async fn one(args: &Args, scenario: Scenario, lock: SeatLockKind) -> anyhow::Result<Figures> {
    let db = ScratchDatabase::create(&args.mysql_url).await?;
    let prefix = format!("ticketon:bench:{}", uuid::Uuid::new_v4().simple());
    let config = Config {
        database_url: db.url.clone(),
        database_max_connections: args.pool,
        seat_lock: lock,
        redis_url: Some(args.redis_url.clone()),
        redis_prefix: prefix.clone(),
        ..Config::default()
    };
    let svc = Arc::new(Reservations::open(&config, Arc::new(SystemClock)).await?);
    let event = svc
        .create_event(bench_event(scenario.rows, scenario.seats_per_row, 100_000))
        .await?;
    let seats = Arc::new(svc.store.seat_ids(&event.id).await?);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for b in 0..args.buyers {
        let (svc, seats, event_id) = (svc.clone(), seats.clone(), event.id.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut conflicts, mut busy, mut errors) = (0u64, 0u64, 0u64, 0u64);
            for attempt in 0u64.. {
                if Instant::now() >= deadline {
                    break;
                }
                // Each attempt is its own admission: a release ends the
                // purchase session, as it does for a real fan.
                let buyer = Buyer {
                    user_id: format!("b{b}"),
                    queue_id: "bench-q".into(),
                    entry_id: format!("e{b}-{attempt}"),
                    session_expires_at_ms: i64::MAX,
                };
                let start = rand::rng().random_range(0..seats.len() - 1);
                let want = [seats[start], seats[start + 1]];
                let t = Instant::now();
                let result = svc.hold(&buyer, &event_id, &want).await;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                match result {
                    Ok(r) => {
                        ok += 1;
                        if svc.release(&buyer.user_id, &r.id).await.is_err() {
                            errors += 1;
                        }
                    }
                    Err(Error::SeatUnavailable { .. }) => conflicts += 1,
                    Err(Error::Busy { .. }) => busy += 1,
                    Err(_) => errors += 1,
                }
            }
            (lat, ok, conflicts, busy, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut f = Figures::default();
    let mut ok = 0;
    for t in tasks {
        let (l, o, c, b, e) = t.await?;
        lat.extend(l);
        ok += o;
        f.conflicts += c;
        f.busy += b;
        f.errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| quantile(&lat, p);
    f.holds_per_sec = ok as f64 / elapsed;
    f.attempts_per_sec = lat.len() as f64 / elapsed;
    f.p50_ms = pct(0.50);
    f.p99_ms = pct(0.99);
    svc.store.close().await;
    db.drop_database().await?;
    if let Ok(client) = redis::Client::open(args.redis_url.as_str()) {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut c)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut c).await;
            }
        }
    }
    Ok(f)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "buyers={} seconds={} runs={} pool={}",
        args.buyers, args.seconds, args.runs, args.pool
    );
    for scenario in SCENARIOS {
        let mut all: Vec<Vec<Figures>> = vec![Vec::new(); STRATEGIES.len()];
        for run in 0..args.runs {
            // Rotate the order so no strategy always runs first (warm caches, noise).
            for i in 0..STRATEGIES.len() {
                let k = (i + run) % STRATEGIES.len();
                let f = one(&args, scenario, STRATEGIES[k]).await?;
                eprintln!("run {run} {} {:?}: {f:?}", scenario.name, STRATEGIES[k]);
                all[k].push(f);
            }
        }
        println!("\n### {}\n", scenario.name);
        println!("| strategy | holds/s | attempts/s | p50 ms | p99 ms | 409s | 503s | errors |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (k, runs) in all.iter().enumerate() {
            let m = |g: fn(&Figures) -> f64| median(runs.iter().map(g).collect());
            println!(
                "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} |",
                STRATEGIES[k].as_str(),
                m(|f| f.holds_per_sec),
                m(|f| f.attempts_per_sec),
                m(|f| f.p50_ms),
                m(|f| f.p99_ms),
                m(|f| f.conflicts as f64),
                m(|f| f.busy as f64),
                m(|f| f.errors as f64),
            );
        }
    }
    Ok(())
}
