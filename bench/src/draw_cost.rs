//! What a pre-queue draw costs, by the size of the pre-queue.
//!
//!   cargo run --release -p ticketon-bench --bin draw-cost -- [--sizes 50000,500000,1000000] [--runs 5]
//!
//! For each size, the median over `runs` of: the lease holder's draw (a
//! participant id per entry, the tickets, the sort: what happens between the
//! opening and the commit), the published record's lists (made once per
//! queue, then kept), and the independent check `draw-verify` makes. Also
//! the size of the order the Redis store keeps.

use std::time::Instant;

use clap::Parser;
use queue_server::entry_id::EntryIdCodec;
use queue_server::prequeue::{self, DrawKeys};
use ticketon_bench::draw_verify::{verify, DrawRecord};

#[derive(Parser)]
struct Args {
    #[arg(long, value_delimiter = ',', default_values_t = [50_000u64, 500_000, 1_000_000])]
    sizes: Vec<u64>,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let args = Args::parse();
    let secret = b"draw-cost-secret-of-at-least-32-bytes!";
    let (keys, codec) = (DrawKeys::new(secret), EntryIdCodec::new(secret));
    println!("| participants | draw (ms) | published lists (ms) | independent check (ms) | order in Redis (bytes) |");
    println!("|---:|---:|---:|---:|---:|");
    for &size in &args.sizes {
        let (mut draw_ms, mut list_ms, mut check_ms) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for run in 0..args.runs.max(1) {
            let epoch = run as u64 + 1;
            let t = Instant::now();
            let order = keys.draw(&codec, "sale", epoch, size);
            draw_ms.push(t.elapsed().as_secs_f64() * 1e3);
            bytes = order.to_bytes().len();
            let t = Instant::now();
            let (ids, places) = prequeue::published_places(&keys, &codec, "sale", epoch, &order);
            list_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let seed = keys.seed("sale", epoch);
            let record = DrawRecord {
                algorithm: queue_server::model::draw::ALGORITHM.into(),
                stage: "drawn".into(),
                commitment: prequeue::hex(queue_server::model::draw::commitment(&seed)),
                seed: Some(prequeue::hex(seed)),
                participants: size,
                ids,
                places,
            };
            let t = Instant::now();
            verify(&record).expect("the draw checks out");
            check_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "| {size} | {:.0} | {:.0} | {:.0} | {bytes} |",
            median_ms(draw_ms),
            median_ms(list_ms),
            median_ms(check_ms)
        );
    }
}
