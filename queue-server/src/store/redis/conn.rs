//! One Redis connection type for a single server and for a Cluster, with a
//! deadline on every call.
//!
//! Both clients multiplex concurrent calls over one socket per node (so the
//! group commit and the background refresh never queue behind each other on
//! a pool), reconnect by themselves, and give up on a call after the
//! response timeout. The extra `deadline` wrapper bounds the whole call,
//! reconnect attempts included, so no request can hang on Redis.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, Value};

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    /// `redis://host:port[/db]`; for a Cluster, any of its nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
    /// Bound on one call (connecting included).
    pub timeout: Duration,
}

#[derive(Clone)]
pub(super) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    pub(super) async fn connect(target: &RedisTarget) -> redis::RedisResult<Self> {
        let timeout = target.timeout;
        if target.cluster {
            let client = ClusterClient::builder(target.urls.clone())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1)
                .min_retry_wait(20)
                .max_retry_wait(200)
                .tcp_settings(tcp_settings())
                .build()?;
            Ok(RedisConn::Cluster(client.get_async_connection().await?))
        } else {
            let client = redis::Client::open(connection_info(target)?)?;
            // Short, capped reconnect backoff: service should resume within
            // a second or two of Redis coming back.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(200));
            Ok(RedisConn::Single(
                ConnectionManager::new_with_config(client, config).await?,
            ))
        }
    }
}

/// Every Redis socket runs with `TCP_NODELAY`. With Nagle's algorithm on
/// (the redis crate's default), a command written while the previous one
/// is still unacknowledged waits for that ACK, that is for Redis's reply: a
/// second batch in flight (`--redis-joins-in-flight 2`) or a refresh behind
/// a batch can silently wait a whole round trip. Redis sets the same
/// option on its side.
fn tcp_settings() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

/// A single server's address with [`tcp_settings`].
fn connection_info(target: &RedisTarget) -> redis::RedisResult<ConnectionInfo> {
    let url = target.urls.first().map(String::as_str).unwrap_or_default();
    Ok(url.into_connection_info()?.set_tcp_settings(tcp_settings()))
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// Dedicated connections, one command at a time each: the way a
/// per-request implementation with a connection pool (bb8, deadpool) talks
/// to Redis. Only the `pooled` join mode uses it, as the baseline that shows
/// what batching buys: unlike the shared multiplexed connection, which
/// writes concurrent commands to one socket together (a batching of its
/// own), every command here is a round trip of its own.
pub(super) struct ConnPool {
    client: redis::Client,
    config: redis::AsyncConnectionConfig,
    idle: parking_lot::Mutex<Vec<redis::aio::MultiplexedConnection>>,
    slots: tokio::sync::Semaphore,
}

impl ConnPool {
    pub(super) fn new(target: &RedisTarget, size: usize) -> redis::RedisResult<Self> {
        if target.cluster {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the pooled join mode needs a single Redis, not a Cluster",
            )));
        }
        Ok(ConnPool {
            client: redis::Client::open(connection_info(target)?)?,
            config: redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(target.timeout))
                .set_response_timeout(Some(target.timeout)),
            idle: parking_lot::Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(size.max(1)),
        })
    }

    /// Runs `cmd` on a connection nobody else is using (opened on demand;
    /// one that failed is dropped rather than returned).
    pub(super) async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> redis::RedisResult<T> {
        let _slot = self.slots.acquire().await.map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::Io, "the connection pool is closed"))
        })?;
        let idle = self.idle.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                self.client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?
            }
        };
        let result = cmd.query_async(&mut conn).await;
        if result.is_ok() {
            self.idle.lock().push(conn);
        }
        result
    }
}
