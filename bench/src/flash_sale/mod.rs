//! `flash-sale`: one whole flash sale through a running Ticketon, with every
//! promise checked at the end and a report an operator can read.
//!
//! Fans arrive open-loop on a spike, wait (polling at `pollAfterMs`, or
//! watching by Server-Sent Events), may leave or open a second tab, and
//! once admitted read the venue's compact seat map as the seat picker does,
//! hold 1 to 4 seats of their section (picking others on a 409), and pay through the Toss sandbox, are declined, or
//! abandon the checkout. A waiting fan is a slot in a `Vec` and an entry in
//! one timer heap served by a fixed pool of workers, not a task of its own.
//!
//! ```text
//! flash-sale --queue-url http://127.0.0.1:8081 --reservation-url http://127.0.0.1:8080 \
//!   --sandbox-url http://127.0.0.1:8090 --admin-key KEY \
//!   --database-url sqlite://ticketon-reservations.db --fans 2000 --seats 500 --report out/
//! ```
//!
//! The exit status is non-zero when any check fails; each is printed with
//! its count. `bench/flash-sale.sh` starts the system and runs it; the test
//! suite runs a small sale through [`run`].

mod charts;
mod checks;
mod client;
mod report;
mod sale;
mod scenario;
mod venue;

pub use sale::Check;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use scenario::Scenario;

/// Every number of the sale is a flag; the defaults are the issue's sale.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "flash-sale",
    about = "A whole flash sale through a running Ticketon, checked and reported."
)]
pub struct Args {
    /// A queue-server; give it several times for a fleet (fans are spread over them).
    #[arg(long = "queue-url", required = true)]
    pub queue_urls: Vec<String>,
    #[arg(long)]
    pub reservation_url: String,
    /// The Toss sandbox (its widget step and its ledger).
    #[arg(long)]
    pub sandbox_url: String,
    #[arg(long, env = "TICKETON_ADMIN_KEY")]
    pub admin_key: String,
    /// The sandbox's secret key (for its ledger).
    #[arg(long, default_value = reservation_api::toss::SANDBOX_SECRET_KEY)]
    pub sandbox_secret_key: String,
    /// The reservation-api's database, read by the checks.
    #[arg(long)]
    pub database_url: String,
    #[arg(long, default_value_t = 500_000)]
    pub fans: usize,
    #[arg(long, default_value_t = 50_000)]
    pub seats: u32,
    /// Priced sections; a fan picks its seats in one section at a time
    /// (2,000 seats each at the defaults, about what a stadium block holds).
    #[arg(long, default_value_t = 25)]
    pub sections: u32,
    #[arg(long, default_value_t = 1_000)]
    pub admission_rate: u32,
    /// Mean seconds from admission to the end of the checkout (sizes maxActive).
    #[arg(long, default_value_t = 20.0)]
    pub checkout_secs: f64,
    #[arg(long, default_value_t = 600)]
    pub session_ttl_sec: u32,
    #[arg(long, default_value_t = 120)]
    pub hold_ttl_sec: u32,
    #[arg(long, default_value_t = 0.6)]
    pub spike_share: f64,
    #[arg(long, default_value_t = 10.0)]
    pub spike_secs: f64,
    #[arg(long, default_value_t = 120.0)]
    pub tail_secs: f64,
    /// Share of fans watching by push; at most `--max-streams` of them.
    #[arg(long, default_value_t = 0.02)]
    pub push_share: f64,
    #[arg(long, default_value_t = 5_000)]
    pub max_streams: usize,
    /// Push streams leave from this many loopback addresses (127.0.0.2 and
    /// up), so that the queue-server's per-address stream cap (256 by
    /// default) sees as many fans' addresses as a real sale would. 0 when
    /// the system under test is on another host.
    #[arg(long, default_value_t = 32)]
    pub stream_addresses: u8,
    #[arg(long, default_value_t = 0.05)]
    pub leave_share: f64,
    #[arg(long, default_value_t = 0.05)]
    pub second_tab_share: f64,
    #[arg(long, default_value_t = 0.05)]
    pub decline_share: f64,
    #[arg(long, default_value_t = 0.05)]
    pub abandon_share: f64,
    /// Multiplies every think time (seat choice, checkout); 1 is human pace.
    #[arg(long, default_value_t = 1.0)]
    pub think_scale: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests to the reservation-api in flight at most (each is a socket;
    /// the file limit is 20,000 for these, the waiting room's and the streams).
    #[arg(long, default_value_t = 4_000)]
    pub max_in_flight: usize,
    /// Requests to the waiting room in flight at most.
    #[arg(long, default_value_t = 4_000)]
    pub queue_in_flight: usize,
    /// Workers sending the joins at the fans' arrival times.
    #[arg(long, default_value_t = 1_024)]
    pub join_workers: usize,
    /// Workers serving the polls that are due.
    #[arg(long, default_value_t = 256)]
    pub poll_workers: usize,
    /// After the sale, how long the reconciler may take to settle the payments
    /// still pending before the money is checked.
    #[arg(long, default_value_t = 120)]
    pub settle_secs: u64,
    /// The sale is called off (and every unfinished fan reported) after this long.
    #[arg(long, default_value_t = 1_800)]
    pub max_secs: u64,
    /// Processes of the system under test whose CPU is reported: `name=pid`.
    #[arg(long = "pid")]
    pub pids: Vec<String>,
    /// Where report.md and report.html go.
    #[arg(long)]
    pub report: PathBuf,
}

impl Args {
    /// The issue's sale with every default, and empty URLs, keys and report
    /// path for the caller to fill in.
    pub fn defaults() -> Args {
        let required = [
            "--queue-url",
            "--reservation-url",
            "--sandbox-url",
            "--admin-key",
            "--database-url",
            "--report",
        ];
        let argv =
            std::iter::once("flash-sale").chain(required.iter().flat_map(|flag| [*flag, "unset"]));
        Args::parse_from(argv)
    }

