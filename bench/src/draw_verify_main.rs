//! Checks a pre-queue draw from its published record:
//!
//! ```text
//! curl -s http://127.0.0.1:8080/v1/api/queues/concert/draw | draw-verify [--draw-id HEX]
//! ```
//!
//! With `--draw-id` (the `drawId` the waiting room showed), it also prints
//! that fan's place. Exits non-zero when anything does not check out.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Parser;
use ticketon_bench::draw_verify::{verify, DrawRecord};

#[derive(Parser)]
#[command(about = "Check a Ticketon pre-queue draw from its published record (stdin or a file)")]
struct Args {
    /// The record's file; standard input when absent.
    file: Option<std::path::PathBuf>,
    /// A participant id to look up.
    #[arg(long)]
    draw_id: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut raw = String::new();
    match &args.file {
        Some(path) => raw = std::fs::read_to_string(path).context("reading the record")?,
        None => {
            std::io::stdin().read_to_string(&mut raw)?;
        }
    }
    let record: DrawRecord = serde_json::from_str(&raw).context("parsing the record")?;
    let verified = verify(&record).map_err(anyhow::Error::msg)?;
    println!(
        "ok: {} participants, every place follows from the published seed, which matches the commitment",
        verified.participants
    );
    if let Some(id) = args.draw_id {
        let Some(index) = record.ids.iter().position(|published| *published == id) else {
            bail!("{id} is not among the participants");
        };
        println!("{id}: place {}", record.places[index]);
    }
    Ok(())
}
