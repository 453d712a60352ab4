//! Faults during a sale: a flash sale ([`crate::flash_sale`]) runs through
//! the production layout ([`stack::Stack`]) while processes are killed
//! (SIGKILL) and dependencies fail on a schedule; afterwards every check of
//! the sale must hold, plus: every admission the waiting room announced
//! reached the bus, the payments left unknown by the fault were settled,
//! and the figures of the fault table (requests refused, time to recover).
//!
//! `bench/faults.sh` runs each fault in a sale of its own and prints the
//! table; the test suite runs a short sale with faults 1, 2 and 5 and
//! asserts the invariants only.

pub mod stack;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::Connection;
use ticketon_bus::kafka::{KafkaConfig, KafkaSubscriber};
use ticketon_wire::events::TOPIC_ADMISSIONS;
use ticketon_wire::AdmissionEvent;
use tokio::sync::Mutex;

use crate::flash_sale::{self, Summary};
use stack::{Stack, StackOptions, QUEUE_A, QUEUE_B, REDIS, RESERVATIONS};

/// A fault the run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// kill -9 of the queue-server holding the admission lease, restarted 1 s later.
    KillQueueHolder,
    /// kill -9 of the reservation-api with payments in flight, restarted 1 s later.
    KillReservations,
    /// kill -9 of Redis (a crash, not a clean shutdown), restarted 1 s later from its AOF.
    RestartRedis,
    /// MariaDB shut down and started again.
    RestartMariadb,
    /// The Kafka broker frozen (SIGSTOP) for the outage, then resumed.
    FreezeKafka,
    /// The Toss sandbox silent past the client's timeout for the outage.
    SlowToss,
    /// The Toss sandbox answering 500 for the outage.
    FailingToss,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillQueueHolder => "kill -9 queue-server (lease holder)",
            Fault::KillReservations => "kill -9 reservation-api",
            Fault::RestartRedis => "Redis crash + restart",
            Fault::RestartMariadb => "MariaDB restart",
            Fault::FreezeKafka => "Kafka frozen (SIGSTOP)",
            Fault::SlowToss => "Toss slow (timeouts)",
            Fault::FailingToss => "Toss answering 5xx",
        }
    }
}

/// One fault at a time of the sale.
#[derive(Debug, Clone, Copy)]
pub struct Injection {
    pub fault: Fault,
    /// Seconds into the sale.
    pub at_secs: f64,
    /// How long a dependency stays away (freezes and Toss outages; a killed
    /// process is restarted after 1 s).
    pub outage_secs: f64,
}

/// What happened around one injection.
#[derive(Debug, Clone)]
pub struct InjectionReport {
    pub fault: Fault,
    /// From the dependency coming back (or the process restarted) until
    /// every affected service answered `/readyz` 200.
    pub recovered_ms: Option<f64>,
    /// kill -9 of the lease holder: from the kill until the queue admitted
    /// again (the survivor took the lease over).
    pub admission_gap_ms: Option<f64>,
    /// From the fault's end until no payment begun before it was still
    /// pending (the reconciler settled every unknown outcome).
    pub settled_ms: Option<f64>,
}

/// A whole run: the sale's summary and the faults' reports.
#[derive(Debug)]
pub struct RunReport {
    pub summary: Summary,
    pub injections: Vec<InjectionReport>,
    /// Admissions the waiting room told a fan of with no `admitted` event
    /// on `ticketon.admissions`.
    pub not_announced: u64,
    /// Of those events, admissions that appear more than once (harmless:
    /// the consumers apply them once; reported to show the republishing).
    pub announced_twice: u64,
}

impl RunReport {
    /// Every invariant that must hold whatever the fault: the sale's checks
    /// and the announcements. Timings are figures, not invariants.
    pub fn violations(&self) -> Vec<String> {
        let mut failed: Vec<String> = self
            .summary
            .checks
            .iter()
            .filter(|c| !c.passed())
            .map(|c| format!("{}: {} ({})", c.name, c.violations, c.detail))
            .collect();
        if self.not_announced > 0 {
            failed.push(format!(
                "{} admissions never announced on {TOPIC_ADMISSIONS}",
                self.not_announced
            ));
        }
        if self.summary.unavailable_without_retry_after > 0 {
            failed.push(format!(
                "{} 503 answers without Retry-After",
                self.summary.unavailable_without_retry_after
            ));
        }
        failed
    }

