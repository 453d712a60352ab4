//! kill -9 of a queue-server process on Redis: no acknowledged join and no
//! admission is lost, and a restarted process continues the same line.
//! Runs the real binary against the shared Redis under a key prefix of its
//! own.

mod redis_support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The queue-server binary, killed (SIGKILL) on drop.
struct Process {
    child: Child,
}

impl Process {
    fn start(port: u16, redis_url: &str, prefix: &str) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_queue-server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--redis-url", redis_url, "--redis-prefix", prefix])
            .args(["--workers", "1"])
            .env("TICKETON_ADMIN_KEY", ADMIN)
            .env("TICKETON_TOKEN_SECRET", SECRET)
            .env_remove("TICKETON_KAFKA_BROKERS")
            .env_remove("TICKETON_REDIS_CLUSTER")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the queue-server binary");
        Process { child }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// GET of one entry: its status code and body.
async fn poll(client: &reqwest::Client, base: &str, queue: &str, id: &str) -> (StatusCode, Value) {
    read(
        client
            .get(format!("{base}/v1/api/queues/{queue}/entries/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    eventually(
        "the queue-server is up",
        Duration::from_secs(20),
        || async {
            client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_join_or_admission() {
    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("kill9").await else {
        return;
    };
    let url = target.urls[0].clone();
    let port = free_node_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = ticketon_runtime::test_env::http_client();
    let queue = "crash";

    let mut process = Process::start(port, &url, &prefix);
    wait_healthy(&client, &base).await;
    let resp = client
        .put(format!("{base}/v1/api/queues/{queue}"))
        .bearer_auth(ADMIN)
        .json(&json!({"admissionRatePerSec": 100, "maxActive": 100000, "sessionTtlSec": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Joins keep arriving from several clients while the process is killed.
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let user = format!("k-{t}-{i}");
                let Ok(resp) = client
                    .post(format!("{base}/v1/api/queues/{queue}/entries"))
                    .json(&json!({ "userId": user }))
                    .send()
                    .await
                else {
                    return;
                };
                let (code, body) = read(resp).await;
                if code != StatusCode::CREATED {
                    return;
                }
                let id = body["entryId"].as_str().unwrap().to_string();
                acked.lock().unwrap().push((user, id));
            }
        }));
    }
    eventually(
        "joins and admissions under way",
        Duration::from_secs(20),
        || async { acked.lock().unwrap().len() >= 300 },
    )
    .await;
    // Entries seen admitted before the crash must stay admitted after it.
    let first: Vec<(String, String)> = acked.lock().unwrap()[..20].to_vec();
    let mut admitted_before = Vec::new();
    for (_, id) in &first {
        let (_, body) = poll(&client, &base, queue, id).await;
        if body["status"] == "admitted" {
            admitted_before.push((id.clone(), body["expiresAt"].clone()));
        }
    }
    process.kill9();
    for task in tasks {
        let _ = task.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        !admitted_before.is_empty(),
        "some entries were admitted before the crash"
    );

    let _restarted = Process::start(port, &url, &prefix);
    wait_healthy(&client, &base).await;
    for (user, id) in &acked {
        let (code, body) = poll(&client, &base, queue, id).await;
        assert_eq!(
            code,
            StatusCode::OK,
            "acknowledged join of {user} lost: {body}"
        );
    }
    for (id, expires_at) in &admitted_before {
        let (_, body) = poll(&client, &base, queue, id).await;
        assert_eq!(body["status"], "admitted", "admission lost: {body}");
        assert_eq!(&body["expiresAt"], expires_at);
    }
    let (user, id) = &acked[acked.len() / 2];
    let (code, body) = read(
        client
            .post(format!("{base}/v1/api/queues/{queue}/entries"))
            .json(&json!({ "userId": user }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["entryId"], id.as_str(), "the same line goes on");
    // Admission resumes once the dead process's lease has run out.
    let admitted_total = || async {
        let (_, body) = read(
            client
                .get(format!("{base}/v1/api/queues/{queue}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        body["admittedTotal"].as_u64().unwrap_or(0)
    };
    let after_restart = admitted_total().await;
    eventually("admission resumes", Duration::from_secs(20), || async {
        admitted_total().await >= after_restart + 20
    })
    .await;
}

/// kill -9 of the lease holder at the opening of a scheduled sale, as soon as
/// Redis shows its pre-queue sealed: the line is either drawn whole or not at
/// all, and a new process draws the same order from the same seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_the_draw_leaves_one_line() {
    use queue_server::model::{QueueId, UserId};
    use queue_server::store::redis::KeyLayout;
    use queue_server::store::QueueStore;

    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("kill9-draw").await else {
        return;
    };
    let url = target.urls[0].clone();
    let queue = "opening";
    let block = 40_000u64;
    // The pre-queue is filled through a store of the test's own (quicker than HTTP).
    let (filler, info) = store_with_prequeue(&target, &prefix, queue, now_ms() + 60_000).await;
    let filler = Arc::new(filler);
    for chunk in 0..block / 1000 {
        let joins: Vec<_> = (0..1000)
            .map(|i| {
                let store = filler.clone();
                let user = UserId::parse(&format!("fan-{chunk}-{i}")).unwrap();
                tokio::spawn(async move { store.join(queue, user).await.unwrap() })
            })
            .collect();
        for join in joins {
            join.await.unwrap();
        }
    }
    drop(filler);
    let keys = KeyLayout::new(&prefix)
        .unwrap()
        .queue(&QueueId::parse(queue).unwrap());
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Open now: the process about to start seals at its first tick.
    let _: () = redis::cmd("HSET")
        .arg(&keys.meta)
        .arg("opens_at")
        .arg(now_ms() + 1_000)
        .query_async(&mut conn)
        .await
        .unwrap();

    let port = free_node_port();
    let mut holder = Process::start(port, &url, &prefix);
    let mut sealed = false;
    for _ in 0..20_000 {
        let sched: Option<String> = redis::cmd("HGET")
            .arg(&keys.meta)
            .arg("sched")
            .query_async(&mut conn)
            .await
            .unwrap();
        if sched.as_deref() != Some("pending") {
            sealed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(sealed, "the holder never sealed the pre-queue");
    holder.kill9();

    let (drawn, order_len): (u64, u64) = redis::pipe()
        .cmd("HGET")
        .arg(&keys.meta)
        .arg("drawn")
        .cmd("STRLEN")
        .arg(&keys.order)
        .query_async(&mut conn)
        .await
        .unwrap();
    eprintln!("killed with {drawn} drawn ({order_len} bytes of order)");
    assert!(
        (drawn, order_len) == (0, 0) || (drawn, order_len) == (block, 4 * block),
        "half a draw: {drawn} drawn, {order_len} bytes"
    );

    let base = format!("http://127.0.0.1:{port}");
    let client = ticketon_runtime::test_env::http_client();
    let next = Process::start(port, &url, &prefix);
    wait_healthy(&client, &base).await;
    let queue_info = || async {
        read(
            client
                .get(format!("{base}/v1/api/queues/{queue}"))
                .send()
                .await
                .unwrap(),
        )
        .await
        .1
    };
    eventually("the line is drawn", Duration::from_secs(30), || async {
        queue_info().await["drawn"] == block
    })
    .await;
    let (code, record) = read(
        client
            .get(format!("{base}/v1/api/queues/{queue}/draw"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_draw_checks_out(&record);
    let expected = expected_draw(queue, info.epoch, block);
    let published: Vec<u64> = (1..=block).map(|seq| expected.place_of(seq)).collect();
    assert_eq!(
        record["places"],
        json!(published),
        "the same seed, the same draw"
    );
    eventually(
        "admission follows the draw",
        Duration::from_secs(30),
        || async { queue_info().await["admittedTotal"].as_u64().unwrap_or(0) >= 100 },
    )
    .await;
    drop(next);
}
