//! The `faults` binary: each fault of issue 17 in a flash sale of its own
//! through the production layout, then the fault table (see
//! [`ticketon_bench::faults`]). `bench/faults.sh` builds and runs it.

use std::path::PathBuf;

use clap::Parser;
use ticketon_bench::faults::{self, Fault, Injection, StackOptionsArgs};
use ticketon_bench::flash_sale;

#[derive(Parser)]
#[command(
    name = "faults",
    about = "Faults injected into flash sales on the production layout, tabulated."
)]
struct Args {
    /// The faults to run, each in a sale of its own (default: all).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
    /// Seconds into the sale at which the fault strikes.
    #[arg(long, default_value_t = 12.0)]
    at_secs: f64,
    /// How long a frozen or failing dependency stays so.
    #[arg(long, default_value_t = 10.0)]
    outage_secs: f64,
    /// Also run the Redis crash under `appendfsync always`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    redis_always: bool,
    #[command(flatten)]
    stack: StackOptionsArgs,
    #[arg(long, default_value_t = 20_000)]
    fans: usize,
    #[arg(long, default_value_t = 2_000)]
    seats: u32,
    #[arg(long, default_value_t = 200)]
    admission_rate: u32,
    /// Where each run's sale report goes (`<dir>/<fault>/`) and `faults.md`.
    #[arg(long, default_value = "bench/faults-report")]
    report: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let faults = if args.faults.is_empty() {
        <Fault as clap::ValueEnum>::value_variants().to_vec()
    } else {
        args.faults.clone()
    };
    let mut runs: Vec<(Fault, String)> = Vec::new();
    for fault in faults {
        runs.push((fault, "everysec".into()));
        if fault == Fault::RestartRedis && args.redis_always {
            runs.push((fault, "always".into()));
        }
    }
    let mut rows = Vec::new();
    let mut failed = 0;
    for (fault, appendfsync) in runs {
        let mut options = args.stack.options()?;
        options.appendfsync = appendfsync.clone();
        let label = if fault == Fault::RestartRedis {
            format!("{} (appendfsync {appendfsync})", fault.name())
        } else {
            fault.name().to_string()
        };
        let dir = args
            .report
            .join(format!("{fault:?}-{appendfsync}").to_lowercase());
        let sale = flash_sale::Args {
            fans: args.fans,
            seats: args.seats,
            sections: 4,
            admission_rate: args.admission_rate,
            checkout_secs: 2.0,
            session_ttl_sec: 120,
            hold_ttl_sec: 20,
            spike_secs: 5.0,
            tail_secs: 30.0,
            think_scale: 0.1,
            max_streams: 500,
            stream_addresses: 8,
            max_in_flight: 1_024,
            queue_in_flight: 1_024,
            join_workers: 256,
            poll_workers: 128,
            settle_secs: 120,
            max_secs: 600,
            report: dir,
            ..flash_sale::Args::defaults()
        };
        let injection = Injection {
            fault,
            at_secs: args.at_secs,
            outage_secs: args.outage_secs,
        };
        eprintln!("faults: === {label}");
        let run = faults::run(&options, sale, &[injection]).await?;
        let violations = run.violations();
        if !violations.is_empty() {
            failed += 1;
            eprintln!("faults: {label}: {}", violations.join("; "));
        }
        let row = faults::table_row(&run, &label);
        println!("{row}");
        rows.push(row);
    }
    let table = format!("{}\n{}\n", faults::TABLE_HEADER, rows.join("\n"));
    std::fs::create_dir_all(&args.report)?;
    std::fs::write(args.report.join("faults.md"), &table)?;
    print!("\n{table}");
    if failed > 0 {
        anyhow::bail!("{failed} fault run(s) broke an invariant");
    }
    Ok(())
}
