//! The `flash-sale` binary: see [`ticketon_bench::flash_sale`].

use clap::Parser;
use ticketon_bench::flash_sale::{run, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let checks = run(&Args::parse()).await?.checks;
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
