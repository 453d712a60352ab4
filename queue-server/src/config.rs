//! Configuration from flags and environment variables: [`QueueArgs`] are
//! the queue-server's own settings, [`ticketon_runtime::Common`] the ones it
//! shares with the reservation-api, and [`Config`] the binary's command line
//! (both flattened). Every setting is listed in proto-notes/queue-server.md.

use crate::http::client_ip::TrustedProxies;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ticketon_runtime::Common;

use crate::store::redis::{JoinMode, RedisOptions, RedisTarget};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8082";

/// The `queue-server` command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "queue-server", version, about = "Ticketon's waiting room")]
pub struct Config {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub queue: QueueArgs,
}

/// The queue-server's own settings (the shared ones are in
/// [`ticketon_runtime::Common`]).
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Address to listen on (`--queue-listen` in the one-process runner).
    #[arg(long = "listen", env = "TICKETON_QUEUE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub queue_listen: SocketAddr,

    /// Also publish every join on `ticketon.entries` (analytics).
    #[arg(long, env = "TICKETON_PUBLISH_ENTRIES", default_value_t = false)]
    pub publish_entries: bool,

    /// Runtime worker threads (default: one per core).
    #[arg(long, env = "TICKETON_QUEUE_WORKERS")]
    pub workers: Option<usize>,

    /// The Redis URL(s) (`TICKETON_REDIS_URL`) are nodes of a Redis Cluster.
    #[arg(long, env = "TICKETON_REDIS_CLUSTER", default_value_t = false)]
    pub redis_cluster: bool,

    /// Bound on each Redis call, in ms: past it a join answers 503.
    #[arg(long, env = "TICKETON_REDIS_TIMEOUT_MS", default_value_t = 500)]
    pub redis_timeout_ms: u64,

    /// How joins reach Redis: `batched` (group commit: concurrent joins
    /// share one round trip), or, only to measure what batching buys,
    /// `pipelined` (one call per join on the shared, pipelining connection)
    /// or `pooled` (one call per join on a pooled connection of its own).
    #[arg(long, env = "TICKETON_REDIS_JOIN_MODE", value_enum, default_value_t = JoinMode::Batched)]
    pub redis_join_mode: JoinMode,

    /// Join batches per queue in flight at once (pipelined). 1 (each batch
    /// waits for the previous round trip) measured as fast as 2 or 4 on the
    /// 2-core bench machine, with bigger batches and less Redis CPU.
    #[arg(long, env = "TICKETON_REDIS_JOINS_IN_FLIGHT", default_value_t = 1)]
    pub redis_joins_in_flight: usize,

    /// Open connections at most (push streams included); past it new
    /// connections get a 503 at once. Keep it under the file limit
    /// (`LimitNOFILE`) with room for the Redis and Kafka sockets.
    #[arg(long, env = "TICKETON_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// Push streams (SSE, WebSocket) one client address may hold open; 0
    /// for no cap. Behind a proxy every stream comes from the proxy's
    /// address: cap per client there (deploy/nginx uses `limit_conn`).
    #[arg(long, env = "TICKETON_MAX_STREAMS_PER_IP", default_value_t = 256)]
    pub max_streams_per_ip: u32,

    /// Proxies in front of this server whose `X-Forwarded-For` names the
    /// client for the per-address limits: addresses and networks, comma
    /// separated (`127.0.0.1,::1` behind the deploy's nginx). Empty: every
    /// client is its socket's peer and the header is ignored.
    #[arg(long, env = "TICKETON_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,

    /// Time a client has to send a request head, in ms (also how long an
    /// idle keep-alive connection is kept).
    #[arg(
        long,
        env = "TICKETON_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,

    /// Shortest heartbeat period of an idle push stream, in ms (heartbeats
    /// spread up to 5/3 of it). Keep it under every proxy's idle timeout.
    #[arg(long, env = "TICKETON_STREAM_HEARTBEAT_MS", default_value_t = 15_000)]
    pub stream_heartbeat_ms: u64,

    /// The reservation-api's origin as browsers reach it
    /// (`https://host[:port]`), for the operator's console at `/admin`.
    /// Unset: the same origin as this server (the deploy's nginx serves
    /// both under one host).
    #[arg(long, env = "TICKETON_RESERVATION_PUBLIC_URL", value_parser = ticketon_runtime::page::parse_origin)]
    pub reservation_public_url: Option<String>,
}

impl QueueArgs {
    /// The runtime the server runs on: `--workers` threads, or one per core.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        if let Some(workers) = self.workers {
            runtime.worker_threads(workers.max(1));
        }
        runtime.enable_all().build()
    }

    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            connections: crate::http::ConnectionLimits {
                max_connections: self.max_connections.max(1),
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms.max(1)),
            },
            max_streams_per_ip: self.max_streams_per_ip,
            trusted_proxies: self.trusted_proxies.clone(),
            stream_heartbeat: Duration::from_millis(self.stream_heartbeat_ms.max(100)),
        }
    }

    /// The Redis store's options, when `TICKETON_REDIS_URL` is set.
    pub fn redis_options(&self, common: &Common) -> Option<RedisOptions> {
        let urls: Vec<String> = common
            .redis_url()?
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        if urls.is_empty() {
            return None;
        }
        Some(RedisOptions {
            target: RedisTarget {
                urls,
                cluster: self.redis_cluster,
                timeout: Duration::from_millis(self.redis_timeout_ms.max(1)),
            },
            key_prefix: common.redis_prefix.clone(),
            join_mode: self.redis_join_mode,
            joins_in_flight: self.redis_joins_in_flight.clamp(1, 16),
        })
    }

    /// What [`crate::start_with_events`] needs, with the resolved secrets.
    pub fn server_settings(&self, secrets: &ticketon_runtime::Secrets) -> crate::ServerSettings {
        crate::ServerSettings {
            listen: self.queue_listen,
            admin_key: secrets.admin_key.clone(),
            token_secret: secrets.token_secret.clone(),
            limits: self.limits(),
            reservation_public_url: self.reservation_public_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_defaults_and_the_redis_store() {
        let c = Config::try_parse_from(["queue-server", "--listen", "127.0.0.1:9"]).unwrap();
        assert_eq!(c.queue.queue_listen, "127.0.0.1:9".parse().unwrap());
        assert!(c.queue.redis_options(&c.common).is_none());
        let c = Config::try_parse_from([
            "queue-server",
            "--redis-url",
            "redis://a:1, redis://b:2",
            "--redis-cluster",
        ])
        .unwrap();
        let options = c.queue.redis_options(&c.common).unwrap();
        assert_eq!(options.target.urls, ["redis://a:1", "redis://b:2"]);
        assert!(options.target.cluster);
        assert_eq!(options.key_prefix, "ticketon");
    }
}
