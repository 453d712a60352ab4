//! The `flash-sale` binary: see [`ticketon_bench::flash_sale`].

use clap::Parser;
use ticketon_bench::flash_sale::{run, Args};

/// The client shares the machine's two cores with the system under test:
/// glibc's malloc was the client's top frame (`_int_malloc` 12 % of its CPU
/// in the 500,000-fan spike, with a heap of a gigabyte of fans), mimalloc
/// a few percent.
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