    fn scenario(&self) -> Scenario {
        Scenario {
            fans: self.fans,
            seats: self.seats,
            sections: self.sections.max(1),
            admission_rate_per_sec: self.admission_rate.max(1),
            checkout_secs: self.checkout_secs,
            session_ttl_sec: self.session_ttl_sec,
            hold_ttl_sec: self.hold_ttl_sec,
            spike_share: self.spike_share.clamp(0.0, 1.0),
            spike_secs: self.spike_secs,
            tail_secs: self.tail_secs,
            push_share: self.push_share.clamp(0.0, 1.0),
            leave_share: self.leave_share.clamp(0.0, 1.0),
            second_tab_share: self.second_tab_share.clamp(0.0, 1.0),
            decline_share: self.decline_share.clamp(0.0, 1.0),
            abandon_share: self.abandon_share.clamp(0.0, 1.0),
            think_scale: self.think_scale.max(0.0),
            seed: self.seed,
        }
    }
}

/// What a caller reads of a sale besides its report: the checks, and the
/// figures the fault runs tabulate.
#[derive(Debug)]
pub struct Summary {
    pub checks: Vec<Check>,
    /// Errors by request, status and code.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Latencies (ms, sorted) of the 503 answers.
    pub unavailable_ms: Vec<f64>,
    pub unavailable_without_retry_after: u64,
    /// Requests answered 5xx or not at all.
    pub refused: u64,
    /// The entryIds the waiting room told admitted.
    pub admitted_entries: Vec<String>,
    pub queue_id: String,
}

impl Summary {
    /// The check called `name` (a prefix of it is enough).
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name.starts_with(name))
    }
}

/// Runs the sale, writes `report.md`, `report.html` (with its charts) and
/// `waits.csv` (each admitted fan's predicted and actual wait) into
/// `--report`, prints the checks,
/// and returns them with the figures of [`Summary`].
pub async fn run(args: &Args) -> anyhow::Result<Summary> {
    let scenario = args.scenario();
    eprintln!(
        "flash-sale: {} fans, {} seats, rate {}/s, maxActive {} (Little's law)",
        scenario.fans,
        scenario.seats,
        scenario.admission_rate_per_sec,
        scenario.max_active()
    );
    let outcome = sale::run(args, &scenario, Duration::from_secs(args.max_secs)).await?;
    std::fs::create_dir_all(&args.report)?;
    let path = args.report.join("report.md");
    let markdown = report::markdown(&scenario, &outcome);
    std::fs::write(&path, &markdown)?;
    std::fs::write(
        args.report.join("report.html"),
        report::html(&scenario, &outcome, &markdown),
    )?;
    std::fs::write(
        args.report.join("waits.csv"),
        format!(
            "seq,joined_s,actual_wait_s,eta_at_join_s,half_sample_at_s,eta_at_half_s\n{}",
            outcome.waits_csv
        ),
    )?;
    print!("{}", report::checks_table(&outcome.checks));
    eprintln!("report: {}", path.display());
    Ok(Summary {
        checks: outcome.checks,
        errors: outcome.errors,
        unavailable_ms: outcome.unavailable_ms,
        unavailable_without_retry_after: outcome.unavailable_without_retry_after,
        refused: outcome.refused,
        admitted_entries: outcome.admitted_entries,
        queue_id: outcome.queue_id,
    })
}
