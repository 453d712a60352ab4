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
