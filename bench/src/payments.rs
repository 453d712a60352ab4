//! Payment benchmark: `POST /v1/api/payments`'s use case (`Payments::pay`)
//! in-process on MariaDB, against the Toss sandbox over loopback HTTP.
//!
//! Each buyer loops over its own seats (no contention: this measures the
//! payment path, not seat fights): hold 2 seats (untimed), create the
//! payment in the sandbox as the widget would (untimed), then confirm and
//! settle it (timed: the pending attempt row, the Toss confirm, the settle
//! transaction that sells the seats and issues the tickets and events).
//! Every scenario gets a fresh database.
//!
//! cargo run --release -p ticketon-bench --bin payments -- --runs 3

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use reservation_api::clock::SystemClock;
use reservation_api::payments::{PayOutcome, PayRequest, Payments, ReconcileSettings};
use reservation_api::toss::sandbox::{self, create_payment, SandboxConfig};
use reservation_api::toss::{TossClient, SANDBOX_SECRET_KEY};
use reservation_api::{Buyer, Config, Reservations};
use ticketon_bench::scratch_db::{bench_event, ScratchDatabase};
use ticketon_bench::stats::{median, quantile};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    mysql_url: String,
    /// Concurrent buyers.
    #[arg(long, default_value_t = 32)]
    buyers: usize,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Repetitions; the median of each figure is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

const ROWS: u32 = 500;
const SEATS_PER_ROW: u32 = 100;
const PRICE_KRW: i64 = 50_000;

#[derive(Debug, Default, Clone)]
struct Figures {
    payments_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    not_paid: u64,
    errors: u64,
}

async fn one(args: &Args) -> anyhow::Result<Figures> {
    let db = ScratchDatabase::create(&args.mysql_url).await?;
    let config = Config {
        database_url: db.url.clone(),
        database_max_connections: args.pool,
        ..Config::default()
    };
    let clock = Arc::new(SystemClock);
    let svc = Arc::new(Reservations::open(&config, clock.clone()).await?);
    let toss = sandbox::spawn(
        "127.0.0.1:0".parse()?,
        SandboxConfig::with_secret_key(SANDBOX_SECRET_KEY),
    )
    .await?;
    let client = TossClient::new(
        &toss.base_url(),
        SANDBOX_SECRET_KEY,
        Duration::from_secs(3),
        Duration::from_secs(30),
    )?;
    let payments = Arc::new(Payments::new(
        svc.store.clone(),
        Arc::new(client),
        clock,
        b"bench-token-secret-of-32-bytes!!",
        ReconcileSettings {
            interval: Duration::from_secs(3600),
            grace: Duration::from_secs(3600),
        },
    ));
    let event = svc
        .create_event(bench_event(ROWS, SEATS_PER_ROW, PRICE_KRW))
        .await?;
    let seats = svc.store.seat_ids(&event.id).await?;
    let per_buyer = seats.len() / args.buyers;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for b in 0..args.buyers {
        let mine: Vec<i64> = seats[b * per_buyer..(b + 1) * per_buyer].to_vec();
        let (svc, payments, event_id) = (svc.clone(), payments.clone(), event.id.clone());
        let sandbox_url = toss.base_url();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut paid, mut not_paid, mut errors) = (0u64, 0u64, 0u64);
            for (attempt, pair) in mine.chunks_exact(2).enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                let buyer = Buyer {
                    user_id: format!("b{b}"),
                    queue_id: "bench-q".into(),
                    entry_id: format!("e{b}-{attempt}"),
                    session_expires_at_ms: i64::MAX,
                };
                let Ok(hold) = svc.hold(&buyer, &event_id, pair).await else {
                    errors += 1;
                    continue;
                };
                let Ok(payment_key) =
                    create_payment(&sandbox_url, &hold.id, hold.amount_krw, None).await
                else {
                    errors += 1;
                    continue;
                };
                let req = PayRequest {
                    reservation_id: hold.id.clone(),
                    payment_key,
                    amount: hold.amount_krw,
                };
                let t = Instant::now();
                let result = payments.pay(&buyer, &req).await;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                match result {
                    Ok(PayOutcome::Paid(_)) => paid += 1,
                    Ok(PayOutcome::Pending(_)) => not_paid += 1,
                    Err(_) => errors += 1,
                }
            }
            (lat, paid, not_paid, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut f = Figures::default();
    let mut paid = 0;
    for t in tasks {
        let (l, p, n, e) = t.await?;
        lat.extend(l);
        paid += p;
        f.not_paid += n;
        f.errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| quantile(&lat, p);
    f.payments_per_sec = paid as f64 / elapsed;
    f.p50_ms = pct(0.50);
    f.p99_ms = pct(0.99);
    toss.shutdown().await;
    svc.store.close().await;
    db.drop_database().await?;
    Ok(f)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "buyers={} seconds={} runs={} pool={}",
        args.buyers, args.seconds, args.runs, args.pool
    );
    let mut runs = Vec::new();
    for run in 0..args.runs {
        let f = one(&args).await?;
        eprintln!("run {run}: {f:?}");
        runs.push(f);
    }
    let m = |g: fn(&Figures) -> f64| median(runs.iter().map(g).collect());
    println!("| payments/s | p50 ms | p99 ms | pending | errors |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |",
        m(|f| f.payments_per_sec),
        m(|f| f.p50_ms),
        m(|f| f.p99_ms),
        m(|f| f.not_paid as f64),
        m(|f| f.errors as f64),
    );
    Ok(())
}