    fn violations_of(&self, check: &str) -> u64 {
        self.summary.check(check).map_or(0, |c| c.violations)
    }
}

/// Runs `sale` (its URLs are set here) through a fresh stack with the
/// injections, then audits the admissions topic.
pub async fn run(
    options: &StackOptions,
    mut sale: flash_sale::Args,
    injections: &[Injection],
) -> anyhow::Result<RunReport> {
    let stack = Stack::start(options).await.context("starting the stack")?;
    sale.queue_urls = stack.queue_urls.clone();
    sale.reservation_url = stack.reservation_url.clone();
    sale.sandbox_url = stack.sandbox_url.clone();
    sale.admin_key = stack::ADMIN_KEY.to_string();
    sale.database_url = stack.database_url.clone();
    sale.pids = stack.pids();
    let brokers = stack.kafka_brokers.clone();
    let database_url = stack.database_url.clone();
    let logs = stack.log_dir().to_path_buf();
    let stack = Arc::new(Mutex::new(stack));
    let started = Instant::now();
    let injector = {
        let stack = stack.clone();
        let injections = injections.to_vec();
        let database_url = database_url.clone();
        tokio::spawn(async move {
            let mut reports = Vec::new();
            for injection in injections {
                let at = started + Duration::from_secs_f64(injection.at_secs);
                tokio::time::sleep_until(at.into()).await;
                reports.push(inject(&stack, &database_url, injection).await);
            }
            reports
        })
    };
    let summary = flash_sale::run(&sale).await;
    let reports = injector.await?;
    let stack = Arc::into_inner(stack)
        .context("the injector still holds the stack")?
        .into_inner();
    let result = async {
        let summary = summary?;
        let injections = reports.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let (not_announced, announced_twice) = audit_announcements(&brokers, &summary).await?;
        Ok(RunReport {
            summary,
            injections,
            not_announced,
            announced_twice,
        })
    }
    .await;
    if result.as_ref().map_or(true, |r| !r.violations().is_empty()) {
        // Kept for reading what went wrong.
        let kept =
            std::env::temp_dir().join(format!("ticketon-faults-logs-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&kept);
        for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
            }
        }
        eprintln!("faults: the stack's logs are in {}", kept.display());
    }
    stack.stop().await;
    result
}

async fn inject(
    stack: &Mutex<Stack>,
    database_url: &str,
    injection: Injection,
) -> anyhow::Result<InjectionReport> {
    let outage = Duration::from_secs_f64(injection.outage_secs);
    let fault = injection.fault;
    eprintln!("faults: {} at {:.1} s", fault.name(), injection.at_secs);
    let mut report = InjectionReport {
        fault,
        recovered_ms: None,
        admission_gap_ms: None,
        settled_ms: None,
    };
    let affected: &[&str] = match fault {
        Fault::KillQueueHolder => {
            let (holder, survivor) = lease_holder(stack).await?;
            let survivor_url = stack.lock().await.queue_url(survivor).to_string();
            let killed_at = Instant::now();
            stack.lock().await.kill9(holder);
            // The survivor's view lags Redis by a refresh: what it counts a
            // moment after the kill includes the dead holder's last batch.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = admitted_total(&survivor_url).await?;
            let gap = tokio::spawn(admission_resumed(survivor_url, before));
            tokio::time::sleep(Duration::from_secs(1)).await;
            stack.lock().await.restart(holder)?;
            let back = Instant::now();
            let ready = ready_within(stack, &[holder], back).await?;
            report.recovered_ms = Some(ready);
            report.admission_gap_ms = gap
                .await?
                .ok()
                .map(|at| (at - killed_at).as_secs_f64() * 1000.0);
            return Ok(report);
        }
        Fault::KillReservations => {
            stack.lock().await.kill9(RESERVATIONS);
            tokio::time::sleep(Duration::from_secs(1)).await;
            stack.lock().await.restart(RESERVATIONS)?;
            &[RESERVATIONS]
        }
        Fault::RestartRedis => {
            stack.lock().await.kill9(REDIS);
            tokio::time::sleep(Duration::from_secs(1)).await;
            stack.lock().await.restart(REDIS)?;
            &[QUEUE_A, QUEUE_B]
        }
        Fault::RestartMariadb => {
            mariadb(false)?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            mariadb(true)?;
            &[RESERVATIONS]
        }
        Fault::FreezeKafka => {
            stack.lock().await.freeze_kafka(true)?;
            tokio::time::sleep(outage).await;
            stack.lock().await.freeze_kafka(false)?;
            &[QUEUE_A, QUEUE_B, RESERVATIONS]
        }
        Fault::SlowToss | Fault::FailingToss => {
            let code = if fault == Fault::SlowToss {
                "SANDBOX_TIMEOUT"
            } else {
                "FAILED_INTERNAL_SYSTEM_PROCESSING"
            };
            let sandbox = stack.lock().await.sandbox_url.clone();
            toss_outage(&sandbox, code, injection.outage_secs).await?;
            tokio::time::sleep(outage).await;
            &[RESERVATIONS]
        }
    };
    let back = Instant::now();
    report.recovered_ms = Some(ready_within(stack, affected, back).await?);
    if matches!(
        fault,
        Fault::KillReservations | Fault::SlowToss | Fault::FailingToss | Fault::RestartMariadb
    ) {
        report.settled_ms = settled(database_url, back).await.ok();
    }
    Ok(report)
}

