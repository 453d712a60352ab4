//! What the proof of work costs the queue-server, and a native client.
//!
//!   cargo run --release -p ticketon-bench --bin pow-cost -- [--difficulty 5000] [--rounds 2000]
//!
//! Times, on one core, `rounds` challenges made (`GET .../challenge`), the
//! same number of solutions checked (a join's part, without the claim), and
//! `--solves` challenges solved with the altcha crate (what a script that
//! mints places pays per join), and prints each median per operation.

use std::time::Instant;

use clap::Parser;
use queue_server::proof_of_work::{solve, ProofOfWork};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5_000)]
    difficulty: u32,
    #[arg(long, default_value_t = 2_000)]
    rounds: usize,
    #[arg(long, default_value_t = 20)]
    solves: usize,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn now_sec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() {
    let mut args = Args::parse();
    args.rounds = args.rounds.max(1);
    args.solves = args.solves.clamp(1, args.rounds);
    let pow = ProofOfWork::new(b"pow-cost-secret-of-at-least-32-bytes!");
    let mut made = Vec::with_capacity(args.rounds);
    let mut make_us = Vec::with_capacity(args.rounds);
    for _ in 0..args.rounds {
        let t = Instant::now();
        let challenge = pow.challenge("sale", args.difficulty, now_sec());
        make_us.push(t.elapsed().as_secs_f64() * 1e6);
        made.push(challenge);
    }
    let mut solve_ms = Vec::with_capacity(args.solves);
    let mut solved = Vec::with_capacity(args.solves);
    for challenge in made.iter().take(args.solves) {
        let t = Instant::now();
        solved.push(solve(challenge));
        solve_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut check_us = Vec::with_capacity(args.rounds);
    for i in 0..args.rounds {
        let altcha = &solved[i % solved.len()];
        let t = Instant::now();
        pow.check("sale", altcha)
            .expect("a solution of ours checks out");
        check_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "difficulty {} (tries on average), PBKDF2-SHA-256 {} rounds a try",
        args.difficulty,
        queue_server::proof_of_work::ROUNDS
    );
    println!(
        "make a challenge   median {:>10.1} µs  ({} made)",
        median(make_us),
        args.rounds
    );
    println!(
        "check a solution   median {:>10.1} µs  ({} checked)",
        median(check_us),
        args.rounds
    );
    println!(
        "solve natively     median {:>10.1} ms  ({} solved, one core)",
        median(solve_ms),
        args.solves
    );
}
