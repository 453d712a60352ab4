//! Redis stopped and restarted under a running queue-server, on a Redis of
//! the test's own (a `redis-server` on a free loopback port, never the
//! shared one): joins fail fast with 503 and Retry-After, polls go on from
//! the last known state and say so, `/healthz` reports it, and service
//! resumes by itself once Redis is back, with the line intact.

mod redis_support;

use std::time::Duration;

use queue_server::store::redis::RedisTarget;
use redis_support::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_and_coming_back() {
    if !redis_server_available() {
        return;
    }
    let mut redis = match RedisProcess::start(&["--enable-debug-command", "yes"]) {
        Ok(redis) => redis,
        Err(e) => {
            ticketon_runtime::test_env::service_unavailable("redis-server", e);
            return;
        }
    };
    let target = RedisTarget {
        urls: vec![redis.url()],
        cluster: false,
        timeout: Duration::from_millis(300),
    };
    let srv = server(options(&target, "failure")).await;
    let queue = "outage";
    srv.put_queue(queue, 10, 100, "paused").await;
    let (code, body) = srv.join(queue, "before").await;
    assert_eq!(code, StatusCode::CREATED);
    let before = body["entryId"].as_str().unwrap().to_string();

    // Slow: Redis stops answering for two seconds. A join gives up at its
    // deadline instead of waiting.
    let sleeper = std::thread::spawn({
        let port = redis.port;
        move || {
            std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "debug", "sleep", "2"])
                .output()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, _) = tokio::time::timeout(Duration::from_secs(10), srv.join(queue, "slow"))
        .await
        .expect("a join must not hang while Redis is slow");
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let _ = sleeper.join();
    // The timed-out join may have landed after all (Redis ran it when it
    // woke up); a retry is answered with the same entry either way.
    eventually("Redis answers again", Duration::from_secs(10), || async {
        let (code, _) = srv.join(queue, "slow").await;
        code == StatusCode::CREATED || code == StatusCode::OK
    })
    .await;

    redis.kill();

    // A join fails fast: 503 with Retry-After, well within the client's
    // own (generous) deadline.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        srv.client
            .post(srv.url(&format!("/v1/api/queues/{queue}/entries")))
            .json(&serde_json::json!({ "userId": "during" }))
            .send(),
    )
    .await
    .expect("a join must not hang while Redis is down")
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let (_, body) = read(resp).await;
    assert_eq!(body["error"]["code"], "unavailable");

    // Polls still answer, from the last known state, and say so.
    let resp = srv
        .client
        .get(srv.url(&format!("/v1/api/queues/{queue}/entries/{before}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("x-ticketon-stale-ms"));
    let (_, body) = read(resp).await;
    assert_eq!(body["status"], "waiting");
    assert_eq!(body["position"], 1);

    let health = srv.client.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Long enough for the client's reconnect attempts to run out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Redis is known down: the join is refused without a call to it, so
    // without waiting out the deadline.
    let (code, body) = srv.join(queue, "during").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Redis is unreachable; retry shortly")),
        "refused as known down: {body}"
    );
    redis.restart().expect("restart redis-server");
    let back = std::time::Instant::now();

    eventually(
        "the server notices Redis is back",
        Duration::from_secs(15),
        || async {
            let resp = srv.client.get(srv.url("/readyz")).send().await.unwrap();
            resp.status() == StatusCode::OK
        },
    )
    .await;
    let joined = std::sync::Mutex::new(None);
    eventually("joins work again", Duration::from_secs(15), || async {
        let (code, body) = srv.join(queue, "during").await;
        let created = code == StatusCode::CREATED;
        if created {
            *joined.lock().unwrap() = Some(body);
        }
        created
    })
    .await;
    let body = joined.lock().unwrap().take().unwrap();
    eprintln!("service resumed {:?} after Redis came back", back.elapsed());
    assert_eq!(
        seq_of(body["entryId"].as_str().unwrap()),
        3,
        "the line was kept"
    );
    let (code, body) = srv.join(queue, "before").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["entryId"], before.as_str());
    let resp = srv
        .client
        .get(srv.url(&format!("/v1/api/queues/{queue}/entries/{before}")))
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("x-ticketon-stale-ms"));
    srv.shutdown().await;
}
