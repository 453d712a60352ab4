//! The production layout as child processes a fault run can kill and
//! restart: a Redis of its own (AOF on), tansu (`.ci/tansu.sh`), a scratch
//! MariaDB database, the Toss sandbox in a process of its own (so that its
//! ledger outlives a killed reservation-api), two queue-servers and the
//! reservation-api.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::scratch_db::ScratchDatabase;

pub const ADMIN_KEY: &str = "faults-admin-key";
const TOKEN_SECRET: &str = "faults-token-secret-of-32-bytes!!";
pub const QUEUE_A: &str = "queue-server-a";
pub const QUEUE_B: &str = "queue-server-b";
pub const RESERVATIONS: &str = "reservation-api";
pub const SANDBOX: &str = "toss-sandbox";
pub const REDIS: &str = "redis";

/// How the stack is set up.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Where the queue-server, reservation-api and toss-sandbox binaries are.
    pub bin_dir: PathBuf,
    /// The repository (for `.ci/tansu.sh`).
    pub repo: PathBuf,
    /// MariaDB as its administrator, without a database.
    pub mysql_url: String,
    /// Redis's `appendfsync`: `everysec` or `always`.
    pub appendfsync: String,
    /// The Toss client's request timeout in the reservation-api; the
    /// sandbox's slow mode stays silent for twice as long.
    pub toss_timeout_ms: u64,
}

/// A process of the stack: how to start it again, and the running child.
#[derive(Debug)]
struct Process {
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A stack that failed half-way, or a harness that panicked, leaves no
/// process behind.
impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[derive(Debug)]
pub struct Stack {
    pub queue_urls: Vec<String>,
    pub reservation_url: String,
    pub sandbox_url: String,
    pub kafka_brokers: String,
    pub database: Option<ScratchDatabase>,
    pub database_url: String,
    kafka_port: u16,
    repo: PathBuf,
    dir: PathBuf,
    processes: BTreeMap<&'static str, Process>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Stack {
    pub async fn start(options: &StackOptions) -> anyhow::Result<Stack> {
        let dir =
            std::env::temp_dir().join(format!("ticketon-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let [redis_port, kafka_port, queue_a, queue_b, reservations, sandbox] =
            [(); 6].map(|_| free_port());
        let (redis_port, kafka_port) = (redis_port?, kafka_port?);
        let (queue_a, queue_b, reservations, sandbox) =
            (queue_a?, queue_b?, reservations?, sandbox?);
        let database = ScratchDatabase::create(&options.mysql_url).await?;
        let database_url = database.url.clone();
        let kafka_brokers = format!("127.0.0.1:{kafka_port}");
        let mut stack = Stack {
            queue_urls: vec![
                format!("http://127.0.0.1:{queue_a}"),
                format!("http://127.0.0.1:{queue_b}"),
            ],
            reservation_url: format!("http://127.0.0.1:{reservations}"),
            sandbox_url: format!("http://127.0.0.1:{sandbox}"),
            kafka_brokers: kafka_brokers.clone(),
            database: Some(database),
            database_url: database_url.clone(),
            kafka_port,
            repo: options.repo.clone(),
            dir: dir.clone(),
            processes: BTreeMap::new(),
        };
        stack.tansu(&["install"])?;
        stack.tansu(&["start", &kafka_port.to_string()])?;
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir)?;
        let s = |v: &str| v.to_string();
        stack.add(
            REDIS,
            PathBuf::from("redis-server"),
            vec![
                s("--port"),
                redis_port.to_string(),
                s("--bind"),
                s("127.0.0.1"),
                s("--save"),
                s(""),
                s("--appendonly"),
                s("yes"),
                s("--appendfsync"),
                options.appendfsync.clone(),
                s("--dir"),
                redis_dir.display().to_string(),
            ],
            Vec::new(),
        )?;
        wait_port(redis_port, Duration::from_secs(10)).await?;
        stack.add(
            SANDBOX,
            options.bin_dir.join("toss-sandbox"),
            vec![s("--listen"), format!("127.0.0.1:{sandbox}")],
            vec![(
                s("TICKETON_TOSS_SANDBOX_TIMEOUT_SLEEP_MS"),
                (2 * options.toss_timeout_ms).to_string(),
            )],
        )?;
        wait_port(sandbox, Duration::from_secs(10)).await?;
        let common = vec![
            (s("TICKETON_ADMIN_KEY"), s(ADMIN_KEY)),
            (s("TICKETON_TOKEN_SECRET"), s(TOKEN_SECRET)),
            (s("TICKETON_KAFKA_BROKERS"), kafka_brokers),
            (
                s("TICKETON_REDIS_URL"),
                format!("redis://127.0.0.1:{redis_port}"),
            ),
            (s("TICKETON_REDIS_PREFIX"), s("faults")),
            (
                s("RUST_LOG"),
                std::env::var("RUST_LOG").unwrap_or_else(|_| s("warn")),
            ),
        ];
        for (name, port) in [(QUEUE_A, queue_a), (QUEUE_B, queue_b)] {
            let mut envs = common.clone();
            envs.push((s("TICKETON_QUEUE_LISTEN"), format!("127.0.0.1:{port}")));
            stack.add(name, options.bin_dir.join("queue-server"), Vec::new(), envs)?;
        }
        let mut envs = common;
        envs.extend([
            (
                s("TICKETON_RESERVATION_LISTEN"),
                format!("127.0.0.1:{reservations}"),
            ),
            (s("TICKETON_DATABASE_URL"), database_url),
            (s("TOSS_API_BASE"), format!("http://127.0.0.1:{sandbox}")),
            (
                s("TOSS_SECRET_KEY"),
                s(reservation_api::toss::SANDBOX_SECRET_KEY),
            ),
            (
                s("TOSS_REQUEST_TIMEOUT_MS"),
                options.toss_timeout_ms.to_string(),
            ),
            // The reconciler takes over a payment whose outcome is unknown soon,
            // so a fault's payments settle within the run.
            (s("TICKETON_PAYMENT_RECONCILE_INTERVAL_MS"), s("500")),
            (
                s("TICKETON_PAYMENT_RECONCILE_GRACE_MS"),
                (options.toss_timeout_ms + 1_000).to_string(),
            ),
        ]);
        stack.add(
            RESERVATIONS,
            options.bin_dir.join("reservation-api"),
            Vec::new(),
            envs,
        )?;
        for url in stack.ready_urls(&[QUEUE_A, QUEUE_B, RESERVATIONS]) {
            wait_ready(&url, Duration::from_secs(60)).await?;
        }
        Ok(stack)
    }

    fn add(
        &mut self,
        name: &'static str,
        program: PathBuf,
        args: Vec<String>,
        envs: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        let mut process = Process {
            program,
            args,
            envs,
            log: self.dir.join(format!("{name}.log")),
            child: None,
        };
        process.spawn()?;
        self.processes.insert(name, process);
        Ok(())
    }

    fn tansu(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = Command::new("bash")
            .arg(self.repo.join(".ci/tansu.sh"))
            .args(args)
            .env("TANSU_PARENT_PID", std::process::id().to_string())
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!(".ci/tansu.sh {} failed", args.join(" "));
        }
        Ok(())
    }

