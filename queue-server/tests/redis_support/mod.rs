//! Shared by the `redis_*` test binaries: real Redis processes (the shared
//! one, or throwaway `redis-server`s on free loopback ports, standalone or
//! as a Cluster), queue-servers on the Redis store, HTTP helpers, and the
//! suite that runs against both a single Redis and a Cluster.
//!
//! Throwaway processes sit behind guards that kill them on drop, so a
//! failing test leaves nothing running.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use queue_server::entry_id::EntryIdCodec;
use queue_server::model::EntryState;
use queue_server::store::redis::{RedisOptions, RedisStore, RedisTarget};
use queue_server::store::QueueStore;
use queue_server::{RunningServer, ServerSettings};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(crate) const ADMIN: &str = "redis-test-admin-key";
pub(crate) const SECRET: &str = "redis-test-token-secret-of-32-bytes!";

/// The shared Redis, or `None` (after reporting it) when it is unreachable.
pub(crate) async fn shared_redis() -> Option<RedisTarget> {
    let url =
        ticketon_runtime::test_env::env_or("TICKETON_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let target = RedisTarget {
        urls: vec![url.clone()],
        cluster: false,
        timeout: Duration::from_millis(1000),
    };
    match ping(&url).await {
        Ok(()) => Some(target),
        Err(e) => {
            ticketon_runtime::test_env::service_unavailable("Redis", format!("{url}: {e}"));
            None
        }
    }
}

async fn ping(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(3),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}

/// A key prefix no other test (or run) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    format!(
        "ticketon-test-{test}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

pub(crate) fn options(target: &RedisTarget, prefix: &str) -> RedisOptions {
    RedisOptions {
        target: target.clone(),
        key_prefix: prefix.to_string(),
        join_mode: queue_server::store::redis::JoinMode::Batched,
        joins_in_flight: 1,
    }
}

/// The shared Redis and a key prefix of the test's own, whose keys are
/// deleted when the guard drops; `None` when the test must skip.
pub(crate) async fn shared_redis_with_prefix(
    test: &str,
) -> Option<(RedisTarget, String, PrefixGuard)> {
    let target = shared_redis().await?;
    let prefix = unique_prefix(test);
    let guard = PrefixGuard {
        url: target.urls[0].clone(),
        prefix: prefix.clone(),
    };
    Some((target, prefix, guard))
}

/// Deletes a test's keys from the shared Redis when dropped, so that a
/// failing test leaves nothing behind either.
pub(crate) struct PrefixGuard {
    pub url: String,
    pub prefix: String,
}

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A loopback port nobody listens on (and, for Cluster nodes, its bus port
/// `port + 10000` too).
pub(crate) fn free_node_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 30_000;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

pub(crate) fn redis_server_available() -> bool {
    match Command::new("redis-server").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            ticketon_runtime::test_env::service_unavailable(
                "redis-server",
                String::from_utf8_lossy(&out.stderr),
            );
            false
        }
        Err(e) => {
            ticketon_runtime::test_env::service_unavailable("redis-server", e);
            false
        }
    }
}

