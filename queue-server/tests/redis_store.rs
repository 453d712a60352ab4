//! The Redis store against the shared Redis (`TICKETON_TEST_REDIS_URL`,
//! default redis://127.0.0.1:6379), each test under its own key prefix.
//! The same suite runs against a Redis Cluster in `redis_cluster.rs`.

mod redis_support;

use redis_support::*;

async fn run<F, Fut>(name: &str, suite: F)
where
    F: FnOnce(queue_server::store::redis::RedisTarget, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(target) = shared_redis().await else {
        return;
    };
    let prefix = unique_prefix(name);
    let _cleanup = PrefixGuard {
        url: target.urls[0].clone(),
        prefix: prefix.clone(),
    };
    suite(target.clone(), prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_redis_form_one_line() {
    run("line", |t, p| async move {
        two_servers_form_one_line(&t, &p).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_lease_is_taken_over() {
    run("lease", |t, p| async move { lease_takeover(&t, &p).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_server_continues_the_line() {
    run("restart", |t, p| async move {
        restart_continues_the_line(&t, &p).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_is_seen_by_every_server() {
    run(
        "leave",
        |t, p| async move { leave_across_servers(&t, &p).await },
    )
    .await;
}

/// The user index stores a fingerprint of each userId; a collision (forged
/// here, since a real one needs ~2^38 users) must not merge two users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fingerprint_collision_never_merges_two_users() {
    use queue_server::model::{QueueId, QueueSettings, QueueStatus, UserId};
    use queue_server::store::redis::{user_slot, KeyLayout, RedisStore, USER_BUCKETS};
    use queue_server::store::QueueStore;

    let Some(target) = shared_redis().await else {
        return;
    };
    let prefix = unique_prefix("collision");
    let _cleanup = PrefixGuard {
        url: target.urls[0].clone(),
        prefix: prefix.clone(),
    };
    let store = RedisStore::connect(options(&target, &prefix))
        .await
        .unwrap();
    let id = QueueId::parse("fp").unwrap();
    store
        .put_queue(
            id.clone(),
            QueueSettings::new(1, 10, 60).unwrap(),
            QueueStatus::Paused,
        )
        .await
        .unwrap();
    let bob = store
        .join("fp", UserId::parse("bob").unwrap())
        .await
        .unwrap();
    assert_eq!(bob.seq, 1);

    // Point alice's fingerprint slot at bob's entry, as a collision would.
    let keys = KeyLayout::new(&prefix).unwrap().queue(&id);
    let client = redis::Client::open(target.urls[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (field, bucket) = user_slot("alice");
    let _: i64 = redis::cmd("HSET")
        .arg(format!("{}:{}", keys.users, bucket % USER_BUCKETS))
        .arg(&field[..])
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();

    let alice = store
        .join("fp", UserId::parse("alice").unwrap())
        .await
        .unwrap();
    assert!(alice.created, "alice is not bob");
    assert_eq!(alice.seq, 2);
    let again = store
        .join("fp", UserId::parse("alice").unwrap())
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.seq, 2, "found again through the overflow index");
    let bob_again = store
        .join("fp", UserId::parse("bob").unwrap())
        .await
        .unwrap();
    assert_eq!((bob_again.created, bob_again.seq), (false, 1));
}

/// A server started in the middle of a long sale answers polls for the
/// whole line as soon as it is up (its mirror loads completely first, in
/// several refresh steps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_late_knows_the_whole_line() {
    use queue_server::model::{QueueId, QueueSettings, QueueStatus, UserId};
    use queue_server::store::redis::{KeyLayout, RedisStore};
    use queue_server::store::QueueStore;

    let Some(target) = shared_redis().await else {
        return;
    };
    let prefix = unique_prefix("late");
    let _cleanup = PrefixGuard {
        url: target.urls[0].clone(),
        prefix: prefix.clone(),
    };
    let first = RedisStore::connect(options(&target, &prefix))
        .await
        .unwrap();
    let id = QueueId::parse("long").unwrap();
    first
        .put_queue(
            id.clone(),
            QueueSettings::new(1, 10, 60).unwrap(),
            QueueStatus::Paused,
        )
        .await
        .unwrap();
    first
        .join("long", UserId::parse("u-0").unwrap())
        .await
        .unwrap();
    // Lengthen the line past one refresh step (50,000 userIds) directly.
    let n = 120_000u64;
    let keys = KeyLayout::new(&prefix).unwrap().queue(&id);
    let client = redis::Client::open(target.urls[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let users: Vec<String> = (1..n).map(|i| format!("u-{i}")).collect();
    for chunk in users.chunks(20_000) {
        let _: u64 = redis::cmd("RPUSH")
            .arg(&keys.line)
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    let late = RedisStore::connect(options(&target, &prefix))
        .await
        .unwrap();
    let view = late
        .entry_view("long", n)
        .expect("the last entry is known at once");
    assert_eq!(view.user.as_str(), format!("u-{}", n - 1));
    assert_eq!(view.position, n);
    assert_eq!(late.queue_info("long").unwrap().counters.waiting, n);
}
