//! Configuration from flags and environment variables.
//!
//! Secrets are optional so that the first run needs no setup: when unset,
//! random ones are generated and one warning says so (showing the admin key
//! once, since the operator needs it). They never appear in logs otherwise,
//! and `Config` deliberately has no `Debug`.

use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Parser;

use crate::store::redis::JoinMode;

#[derive(Parser, Clone)]
#[command(name = "queue-server", version, about = "Ticketon's waiting room")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TICKETON_QUEUE_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,

    /// Bearer key for the admin endpoints (generated when unset).
    #[arg(long, env = "TICKETON_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// HS256 secret for admission tokens and entry ids, shared with the
    /// reservation-api and every queue-server of a fleet (generated when unset).
    #[arg(long, env = "TICKETON_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,

    /// Kafka bootstrap servers (`host:port,...`). When set, admission events
    /// are published to `ticketon.admissions` and finished sessions are read
    /// from `ticketon.sessions`; when unset the queue-server exchanges no events.
    #[arg(long, env = "TICKETON_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// Also publish every join on `ticketon.entries` (analytics).
    #[arg(long, env = "TICKETON_PUBLISH_ENTRIES", default_value_t = false)]
    pub publish_entries: bool,

    /// Runtime worker threads (default: one per core).
    #[arg(long, env = "TICKETON_QUEUE_WORKERS")]
    pub workers: Option<usize>,

    /// Keep the line in Redis (e.g. `redis://127.0.0.1:6379`) instead of in
    /// this process's memory; several queue-servers on one Redis serve one
    /// line. For a Cluster, a comma-separated list of nodes.
    #[arg(long, env = "TICKETON_REDIS_URL")]
    pub redis_url: Option<String>,

    /// The Redis URL(s) are nodes of a Redis Cluster.
    #[arg(long, env = "TICKETON_REDIS_CLUSTER", default_value_t = false)]
    pub redis_cluster: bool,

    /// Prefix of every Redis key.
    #[arg(long, env = "TICKETON_REDIS_PREFIX", default_value = "ticketon")]
    pub redis_prefix: String,

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

    /// Log format: `text` or `json`.
    #[arg(long, env = "TICKETON_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Config {
    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            connections: crate::http::ConnectionLimits {
                max_connections: self.max_connections.max(1),
                header_read_timeout: std::time::Duration::from_millis(
                    self.header_read_timeout_ms.max(1),
                ),
            },
            max_streams_per_ip: self.max_streams_per_ip,
            stream_heartbeat: std::time::Duration::from_millis(self.stream_heartbeat_ms.max(100)),
        }
    }

    /// The Redis store's options, when `--redis-url` is set.
    pub fn redis_options(&self) -> Option<crate::store::redis::RedisOptions> {
        let urls: Vec<String> = self
            .redis_url
            .as_deref()?
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        if urls.is_empty() {
            return None;
        }
        Some(crate::store::redis::RedisOptions {
            target: crate::store::redis::RedisTarget {
                urls,
                cluster: self.redis_cluster,
                timeout: std::time::Duration::from_millis(self.redis_timeout_ms.max(1)),
            },
            key_prefix: self.redis_prefix.clone(),
            join_mode: self.redis_join_mode,
            joins_in_flight: self.redis_joins_in_flight.clamp(1, 16),
        })
    }
}

/// Secrets resolved from the configuration.
#[derive(Clone)]
pub struct Secrets {
    pub admin_key: String,
    pub token_secret: String,
}

impl Secrets {
    /// Uses the configured secrets, generating the missing ones; logs one
    /// warning when anything was generated.
    pub fn resolve(admin_key: Option<String>, token_secret: Option<String>, service: &str) -> Self {
        let admin_key = admin_key.filter(|k| !k.is_empty());
        let token_secret = token_secret.filter(|k| !k.is_empty());
        let generated_admin = admin_key.is_none();
        let generated_token = token_secret.is_none();
        let secrets = Secrets {
            admin_key: admin_key.unwrap_or_else(generate_secret),
            token_secret: token_secret.unwrap_or_else(generate_secret),
        };
        match (generated_admin, generated_token) {
            (false, false) => {}
            (true, generated_token) => tracing::warn!(
                "{service}: TICKETON_ADMIN_KEY is unset, generated admin key for this run: {}{}",
                secrets.admin_key,
                if generated_token {
                    "; TICKETON_TOKEN_SECRET is unset too, so a random token secret was generated \
                     (admission tokens will not verify elsewhere or after a restart)"
                } else {
                    ""
                }
            ),
            (false, true) => tracing::warn!(
                "{service}: TICKETON_TOKEN_SECRET is unset, a random token secret was generated \
                 (admission tokens will not verify elsewhere or after a restart)"
            ),
        }
        secrets
    }
}

/// 256 random bits, URL-safe.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}
