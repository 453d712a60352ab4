//! Every socket the Redis store opens runs with `TCP_NODELAY`.
//!
//! Why a test of a socket option: the redis crate leaves Nagle's algorithm
//! on, and with it a command written while an earlier one is unacknowledged
//! (a second join batch in flight, a refresh behind a batch) waits for
//! Redis's reply. Nothing functional would fail without the option, only
//! latency would grow, so only looking at the sockets catches a regression.
//!
//! It inspects this process's own file descriptors, so it lives in a test
//! binary of its own: no other test opens Redis connections meanwhile.

#![cfg(target_os = "linux")]

mod redis_support;

use std::collections::HashSet;
use std::os::fd::RawFd;

use queue_server::model::{QueueId, QueueSettings, QueueStatus, UserId};
use queue_server::store::redis::{JoinMode, RedisStore};
use queue_server::store::QueueStore;
use redis_support::{options, shared_redis_with_prefix};

/// This process's TCP sockets connected to `port`: their local port (which,
/// unlike a descriptor number, is not reused while the socket lingers) and
/// their `TCP_NODELAY` setting.
fn sockets_to(port: u16) -> Vec<(u16, bool)> {
    let mut found = Vec::new();
    let own_pidfd = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd_open of this process (Linux 5.3 or later)");
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        // A duplicate of the descriptor, taken through a pidfd of this very
        // process: safe code, and closing it leaves the store's socket open.
        let Ok(duplicate) =
            rustix::process::pidfd_getfd(&own_pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
        else {
            continue;
        };
        let socket = socket2::SockRef::from(&duplicate);
        let Some(peer) = socket.peer_addr().ok().and_then(|a| a.as_socket()) else {
            continue;
        };
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if let (true, Some(local), Ok(nodelay)) = (peer.port() == port, local, socket.tcp_nodelay())
        {
            found.push((local.port(), nodelay));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redis_socket_of_the_store_has_nodelay() {
    let Some((target, prefix, _cleanup)) = shared_redis_with_prefix("nodelay").await else {
        return;
    };
    let info = redis::IntoConnectionInfo::into_connection_info(target.urls[0].as_str()).unwrap();
    let redis::ConnectionAddr::Tcp(_, port) = *info.addr() else {
        panic!("the shared Redis is expected over TCP: {}", target.urls[0]);
    };
    let before: HashSet<u16> = sockets_to(port)
        .into_iter()
        .map(|(local, _)| local)
        .collect();

    // The pooled join mode opens dedicated connections besides the shared
    // one; a join makes it open its first.
    let mut opts = options(&target, &prefix);
    opts.join_mode = JoinMode::Pooled;
    let store = RedisStore::connect(opts).await.unwrap();
    let id = QueueId::parse("nd").unwrap();
    store
        .put_queue(
            id,
            QueueSettings::new(1, 10, 60).unwrap(),
            QueueStatus::Open,
        )
        .await
        .unwrap();
    store
        .join("nd", UserId::parse("u1").unwrap())
        .await
        .unwrap();

    let opened: Vec<(u16, bool)> = sockets_to(port)
        .into_iter()
        .filter(|(local, _)| !before.contains(local))
        .collect();
    assert!(
        opened.len() >= 2,
        "expected the shared and a pooled connection, found {opened:?}"
    );
    assert!(
        opened.iter().all(|&(_, nodelay)| nodelay),
        "a Redis socket without TCP_NODELAY: {opened:?}"
    );
    store.close().await;
}
