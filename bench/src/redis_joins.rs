//! What group commit buys the Redis tier: the queue-server's Redis store
//! driven in-process, with no HTTP in front, in each `--redis-join-mode`.
//!
//! Why in-process: over HTTP on the 2-core bench machine, wrk, hyper and the
//! kernel's TCP stack take most of the CPU, so the join modes differ by how
//! much CPU they leave to them (bench/queue-redis.sh measures that). A fleet
//! of queue-servers shares one Redis, and there Redis's own CPU per join
//! decides how many joins a second the fleet can take. Here `tasks`
//! concurrent joiners (fans whose HTTP request is already parsed) call
//! `RedisStore::join` in a loop with fresh userIds, so Redis and the store's
//! client side are all that is measured.
//!
//! Each round runs every mode back to back, each on a fresh key prefix;
//! the report gives medians of joins/s, Redis CPU per join (from
//! /proc/<redis pid>/stat, Redis on this machine) and the same-round ratios.
//!
//! cargo run --release -p ticketon-bench --bin redis-joins -- --rounds 5

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use queue_server::model::{QueueId, QueueSettings, QueueStatus, UserId};
use queue_server::store::redis::{JoinMode, RedisOptions, RedisStore, RedisTarget};
use queue_server::store::QueueStore;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Concurrent joiners.
    #[arg(long, default_value_t = 256)]
    tasks: usize,
    /// Seconds of load per mode and round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const MODES: [JoinMode; 3] = [JoinMode::Batched, JoinMode::Pipelined, JoinMode::Pooled];

struct Measured {
    joins_per_sec: f64,
    redis_cpu_us_per_join: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.workers == 0 || args.tasks == 0 {
        bail!("--workers and --tasks must be at least 1");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let redis_pid = redis_pid(&args.redis_url).await?;
    println!(
        "{} tasks, {} s per mode, {} rounds, {} worker thread(s), Redis {} (pid {redis_pid})",
        args.tasks, args.seconds, args.rounds, args.workers, args.redis_url
    );
    let mut results: Vec<Vec<Measured>> = MODES.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        for (m, mode) in MODES.iter().enumerate() {
            let measured = measure(&args, *mode, redis_pid, round).await?;
            println!(
                "round {round} {:<9} joins/s={:>9.0} redis_cpu_per_join={:>6.2}us",
                format!("{mode:?}"),
                measured.joins_per_sec,
                measured.redis_cpu_us_per_join
            );
            results[m].push(measured);
        }
    }
    println!();
    println!("| join mode | joins/s (median) | Redis CPU µs per join (median) |");
    println!("|---|---:|---:|");
    for (m, mode) in MODES.iter().enumerate() {
        println!(
            "| {mode:?} | {:.0} | {:.2} |",
            median(results[m].iter().map(|r| r.joins_per_sec)),
            median(results[m].iter().map(|r| r.redis_cpu_us_per_join)),
        );
    }
    let ratio = |a: usize, b: usize| {
        median(
            results[a]
                .iter()
                .zip(&results[b])
                .map(|(x, y)| x.joins_per_sec / y.joins_per_sec),
        )
    };
    println!();
    println!(
        "batched / pooled: {:.2}   batched / pipelined: {:.2}   (medians of same-round ratios)",
        ratio(0, 2),
        ratio(0, 1)
    );
    Ok(())
}

async fn measure(
    args: &Args,
    mode: JoinMode,
    redis_pid: u32,
    round: usize,
) -> anyhow::Result<Measured> {
    let prefix = format!(
        "ticketon-bench-joins-{}-{round}-{mode:?}",
        std::process::id()
    );
    let store = Arc::new(
        RedisStore::connect(RedisOptions {
            target: RedisTarget {
                urls: vec![args.redis_url.clone()],
                cluster: false,
                timeout: Duration::from_secs(2),
            },
            key_prefix: prefix.clone(),
            join_mode: mode,
            joins_in_flight: 1,
        })
        .await
        .context("connecting to Redis")?,
    );
    let queue = QueueId::parse("bench")?;
    store
        .put_queue(queue, QueueSettings::new(1, 1, 600)?, QueueStatus::Paused)
        .await?;
    let joined = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu_before = redis_cpu_ticks(redis_pid)?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..args.tasks {
        let (store, joined) = (store.clone(), joined.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let user = UserId::parse(&format!("t{task}-{n}")).expect("a valid userId");
                store.join("bench", user).await?;
                joined.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ticks = redis_cpu_ticks(redis_pid)? - cpu_before;
    store.delete_queue("bench").await?;
    let joins = joined.load(Ordering::Relaxed) as f64;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    Ok(Measured {
        joins_per_sec: joins / elapsed,
        redis_cpu_us_per_join: cpu_ticks as f64 / ticks_per_sec * 1e6 / joins,
    })
}

async fn redis_pid(url: &str) -> anyhow::Result<u32> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .context("INFO server names no process_id")
}

/// utime + stime of the Redis process, in clock ticks.
fn redis_cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("Redis CPU needs Redis on this machine (/proc/<pid>/stat)")?;
    // The command name may hold spaces; fields count from after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc stat")?.parse()?)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    Ok(field(11)? + field(12)?)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