/// A `redis-server` of this test's own, killed on drop.
pub(crate) struct RedisProcess {
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a server with the AOF fsynced on every write, so that a kill
    /// and a restart keep the data (as a production Redis would be set up).
    pub(crate) fn start(extra: &[&str]) -> std::io::Result<Self> {
        let port = free_node_port();
        let dir = std::env::temp_dir().join(format!(
            "ticketon-redis-{}-{port}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut process = RedisProcess {
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        process.restart()?;
        Ok(process)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process on the same port and data directory, and
    /// waits until it answers.
    pub(crate) fn restart(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(["--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ok = Command::new("redis-cli")
                    .args(["-p", &self.port.to_string(), "ping"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
                    .unwrap_or(false);
                if ok {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other("redis-server did not come up"))
    }

    /// Kills the process at once (SIGKILL), like a crash.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three masters of a Redis Cluster on loopback ports, killed on drop.
pub(crate) struct RedisCluster {
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    pub(crate) fn start() -> std::io::Result<Self> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisProcess::start(&[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "2000",
                "--appendonly",
                "no",
            ])?);
        }
        // Each node writes its own nodes.conf in its own directory.
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cluster
                .nodes
                .iter()
                .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
            {
                return Ok(cluster);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(std::io::Error::other("the cluster did not reach state ok"))
    }

    pub(crate) fn target(&self) -> RedisTarget {
        RedisTarget {
            urls: self.nodes.iter().map(|n| n.url()).collect(),
            cluster: true,
            timeout: Duration::from_millis(1000),
        }
    }
}

/// A queue-server on the Redis store, with an HTTP client.
pub(crate) struct Server {
    pub running: RunningServer<RedisStore>,
    pub client: reqwest::Client,
}

pub(crate) async fn server(options: RedisOptions) -> Server {
    server_with_events(options, None).await
}

/// [`server`] connected to a bus.
pub(crate) async fn server_with_events(
    options: RedisOptions,
    events: Option<queue_server::events::EventLink>,
) -> Server {
    let store = RedisStore::connect(options)
        .await
        .expect("connect to Redis");
    let running = queue_server::start_with_events(
        ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_key: ADMIN.into(),
            token_secret: SECRET.into(),
            limits: Default::default(),
            reservation_public_url: None,
        },
        store,
        events,
    )
    .await
    .expect("start a queue-server");
    Server {
        running,
        client: ticketon_runtime::test_env::http_client(),
    }
}

pub(crate) async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.running.addr, path)
    }

    pub(crate) fn store(&self) -> &RedisStore {
        self.running.service.store()
    }

    pub(crate) async fn put_queue(&self, queue: &str, rate: u32, max_active: u32, status: &str) {
        self.put_queue_body(
            queue,
            json!({
                "admissionRatePerSec": rate,
                "maxActive": max_active,
                "sessionTtlSec": 600,
                "status": status,
            }),
        )
        .await;
    }

    /// `PUT` of a queue with this body, which must succeed: its status
    /// (201 created, 200 updated) and the queue.
    pub(crate) async fn put_queue_body(&self, queue: &str, body: Value) -> (StatusCode, Value) {
        let (code, body) = read(
            self.client
                .put(self.url(&format!("/v1/api/queues/{queue}")))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(code.is_success(), "put queue: {code} {body}");
        (code, body)
    }

    pub(crate) async fn set_status(&self, queue: &str, status: &str) {
        let (code, body) = read(
            self.client
                .patch(self.url(&format!("/v1/api/queues/{queue}/status")))
                .bearer_auth(ADMIN)
                .json(&json!({ "status": status }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "set status: {body}");
    }

    pub(crate) async fn join(&self, queue: &str, user: &str) -> (StatusCode, Value) {
        read(
            self.client
                .post(self.url(&format!("/v1/api/queues/{queue}/entries")))
                .json(&json!({ "userId": user }))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn poll(&self, queue: &str, entry: &str) -> (StatusCode, Value) {
        read(
            self.client
                .get(self.url(&format!("/v1/api/queues/{queue}/entries/{entry}")))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn queue(&self, queue: &str) -> Value {
        self.get_ok(&format!("/v1/api/queues/{queue}")).await
    }

    pub(crate) async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

pub(crate) fn seq_of(entry_id: &str) -> u64 {
    EntryIdCodec::parse(entry_id).expect("an entryId").seq
}

/// Waits (bounded) until `check` holds; panics with `what` otherwise.
pub(crate) async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Admission times of seqs `1..=n` as `store` sees them, or `None` while
/// any is not admitted yet.
pub(crate) fn admission_times(store: &RedisStore, queue: &str, n: u64) -> Option<Vec<u64>> {
    (1..=n)
        .map(|seq| match store.entry_view(queue, seq)?.state {
            EntryState::Admitted { admitted_at_ms, .. } => Some(admitted_at_ms),
            _ => None,
        })
        .collect()
}

/// The most admissions inside any one-second window.
pub(crate) fn max_per_second(times: &[u64]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= 1000 {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

// ---------------------------------------------------------------------------
// The suite: run against a single Redis and against a Cluster.
// ---------------------------------------------------------------------------

/// Many tasks join through two servers at once: one line, global sequence
/// numbers without gaps or duplicates, one entry per user across servers,
/// and admission in join order at no more than the fleet-wide rate.
pub(crate) async fn two_servers_form_one_line(target: &RedisTarget, prefix: &str) {
    let a = server(options(target, prefix)).await;
    let b = server(options(target, prefix)).await;
    let queue = "line";
    let rate = 400;
    a.put_queue(queue, rate, 100_000, "paused").await;

    // 16 tasks per server, each joining its own users; plus users that join
    // through both servers at the same moment.
    let per_task = 25;
    let mut tasks = Vec::new();
    for (s, srv) in [&a, &b].into_iter().enumerate() {
        for t in 0..16 {
            let (client, base) = (srv.client.clone(), srv.url(""));
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..per_task {
                    let user = format!("u-{s}-{t}-{i}");
                    let resp = client
                        .post(format!("{base}/v1/api/queues/{queue}/entries"))
                        .json(&json!({ "userId": user }))
                        .send()
                        .await
                        .unwrap();
                    let (code, body) = read(resp).await;
                    assert_eq!(code, StatusCode::CREATED, "{body}");
                    ids.push(body["entryId"].as_str().unwrap().to_string());
                }
                ids
            }));
        }
    }
    let mut both = Vec::new();
    for i in 0..50 {
        let user = format!("both-{i}");
        let (ra, rb) = tokio::join!(a.join(queue, &user), b.join(queue, &user));
        both.push((ra, rb));
    }
    let mut entry_ids = Vec::new();
    for task in tasks {
        entry_ids.extend(task.await.unwrap());
    }
    for ((ca, ba), (cb, bb)) in &both {
        assert_eq!(
            ba["entryId"], bb["entryId"],
            "one entry per user across servers"
        );
        let created = [ca, cb]
            .iter()
            .filter(|c| **c == &StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "exactly one of the two joins created the entry");
        entry_ids.push(ba["entryId"].as_str().unwrap().to_string());
    }
    let n = entry_ids.len() as u64;
    let mut seqs: Vec<u64> = entry_ids.iter().map(|id| seq_of(id)).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "global seqs, no gap, no duplicate"
    );

    // Every entry is visible to polls on both servers (an entry joined on
    // the other server shows up with that server's next mirror refresh).
    eventually(
        "both mirrors see every join",
        Duration::from_secs(10),
        || async {
            (1..=n).all(|seq| {
                a.store().entry_view(queue, seq).is_some()
                    && b.store().entry_view(queue, seq).is_some()
            })
        },
    )
    .await;
    assert_eq!(a.queue(queue).await["waiting"], n);
    assert_eq!(b.queue(queue).await["waiting"], n);
    for id in entry_ids.iter().step_by(37) {
        let (code, body) = b.poll(queue, id).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "waiting");
    }

    a.set_status(queue, "open").await;
    eventually("everyone admitted", Duration::from_secs(30), || async {
        admission_times(a.store(), queue, n).is_some()
            && admission_times(b.store(), queue, n).is_some()
    })
    .await;
    let times = admission_times(a.store(), queue, n).unwrap();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "admission order is join order"
    );
    assert_eq!(times, admission_times(b.store(), queue, n).unwrap());
    let busiest = max_per_second(&times);
    assert!(
        busiest <= rate as usize,
        "{busiest} admissions in one second"
    );
    let holders = [&a, &b]
        .iter()
        .filter(|s| s.store().holds_lease(queue))
        .count();
    assert_eq!(holders, 1, "exactly one server runs the queue's admission");
    // The queue's counters come with the next mirror refresh, which may
    // follow the entries' by one round.
    eventually(
        "admittedTotal reaches n",
        Duration::from_secs(5),
        || async { a.queue(queue).await["admittedTotal"] == n },
    )
    .await;

    // An admitted entry polled on either server gets its token.
    let (_, body) = b.poll(queue, &entry_ids[0]).await;
    assert_eq!(body["status"], "admitted", "{body}");
    assert!(body["admissionToken"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    a.shutdown().await;
    b.shutdown().await;
}

/// The server running admission stops; another takes over within a few
/// seconds and the line goes on, never faster than the rate.
pub(crate) async fn lease_takeover(target: &RedisTarget, prefix: &str) {
    let a = server(options(target, prefix)).await;
    let b = server(options(target, prefix)).await;
    let queue = "takeover";
    let rate = 40;
    a.put_queue(queue, rate, 100_000, "paused").await;
    let n = 200u64;
    for i in 0..n {
        let srv = if i % 2 == 0 { &a } else { &b };
        let (code, _) = srv.join(queue, &format!("user-{i}")).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    a.set_status(queue, "open").await;
    eventually("a lease holder admits", Duration::from_secs(10), || async {
        a.queue(queue).await["admittedTotal"].as_u64().unwrap_or(0) >= 10
    })
    .await;
    let (holder, survivor) = if a.store().holds_lease(queue) {
        (a, b)
    } else {
        (b, a)
    };
    assert!(!survivor.store().holds_lease(queue));
    holder.shutdown().await;
    let stopped_at = survivor.queue(queue).await["admittedTotal"]
        .as_u64()
        .unwrap();
    eventually(
        "the survivor takes the lease over",
        Duration::from_secs(15),
        || async { survivor.store().holds_lease(queue) },
    )
    .await;
    eventually(
        "admission goes on after the takeover",
        Duration::from_secs(15),
        || async {
            survivor.queue(queue).await["admittedTotal"]
                .as_u64()
                .unwrap_or(0)
                >= stopped_at + 20
        },
    )
    .await;
    let admitted = survivor.queue(queue).await["admittedTotal"]
        .as_u64()
        .unwrap();
    let times: Vec<u64> = (1..=admitted)
        .map(
            |seq| match survivor.store().entry_view(queue, seq).unwrap().state {
                EntryState::Admitted { admitted_at_ms, .. } => admitted_at_ms,
                other => panic!("seq {seq} should be admitted, is {other:?}"),
            },
        )
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "FIFO across holders"
    );
    assert!(
        max_per_second(&times) <= rate as usize,
        "rate held across holders"
    );
    survivor.shutdown().await;
}

/// A new server on the same Redis continues the line of one that is gone:
/// entries, positions and one-entry-per-user survive.
pub(crate) async fn restart_continues_the_line(target: &RedisTarget, prefix: &str) {
    let queue = "restart";
    let first = server(options(target, prefix)).await;
    first.put_queue(queue, 10, 100, "paused").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let (code, body) = first.join(queue, &format!("r-{i}")).await;
        assert_eq!(code, StatusCode::CREATED);
        ids.push(body["entryId"].as_str().unwrap().to_string());
    }
    first.shutdown().await;

    let second = server(options(target, prefix)).await;
    for (i, id) in ids.iter().enumerate() {
        let (code, body) = second.poll(queue, id).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["position"], i as u64 + 1);
    }
    let (code, body) = second.join(queue, "r-3").await;
    assert_eq!(code, StatusCode::OK, "an existing user gets the entry back");
    assert_eq!(body["entryId"], ids[3].as_str());
    let (code, body) = second.join(queue, "newcomer").await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(seq_of(body["entryId"].as_str().unwrap()), 31);
    second.shutdown().await;
}

/// Leaving works across servers: the departed entry is skipped by
/// admission and reported as left by every server.
pub(crate) async fn leave_across_servers(target: &RedisTarget, prefix: &str) {
    let a = server(options(target, prefix)).await;
    let b = server(options(target, prefix)).await;
    let queue = "leave";
    a.put_queue(queue, 1000, 100, "paused").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, body) = a.join(queue, &format!("l-{i}")).await;
        ids.push(body["entryId"].as_str().unwrap().to_string());
    }
    eventually("b sees a's joins", Duration::from_secs(5), || async {
        b.store().entry_view(queue, 3).is_some()
    })
    .await;
    let resp = b
        .client
        .delete(b.url(&format!("/v1/api/queues/{queue}/entries/{}", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    eventually("a sees the departure", Duration::from_secs(5), || async {
        a.poll(queue, &ids[1]).await.1["status"] == "left"
    })
    .await;
    let (_, body) = a.poll(queue, &ids[2]).await;
    assert_eq!(body["status"], "waiting");
    a.set_status(queue, "open").await;
    eventually(
        "the others are admitted",
        Duration::from_secs(10),
        || async { a.poll(queue, &ids[2]).await.1["status"] == "admitted" },
    )
    .await;
    assert_eq!(a.poll(queue, &ids[0]).await.1["status"], "admitted");
    assert_eq!(a.poll(queue, &ids[1]).await.1["status"], "left");
    assert_eq!(a.queue(queue).await["admittedTotal"], 2);
    a.shutdown().await;
    b.shutdown().await;
}

/// A proof-of-work solution is good for one join across the fleet: a
/// challenge from one server is accepted by the other, once.
pub(crate) async fn proof_of_work_across_servers(target: &RedisTarget, prefix: &str) {
    let a = server(options(target, prefix)).await;
    let b = server(options(target, prefix)).await;
    let queue = "guarded";
    let (code, body) = a
        .put_queue_body(
            queue,
            json!({"admissionRatePerSec": 1, "maxActive": 1, "sessionTtlSec": 600,
                   "powDifficulty": 200, "powAdaptive": true}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    eventually("b knows the setting", Duration::from_secs(5), || async {
        b.store()
            .queue_info(queue)
            .is_some_and(|info| info.settings.pow_difficulty == 200 && info.settings.pow_adaptive)
    })
    .await;
    let (code, challenge) = read(
        b.client
            .get(b.url(&format!("/v1/api/queues/{queue}/challenge")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{challenge}");
    let altcha = queue_server::proof_of_work::solve(&serde_json::from_value(challenge).unwrap());
    let join = |server: &Server, user: &'static str| {
        server
            .client
            .post(server.url(&format!("/v1/api/queues/{queue}/entries")))
            .json(&json!({"userId": user, "altcha": altcha}))
            .send()
    };
    let (code, body) = read(join(&a, "first").await.unwrap()).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, body) = read(join(&b, "second").await.unwrap()).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("pow_replayed"))
    );
    a.shutdown().await;
    b.shutdown().await;
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl Server {
    /// A queue scheduled to open at `opens_at_ms` with a drawn pre-queue.
    pub(crate) async fn put_prequeue(&self, queue: &str, rate: u32, opens_at_ms: u64) {
        let (code, body) = self
            .put_queue_body(
                queue,
                json!({
                    "admissionRatePerSec": rate,
                    "maxActive": 100_000,
                    "sessionTtlSec": 600,
                    "opensAt": queue_server::service::rfc3339(opens_at_ms),
                    "prequeue": true,
                }),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "prequeue", "{body}");
    }

    pub(crate) async fn draw(&self, queue: &str) -> Value {
        self.get_ok(&format!("/v1/api/queues/{queue}/draw")).await
    }

    /// The body of a GET that must answer 200.
    pub(crate) async fn get_ok(&self, path: &str) -> Value {
        let (code, body) = read(self.client.get(self.url(path)).send().await.unwrap()).await;
        assert_eq!(code, StatusCode::OK, "GET {path}: {body}");
        body
    }
}

/// A store of the test's own on `target`, and a queue `queue` on it scheduled
/// to open at `opens_at_ms` with a pre-queue (1,000 admissions a second).
pub(crate) async fn store_with_prequeue(
    target: &RedisTarget,
    prefix: &str,
    queue: &str,
    opens_at_ms: u64,
) -> (RedisStore, queue_server::store::QueueInfo) {
    use queue_server::model::{QueueId, QueueSettings, QueueStatus};
    let store = RedisStore::connect(options(target, prefix)).await.unwrap();
    let settings = QueueSettings::new(1000, 1_000_000, 600)
        .unwrap()
        .with_schedule(opens_at_ms, true)
        .unwrap();
    let (info, _) = store
        .put_queue(
            QueueId::parse(queue).unwrap(),
            settings,
            QueueStatus::Prequeue,
        )
        .await
        .unwrap();
    (store, info)
}

/// [`store_with_prequeue`] with `fans` joined before an opening 300 ms away,
/// waited for and sealed by the store's first tick (which takes the lease).
pub(crate) async fn store_with_sealed_prequeue(
    target: &RedisTarget,
    prefix: &str,
    queue: &str,
    fans: u64,
) -> (RedisStore, queue_server::store::QueueInfo) {
    use queue_server::model::UserId;
    let opens_at = now_ms() + 300;
    let (store, info) = store_with_prequeue(target, prefix, queue, opens_at).await;
    for i in 0..fans {
        store
            .join(queue, UserId::parse(&format!("fan-{i}")).unwrap())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(
        opens_at.saturating_sub(now_ms()) + 20,
    ))
    .await;
    let ticks = store.tick(now_ms()).await.unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].draw_due, Some(fans), "sealed with the early fans");
    (store, info)
}

/// The order the draw of `queue`'s incarnation `epoch` must give its first
/// `block` entries, as any server of the fleet (with the tests' secret) makes it.
pub(crate) fn expected_draw(queue: &str, epoch: u64, block: u64) -> queue_server::model::LineOrder {
    queue_server::prequeue::DrawKeys::new(SECRET.as_bytes()).draw(
        &EntryIdCodec::new(SECRET.as_bytes()),
        queue,
        epoch,
        block,
    )
}

/// Checks a published draw with the queue-server's own algorithm.
pub(crate) fn assert_draw_checks_out(record: &Value) {
    if let Err(e) = queue_server::prequeue::recheck(record) {
        panic!("the published draw does not check out: {e}");
    }
}

/// A scheduled sale with a pre-queue on two servers: fans who join before
/// the opening through either server are drawn, a server started during the
/// pre-queue knows every entry, later joins line up behind the block, and
/// the line goes in by place.
pub(crate) async fn prequeue_across_servers(target: &RedisTarget, prefix: &str) {
    let a = server(options(target, prefix)).await;
    let b = server(options(target, prefix)).await;
    let queue = "scheduled";
    let opens_at = now_ms() + 2_500;
    a.put_prequeue(queue, 20, opens_at).await;
    let mut early = Vec::new();
    for i in 0..24 {
        let srv = if i % 2 == 0 { &a } else { &b };
        let (code, body) = srv.join(queue, &format!("early-{i}")).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "prequeue", "{body}");
        assert!(body.get("position").is_none(), "no place before the draw");
        early.push(body["entryId"].as_str().unwrap().to_string());
    }
    let record = a.draw(queue).await;
    assert_eq!(record["stage"], "pending");
    assert!(
        record["seed"].is_null(),
        "the seed stays secret until the opening"
    );
    let commitment = record["commitment"].clone();

    // A server started during the pre-queue keeps every entry.
    b.shutdown().await;
    let c = server(options(target, prefix)).await;
    for id in &early {
        let (code, body) = c.poll(queue, id).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "prequeue", "{body}");
        assert_eq!(body["participants"], 24, "{body}");
        assert!(body["etaSecondsP25"].as_u64() <= body["etaSecondsP75"].as_u64());
    }

    let wait = opens_at.saturating_sub(now_ms()) + 50;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut late = Vec::new();
    for i in 0..6 {
        let (code, body) = c.join(queue, &format!("late-{i}")).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        late.push(body["entryId"].as_str().unwrap().to_string());
    }
    eventually("the draw is committed", Duration::from_secs(10), || async {
        a.queue(queue).await["drawn"] == 24 && c.queue(queue).await["drawn"] == 24
    })
    .await;
    let record = c.draw(queue).await;
    assert_eq!(record["stage"], "drawn");
    assert_eq!(record["commitment"], commitment);
    assert_eq!(record, a.draw(queue).await, "one draw for the fleet");
    assert_draw_checks_out(&record);

    // Every early entry is where the draw put it; the late ones come after
    // the whole block, in join order.
    let place_of = |entry_id: &str| -> u64 {
        let seq = seq_of(entry_id);
        if seq <= 24 {
            record["places"][seq as usize - 1].as_u64().unwrap()
        } else {
            seq
        }
    };
    eventually("everyone is admitted", Duration::from_secs(15), || async {
        a.queue(queue).await["admittedTotal"] == 30
    })
    .await;
    let store = a.store();
    let mut by_place: Vec<(u64, u64)> = early
        .iter()
        .chain(&late)
        .map(|id| {
            let admitted_at = match store.entry_view(queue, seq_of(id)).unwrap().state {
                EntryState::Admitted { admitted_at_ms, .. } => admitted_at_ms,
                other => panic!("{id} is {other:?}"),
            };
            (place_of(id), admitted_at)
        })
        .collect();
    by_place.sort_unstable();
    assert_eq!(
        by_place.iter().map(|p| p.0).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    assert!(
        by_place.windows(2).all(|w| w[0].1 <= w[1].1),
        "admitted in place order: {by_place:?}"
    );
    a.shutdown().await;
    c.shutdown().await;
}