/// Milliseconds from `back` until every `names` answers `/readyz` 200.
async fn ready_within(stack: &Mutex<Stack>, names: &[&str], back: Instant) -> anyhow::Result<f64> {
    let urls = stack.lock().await.ready_urls(names);
    for url in urls {
        stack::wait_ready(&url, Duration::from_secs(60)).await?;
    }
    Ok(back.elapsed().as_secs_f64() * 1000.0)
}

/// Which queue-server holds the sale's admission lease (the one whose
/// `/metrics` says it runs a queue's admission), and the other.
async fn lease_holder(stack: &Mutex<Stack>) -> anyhow::Result<(&'static str, &'static str)> {
    let urls = {
        let stack = stack.lock().await;
        [
            stack.queue_url(QUEUE_A).to_string(),
            stack.queue_url(QUEUE_B).to_string(),
        ]
    };
    let client = stack::http();
    for _ in 0..100 {
        for (i, url) in urls.iter().enumerate() {
            let text = client
                .get(format!("{url}/metrics"))
                .send()
                .await?
                .text()
                .await?;
            if text
                .lines()
                .any(|l| l.starts_with("ticketon_queue_admission_leases ") && !l.ends_with(" 0"))
            {
                return Ok(if i == 0 {
                    (QUEUE_A, QUEUE_B)
                } else {
                    (QUEUE_B, QUEUE_A)
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no queue-server holds an admission lease")
}

/// The admissions of every queue, as the queue-server at `url` counts them.
async fn admitted_total(url: &str) -> anyhow::Result<u64> {
    let body: serde_json::Value = stack::http()
        .get(format!("{url}/v1/api/queues"))
        .bearer_auth(stack::ADMIN_KEY)
        .send()
        .await?
        .json()
        .await?;
    Ok(body["queues"].as_array().map_or(0, |queues| {
        queues
            .iter()
            .filter_map(|q| q["admittedTotal"].as_u64())
            .sum()
    }))
}

/// Resolves when the queue-server at `url` counts more admissions than `before`.
async fn admission_resumed(url: String, before: u64) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if admitted_total(&url).await.is_ok_and(|n| n > before) {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("admission did not resume within 30 s")
}

/// MariaDB down (`mysqladmin shutdown`) or up again, as `.ci/services.sh` starts it.
fn mariadb(up: bool) -> anyhow::Result<()> {
    let status = if up {
        std::process::Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ])
            .status()?
    } else {
        std::process::Command::new("mysqladmin")
            .args([
                "--protocol=tcp",
                "-h",
                "127.0.0.1",
                "-u",
                "root",
                "shutdown",
            ])
            .status()?
    };
    if !status.success() {
        bail!("MariaDB {} failed", if up { "start" } else { "shutdown" });
    }
    Ok(())
}

async fn toss_outage(sandbox: &str, code: &str, seconds: f64) -> anyhow::Result<()> {
    let response = stack::http()
        .put(format!("{sandbox}/v1/sandbox/outage"))
        .basic_auth(reservation_api::toss::SANDBOX_SECRET_KEY, Some(""))
        .json(&serde_json::json!({"failWith": code, "seconds": seconds}))
        .send()
        .await?;
    if response.status() != 204 {
        bail!("the sandbox refused the outage: {}", response.status());
    }
    Ok(())
}

/// Milliseconds from `back` until no payment begun before it is pending.
async fn settled(database_url: &str, back: Instant) -> anyhow::Result<f64> {
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending: Option<i64> = async {
            let mut db = sqlx::MySqlConnection::connect(database_url).await.ok()?;
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM payments WHERE status = 'pending' AND created_at_ms <= ?",
            )
            .bind(cutoff)
            .fetch_one(&mut db)
            .await
            .ok()
        }
        .await;
        if pending == Some(0) {
            return Ok(back.elapsed().as_secs_f64() * 1000.0);
        }
        if Instant::now() > deadline {
            bail!("payments still pending 120 s after the fault");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads `ticketon.admissions` from the start under a group of its own:
/// (admissions the fans were told of with no `admitted` event, entries
/// announced more than once).
async fn audit_announcements(brokers: &str, summary: &Summary) -> anyhow::Result<(u64, u64)> {
    let group = format!("faults-audit-{}", uuid::Uuid::new_v4().simple());
    let mut subscriber =
        KafkaSubscriber::subscribe(&KafkaConfig::new(brokers), &group, &[TOPIC_ADMISSIONS])?;
    let mut seen = HashSet::new();
    let mut twice = 0;
    // Joining the group takes a while; after the first record, 5 s
    // without one is the end of the topic.
    let mut quiet = Duration::from_secs(60);
    while let Ok(delivery) = tokio::time::timeout(quiet, subscriber.next()).await {
        quiet = Duration::from_secs(5);
        let delivery = delivery?;
        if let Ok(AdmissionEvent::Admitted {
            queue_id, entry_id, ..
        }) = serde_json::from_slice(&delivery.payload)
        {
            if queue_id == summary.queue_id && !seen.insert(entry_id) {
                twice += 1;
            }
        }
    }
    let _ = subscriber.close().await;
    let missing = summary
        .admitted_entries
        .iter()
        .filter(|e| !seen.contains(*e))
        .count() as u64;
    Ok((missing, twice))
}

/// The fault table's row of a run.
pub fn table_row(run: &RunReport, label: &str) -> String {
    let refused = run.summary.refused;
    let refused_503 = run.summary.unavailable_ms.len();
    let p99 = if run.summary.unavailable_ms.is_empty() {
        "–".to_string()
    } else {
        format!(
            "{:.0}",
            crate::stats::quantile(&run.summary.unavailable_ms, 0.99)
        )
    };
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    let injection = run.injections.first();
    format!(
        "| {label} | {refused} | {refused_503} | {p99} | {} | {} | {} | {} | {} | {} | {} ({} twice) | {} |",
        ms(injection.and_then(|i| i.recovered_ms)),
        ms(injection.and_then(|i| i.admission_gap_ms)),
        ms(injection.and_then(|i| i.settled_ms)),
        run.violations_of("no acknowledged join"),
        run.violations_of("no seat sold twice"),
        run.violations_of("money adds up"),
        run.not_announced,
        run.announced_twice,
        if run.violations().is_empty() { "all pass" } else { "FAILED" },
    )
}

pub const TABLE_HEADER: &str = "| fault | requests refused | of them 503 | 503 p99 ms | recovered ms | admission gap ms | payments settled ms | joins lost | double bookings | money mismatches | admissions not announced | checks |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";

/// Where the binaries of a cargo build are, beside `exe` (a test's or a
/// bench binary's own path).
pub fn bin_dir_beside(exe: &std::path::Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(std::path::Path::new("."));
    // Integration tests run from target/<profile>/deps.
    if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The stack's settings as flags.
#[derive(Debug, Clone, clap::Args)]
pub struct StackOptionsArgs {
    /// Where queue-server, reservation-api and toss-sandbox are (default:
    /// beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    #[arg(long, env = "MYSQL_URL", default_value = "mysql://root@127.0.0.1:3306")]
    pub mysql_url: String,
    /// The reservation-api's Toss request timeout.
    #[arg(long, default_value_t = 2_000)]
    pub toss_timeout_ms: u64,
}

impl StackOptionsArgs {
    pub fn options(&self) -> anyhow::Result<StackOptions> {
        let bin_dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => bin_dir_beside(&std::env::current_exe()?),
        };
        Ok(StackOptions {
            bin_dir,
            repo: self.repo.clone(),
            mysql_url: self.mysql_url.clone(),
            appendfsync: "everysec".into(),
            toss_timeout_ms: self.toss_timeout_ms,
        })
    }
}
