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
    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix(name).await else {
        return;
    };
    suite(target.clone(), prefix).await;
}

/// A store on the shared Redis under a fresh key prefix (its keys deleted
/// when this drops), holding one queue (1 admission/s, maxActive 10).
struct StoreWithQueue {
    store: std::sync::Arc<queue_server::store::redis::RedisStore>,
    target: queue_server::store::redis::RedisTarget,
    keys: queue_server::store::redis::QueueKeys,
    _cleanup: PrefixGuard,
}

/// `None` when the test must skip (no Redis outside CI).
async fn store_with_queue(
    name: &str,
    queue: &str,
    status: queue_server::model::QueueStatus,
    join_mode: queue_server::store::redis::JoinMode,
) -> Option<StoreWithQueue> {
    use queue_server::model::{QueueId, QueueSettings};
    use queue_server::store::redis::{KeyLayout, RedisStore};
    use queue_server::store::QueueStore;

    let (target, prefix, cleanup) = shared_redis_with_prefix(name).await?;
    let mut opts = options(&target, &prefix);
    opts.join_mode = join_mode;
    let store = RedisStore::connect(opts).await.unwrap();
    let id = QueueId::parse(queue).unwrap();
    store
        .put_queue(id.clone(), QueueSettings::new(1, 10, 60).unwrap(), status)
        .await
        .unwrap();
    Some(StoreWithQueue {
        store: std::sync::Arc::new(store),
        target,
        keys: KeyLayout::new(&prefix).unwrap().queue(&id),
        _cleanup: cleanup,
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_of_work_is_good_for_one_join_across_servers() {
    run("pow", |t, p| async move {
        proof_of_work_across_servers(&t, &p).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prequeue_is_drawn_once_for_the_fleet() {
    run("prequeue", |t, p| async move {
        prequeue_across_servers(&t, &p).await
    })
    .await;
}

/// The lease holder is killed between sealing the pre-queue and committing
/// its draw: the queue stays sealed (nobody admitted, no order), and the
/// next holder draws the same order from the same seed and opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_during_the_draw_leaves_it_to_the_next_one() {
    use queue_server::model::QueueId;
    use queue_server::store::redis::KeyLayout;
    use queue_server::store::QueueStore;
    use reqwest::StatusCode;
    use std::time::Duration;

    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("draw-kill").await else {
        return;
    };
    let queue = "sealed";
    let (doomed, info) = store_with_sealed_prequeue(&target, &prefix, queue, 40).await;
    // Killed here: no commit, no lease release.
    drop(doomed);
    let keys = KeyLayout::new(&prefix)
        .unwrap()
        .queue(&QueueId::parse(queue).unwrap());
    let mut conn = redis::Client::open(target.urls[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (sched, status): (Option<String>, String) = redis::cmd("HMGET")
        .arg(&keys.meta)
        .arg("sched")
        .arg("status")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (sched.as_deref(), status.as_str()),
        (Some("sealed"), "prequeue")
    );

    let next = server(options(&target, &prefix)).await;
    let (code, body) = next.join(queue, "after-the-opening").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(
        seq_of(body["entryId"].as_str().unwrap()),
        41,
        "behind the block"
    );
    eventually(
        "the next holder draws after the lease runs out",
        Duration::from_secs(10),
        || async { next.queue(queue).await["drawn"] == 40 },
    )
    .await;
    assert_eq!(
        next.store().drawn_order(queue),
        Some(expected_draw(queue, info.epoch, 40))
    );
    let record = next.draw(queue).await;
    assert_eq!(record["participants"], 40);
    assert_draw_checks_out(&record);
    next.shutdown().await;
}

/// After a draw, the frontier counts places: a fan whose seq the frontier
/// has passed but whose place it has not is still waiting, and leaves as
/// such (and the one whose place it passed is over, whatever its seq).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawn_fan_leaves_by_its_place_not_its_seq() {
    use queue_server::model::{EntryState, LeaveOutcome};
    use queue_server::store::QueueStore;
    use std::time::Duration;

    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("draw-leave").await else {
        return;
    };
    let queue = "drawn";
    let (store, info) = store_with_sealed_prequeue(&target, &prefix, queue, 40).await;
    let order = expected_draw(queue, info.epoch, 40);
    assert!(store
        .commit_draw(queue, info.epoch, order.clone())
        .await
        .unwrap());
    // Admit the first ten places (1,000 a second: 10 ms of pacing).
    let mut admitted = 0;
    while admitted < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let ticks = store.tick(now_ms()).await.unwrap();
        admitted += ticks.iter().map(|t| t.admitted.len()).sum::<usize>();
    }
    let frontier = store.queue_info(queue).unwrap().counters.frontier;
    let passed_seq_waiting_place = (1..=frontier)
        .find(|&seq| order.place_of(seq) > frontier)
        .expect("a seq the frontier passed whose place it did not");
    assert_eq!(
        store
            .entry_view(queue, passed_seq_waiting_place)
            .unwrap()
            .state,
        EntryState::Waiting
    );
    assert_eq!(
        store.leave(queue, passed_seq_waiting_place).await.unwrap(),
        Some(LeaveOutcome::LeftWaiting)
    );
    let admitted_seq = order.seq_at(1);
    assert_eq!(
        store.leave(queue, admitted_seq).await.unwrap(),
        Some(LeaveOutcome::LeftActive)
    );
    // The one who left is skipped: everyone else goes in.
    let mut total = admitted;
    for _ in 0..1000 {
        if total >= 39 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        for tick in store.tick(now_ms()).await.unwrap() {
            assert!(tick
                .admitted
                .iter()
                .all(|a| a.seq != passed_seq_waiting_place));
            total += tick.admitted.len();
        }
    }
    assert_eq!(total, 39);
    assert_eq!(
        store
            .entry_view(queue, passed_seq_waiting_place)
            .unwrap()
            .state,
        EntryState::Left
    );
}

/// The user index stores a fingerprint of each userId; a collision (forged
/// here, since a real one needs ~2^38 users) must not merge two users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fingerprint_collision_never_merges_two_users() {
    use queue_server::model::{QueueStatus, UserId};
    use queue_server::store::redis::{user_fingerprint, JoinMode};
    use queue_server::store::QueueStore;

    let Some(f) = store_with_queue("collision", "fp", QueueStatus::Paused, JoinMode::Batched).await
    else {
        return;
    };
    let (store, keys) = (&f.store, &f.keys);
    let bob = store
        .join("fp", UserId::parse("bob").unwrap())
        .await
        .unwrap();
    assert_eq!(bob.seq, 1);

    // Point alice's fingerprint slot at bob's entry, as a collision would.
    let client = redis::Client::open(f.target.urls[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(&keys.users)
        .arg(&user_fingerprint("alice")[..])
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

/// `join.lua` against forged fingerprints (no search finds a real
/// collision): a user whose fingerprint another user holds gets an entry of
/// its own, indexed by full userId, and is found again; the holder is found
/// again by its fingerprint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_lua_sends_a_colliding_user_to_the_overflow_index() {
    use queue_server::model::{QueueStatus, UserId};
    use queue_server::store::redis::JoinMode;
    use queue_server::store::QueueStore;

    let Some(f) = store_with_queue(
        "collision-lua",
        "fpl",
        QueueStatus::Paused,
        JoinMode::Batched,
    )
    .await
    else {
        return;
    };
    let (store, keys) = (&f.store, &f.keys);
    let client = redis::Client::open(f.target.urls[0].as_str()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let join = redis::Script::new(include_str!("../src/store/redis/lua/join.lua"));
    let call =
        |pairs: &'static [([u8; 8], &'static str)]| call_join_lua(conn.clone(), &join, keys, pairs);
    const X: [u8; 8] = [7; 8];
    const Y: [u8; 8] = [8; 8];
    assert_eq!(
        call(&[(X, "carol"), (Y, "dave")]).await,
        [0],
        "two new entries after 0"
    );
    assert_eq!(
        call(&[(X, "erin"), (Y, "dave")]).await,
        [2, 2, -2],
        "erin is new (seq 3) though carol holds x; dave is dave"
    );
    assert_eq!(
        call(&[(X, "erin")]).await,
        [3, 1, -3],
        "erin found in the overflow"
    );
    assert_eq!(call(&[(X, "carol")]).await, [3, 1, -1], "carol found by X");
    // The store finds erin too (its own fingerprint for erin is a real one,
    // absent from the index, so the overflow answers).
    let erin = store
        .join("fpl", UserId::parse("erin").unwrap())
        .await
        .unwrap();
    assert_eq!((erin.created, erin.seq), (false, 3));
}

/// Calls `join.lua` directly. ARGV: n, the fingerprints, the userIds; the
/// answer (returned without the epoch) is the line length before, then
/// (index, code) for each user that got no new entry.
async fn call_join_lua(
    mut conn: redis::aio::MultiplexedConnection,
    join: &redis::Script,
    keys: &queue_server::store::redis::QueueKeys,
    pairs: &[([u8; 8], &str)],
) -> Vec<i64> {
    let mut invocation = join.key(&keys.meta);
    invocation
        .key(&keys.line)
        .key(&keys.users)
        .key(&keys.users_overflow)
        .arg(pairs.len());
    for (fingerprint, _) in pairs {
        invocation.arg(&fingerprint[..]);
    }
    for (_, user) in pairs {
        invocation.arg(*user);
    }
    let reply: Vec<redis::Value> = invocation.invoke_async(&mut conn).await.unwrap();
    reply[1..]
        .iter()
        .map(|v| redis::from_redis_value(v.clone()).unwrap())
        .collect()
}

/// The same user many times in one batch: one entry, created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_joining_many_times_at_once_gets_one_entry() {
    use queue_server::model::{QueueStatus, UserId};
    use queue_server::store::redis::JoinMode;
    use queue_server::store::QueueStore;

    let Some(f) =
        store_with_queue("same-user", "same", QueueStatus::Paused, JoinMode::Batched).await
    else {
        return;
    };
    let joins: Vec<_> = (0..60)
        .map(|i| {
            let store = f.store.clone();
            // Every third join is the same fan; the others are all new.
            let user = if i % 3 == 0 {
                "fan".to_string()
            } else {
                format!("other-{i}")
            };
            tokio::spawn(async move { store.join("same", UserId::parse(&user).unwrap()).await })
        })
        .collect();
    let mut fan = Vec::new();
    let mut seqs = std::collections::HashSet::new();
    for (i, join) in joins.into_iter().enumerate() {
        let joined = join.await.unwrap().unwrap();
        if i % 3 == 0 {
            fan.push((joined.created, joined.seq));
        } else {
            assert!(joined.created);
            assert!(seqs.insert(joined.seq), "seq {} given twice", joined.seq);
        }
    }
    let fan_seq = fan[0].1;
    assert!(fan.iter().all(|&(_, seq)| seq == fan_seq), "{fan:?}");
    assert_eq!(fan.iter().filter(|&&(created, _)| created).count(), 1);
    assert!(!seqs.contains(&fan_seq));
    assert_eq!(seqs.len() + 1, 41, "41 entries in all");
}

/// A server started in the middle of a long sale answers polls for the
/// whole line as soon as it is up (its mirror loads completely first, in
/// several refresh steps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_late_knows_the_whole_line() {
    use queue_server::model::{QueueId, QueueSettings, QueueStatus, UserId};
    use queue_server::store::redis::{KeyLayout, RedisStore};
    use queue_server::store::QueueStore;

    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("late").await else {
        return;
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

/// The two per-join modes kept to measure what batching buys give the same
/// answers as the batched one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_join_modes_form_one_line_too() {
    use queue_server::model::{QueueStatus, UserId};
    use queue_server::store::redis::JoinMode;
    use queue_server::store::QueueStore;

    for mode in [JoinMode::Pipelined, JoinMode::Pooled] {
        let name = format!("mode-{mode:?}");
        let Some(f) = store_with_queue(&name, "m", QueueStatus::Paused, mode).await else {
            return;
        };
        let store = &f.store;
        let joins: Vec<_> = (0..100)
            .map(|i| {
                let store = store.clone();
                let user = UserId::parse(&format!("u{i}")).unwrap();
                tokio::spawn(async move { store.join("m", user).await })
            })
            .collect();
        let mut seqs = Vec::new();
        for join in joins {
            let joined = join.await.unwrap().unwrap();
            assert!(joined.created, "{mode:?}");
            seqs.push(joined.seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "{mode:?}");
        let again = store.join("m", UserId::parse("u7").unwrap()).await.unwrap();
        assert!(!again.created, "{mode:?}");
    }
}

/// A server shutting down cleanly hands its admission leases over early:
/// the lease is left with just over a second to live (the rate's window),
/// not a full term, and still names the old holder until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_shortens_the_lease() {
    use queue_server::model::QueueId;
    use queue_server::store::redis::{KeyLayout, RELEASE_GRACE};
    use std::time::Duration;

    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("release").await else {
        return;
    };
    let server = server(options(&target, &prefix)).await;
    server.put_queue("handover", 10, 100, "open").await;
    eventually(
        "the server takes the lease",
        Duration::from_secs(10),
        || async { server.store().holds_lease("handover") },
    )
    .await;
    let owner = server.store().owner_id().to_string();
    server.shutdown().await;

    let lease = KeyLayout::new(&prefix)
        .unwrap()
        .queue(&QueueId::parse("handover").unwrap())
        .lease;
    let client = redis::Client::open(target.urls[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (holder, ttl_ms): (Option<String>, i64) = redis::pipe()
        .get(&lease)
        .pttl(&lease)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(holder.as_deref(), Some(owner.as_str()));
    assert!(
        ttl_ms > 0 && ttl_ms <= RELEASE_GRACE.as_millis() as i64,
        "lease TTL {ttl_ms} ms after the hand-over"
    );
}

/// A queue created by the first layout (user index in `:u:<n>` buckets,
/// `buckets` in meta) is refused rather than joined without its index
/// (which would give returning fans a second entry), and deleting it removes
/// its buckets too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_the_old_layout_is_refused_and_can_be_deleted() {
    use queue_server::model::{QueueStatus, UserId};
    use queue_server::store::redis::JoinMode;
    use queue_server::store::{QueueStore, StoreError};

    let Some(f) = store_with_queue("old-layout", "old", QueueStatus::Open, JoinMode::Batched).await
    else {
        return;
    };
    let (store, keys) = (&f.store, &f.keys);
    let old_base = keys.users.trim_end_matches(":users").to_string() + ":u";
    let client = redis::Client::open(f.target.urls[0].as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::pipe()
        .hset(&keys.meta, "buckets", 2)
        .ignore()
        .hset(format!("{old_base}:0"), "f", 1)
        .ignore()
        .hset(format!("{old_base}:1"), "g", 2)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();

    let refused = store.join("old", UserId::parse("ann").unwrap()).await;
    match refused {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("LAYOUT"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    store.delete_queue("old").await.unwrap();
    let left: i64 = redis::cmd("EXISTS")
        .arg(format!("{old_base}:0"))
        .arg(format!("{old_base}:1"))
        .arg(&keys.meta)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "buckets and meta deleted");
}