    /// The `/readyz` of each named service.
    pub fn ready_urls(&self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter_map(|name| match *name {
                QUEUE_A => Some(format!("{}/readyz", self.queue_urls[0])),
                QUEUE_B => Some(format!("{}/readyz", self.queue_urls[1])),
                RESERVATIONS => Some(format!("{}/readyz", self.reservation_url)),
                _ => None,
            })
            .collect()
    }

    /// The URL of a queue-server by name.
    pub fn queue_url(&self, name: &str) -> &str {
        if name == QUEUE_A {
            &self.queue_urls[0]
        } else {
            &self.queue_urls[1]
        }
    }

    pub fn kill9(&mut self, name: &str) {
        if let Some(process) = self.processes.get_mut(name) {
            process.kill9();
        }
    }

    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self
            .processes
            .get_mut(name)
            .with_context(|| format!("no process {name}"))?;
        process.kill9();
        process.spawn()
    }

    /// The Kafka broker stops answering (SIGSTOP) or resumes (SIGCONT).
    pub fn freeze_kafka(&self, frozen: bool) -> anyhow::Result<()> {
        let port = self.kafka_port.to_string();
        self.tansu(&[if frozen { "pause" } else { "resume" }, &port])
    }

    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    /// Processes for the sale's CPU figures: `name=pid`.
    pub fn pids(&self) -> Vec<String> {
        self.processes
            .iter()
            .filter_map(|(name, p)| Some(format!("{name}={}", p.child.as_ref()?.id())))
            .collect()
    }

    pub async fn stop(mut self) {
        for process in self.processes.values_mut() {
            process.kill9();
        }
        let _ = self.tansu(&["stop", &self.kafka_port.to_string()]);
        if let Some(database) = self.database.take() {
            let _ = database.drop_database().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn wait_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {addr} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The harness's HTTP client: never through a proxy from the environment
/// (every address here is loopback), and no call waits past 2 s.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}

/// Waits until `url` answers 200.
pub async fn wait_ready(url: &str, within: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let client = http();
    loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if started.elapsed() > within {
            bail!("{url} not ready after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
