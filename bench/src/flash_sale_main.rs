//! The `flash-sale` binary: see [`ticketon_bench::flash_sale`].

use clap::Parser;
use ticketon_bench::flash_sale::{run, Args};

/// The client shares the machine's two cores with the system under test:
/// glibc's malloc was the client's top frame (`_int_malloc` 12 % of its CPU
/// in the 500,000-fan spike, with a heap of a gigabyte of fans). With
/// mimalloc here and in the system, the spike's join p99 fell from 5.9 s to
/// 2.7 s (bench/RESULTS.md, session 15).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let checks = run(&Args::parse()).await?.checks;
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
