//! The join path: batches of joins, one `join.lua` call each.
//!
//! [`flush_joins`] is what the group commit (see `group_commit`) calls with
//! the joins that arrived together. The two other [`JoinMode`]s, kept to
//! measure what batching buys, call it with one join at a time.
//!
//! `join.lua` is written for Redis's CPU (see the script's header): it takes
//! the fingerprints as one block of ARGV and the userIds as another, may
//! assume that no fingerprint appears twice in one call, and answers only
//! the exceptions. This module keeps its side of that bargain: a batch with
//! a repeated fingerprint (the same user joining twice at once, or in theory
//! two users sharing one) is sent as several calls, the repeats after the
//! first ones, so the repeat finds the first one's entry in Redis.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::{ErrorKind, ServerErrorKind, Value};

use super::conn::{ConnPool, RedisConn};
use super::health::{bad_reply, call, Health};
use super::keys::{user_fingerprint, QueueKeys};
use super::scripts::Scripts;
use crate::model::UserId;
use crate::store::StoreError;

/// The largest batch of joins in one `join.lua` call (Lua's `unpack` takes
/// a few thousand values at most; the script unpacks two per join).
pub(super) const MAX_JOIN_BATCH: usize = 512;

/// How joins reach Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JoinMode {
    /// Group commit: the joins that arrive together share one `join.lua`
    /// call. The production mode.
    Batched,
    /// One call per join on the shared connection, which the redis crate
    /// pipelines (concurrent calls leave in one write).
    Pipelined,
    /// One call per join, each on a pooled connection of its own: a full
    /// round trip per join, as a per-request design with a pool would do.
    Pooled,
}

/// One join's result inside a batch: the queue's epoch and the raw code
/// (`> 0` new seq, `< 0` existing seq, `0` closed).
pub(super) type JoinResult = Result<(u64, i64), StoreError>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(super) type JoinFlush = Box<dyn Fn(Vec<UserId>) -> BoxFuture<Vec<JoinResult>> + Send + Sync>;

/// Sends one batch of joins to Redis; one result per user, in order.
/// Through `pool` when given (the `pooled` join mode), else on the shared
/// connection.
pub(super) async fn flush_joins(
    mut conn: RedisConn,
    pool: Option<Arc<ConnPool>>,
    scripts: Arc<Scripts>,
    keys: Arc<QueueKeys>,
    health: Arc<Health>,
    deadline: Duration,
    users: Vec<UserId>,
) -> Vec<JoinResult> {
    let fingerprints: Vec<[u8; 8]> = users
        .iter()
        .map(|user| user_fingerprint(user.as_str()))
        .collect();
    let mut results: Vec<Option<JoinResult>> = vec![None; users.len()];
    let mut remaining: Vec<usize> = (0..users.len()).collect();
    while !remaining.is_empty() {
        let (call_now, later) = distinct_fingerprints(&remaining, &fingerprints);
        let mut cmd = redis::cmd("EVALSHA");
        // One contiguous command buffer: `Cmd` writes each argument once,
        // where a `ScriptInvocation` would allocate one Vec per argument.
        cmd.arg(scripts.join.get_hash())
            .arg(4)
            .arg(&keys.meta)
            .arg(&keys.line)
            .arg(&keys.users)
            .arg(&keys.users_overflow)
            .arg(call_now.len());
        for &i in &call_now {
            cmd.arg(&fingerprints[i][..]);
        }
        for &i in &call_now {
            cmd.arg(users[i].as_str());
        }
        let reply: Result<Vec<Value>, StoreError> = call(&health, deadline, async {
            match send(&cmd, &mut conn, pool.as_deref()).await {
                // A restarted or failed-over Redis has lost its script cache.
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    scripts.join.load_async(&mut conn).await?;
                    send(&cmd, &mut conn, pool.as_deref()).await
                }
                other => other,
            }
        })
        .await;
        let decoded = reply.and_then(|values| decode_reply(values, call_now.len()));
        for (k, &i) in call_now.iter().enumerate() {
            results[i] = Some(match &decoded {
                Ok(Some((epoch, codes))) => Ok((*epoch, codes[k])),
                Ok(None) => Err(StoreError::QueueNotFound(keys_queue_name(&keys))),
                Err(e) => Err(e.clone()),
            });
        }
        if let Err(e) = &decoded {
            // Redis failed: the repeats would fail the same way.
            for &i in &later {
                results[i] = Some(Err(e.clone()));
            }
            break;
        }
        remaining = later;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(bad_reply("no result for a join"))))
        .collect()
}

async fn send(
    cmd: &redis::Cmd,
    conn: &mut RedisConn,
    pool: Option<&ConnPool>,
) -> redis::RedisResult<Vec<Value>> {
    match pool {
        Some(pool) => pool.query(cmd).await,
        None => cmd.query_async(conn).await,
    }
}

/// Splits `indexes` into the first occurrence of each fingerprint (sent
/// now) and the repeats (sent after), keeping order within each.
fn distinct_fingerprints(indexes: &[usize], fingerprints: &[[u8; 8]]) -> (Vec<usize>, Vec<usize>) {
    let mut seen = HashSet::with_capacity(indexes.len());
    indexes.iter().partition(|&&i| seen.insert(fingerprints[i]))
}

/// `join.lua`'s answer as one code per user: `None` when the queue does not
/// exist, else the epoch and `> 0` new seq, `< 0` existing seq, `0` refused.
fn decode_reply(values: Vec<Value>, n: usize) -> Result<Option<(u64, Vec<i64>)>, StoreError> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut values = values.into_iter();
    let epoch: String = next_value(&mut values)?;
    let epoch: u64 = epoch.parse().map_err(bad_reply)?;
    let base: i64 = next_value(&mut values)?;
    let mut listed: Vec<Option<i64>> = vec![None; n];
    while values.len() > 0 {
        let index: usize = next_value(&mut values)?;
        let code: i64 = next_value(&mut values)?;
        let slot = index
            .checked_sub(1)
            .and_then(|i| listed.get_mut(i))
            .ok_or_else(|| bad_reply("join index out of range"))?;
        *slot = Some(code);
    }
    let mut next_seq = base;
    let codes = listed
        .into_iter()
        .map(|code| {
            code.unwrap_or_else(|| {
                next_seq += 1;
                next_seq
            })
        })
        .collect();
    Ok(Some((epoch, codes)))
}

fn next_value<T: redis::FromRedisValue>(
    values: &mut impl Iterator<Item = Value>,
) -> Result<T, StoreError> {
    let value = values.next().ok_or_else(|| bad_reply("short join reply"))?;
    redis::from_redis_value(value).map_err(bad_reply)
}

/// The queue id inside a key's hash tag (for error messages).
fn keys_queue_name(keys: &QueueKeys) -> String {
    keys.meta
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    #[test]
    fn unlisted_users_get_consecutive_seqs_after_the_base() {
        let reply = vec![Value::BulkString(b"77".to_vec()), int(10)];
        assert_eq!(
            decode_reply(reply, 3).unwrap(),
            Some((77, vec![11, 12, 13]))
        );
    }

    #[test]
    fn listed_users_keep_their_code_and_take_no_seq() {
        // User 2 already had seq 4; user 4 was refused.
        let reply = vec![
            Value::BulkString(b"5".to_vec()),
            int(10),
            int(2),
            int(-4),
            int(4),
            int(0),
        ];
        assert_eq!(
            decode_reply(reply, 4).unwrap(),
            Some((5, vec![11, -4, 12, 0]))
        );
    }

    #[test]
    fn an_empty_reply_means_no_such_queue_and_a_bad_one_is_an_error() {
        assert_eq!(decode_reply(vec![], 2).unwrap(), None);
        let out_of_range = vec![Value::BulkString(b"5".to_vec()), int(0), int(3), int(-1)];
        assert!(decode_reply(out_of_range, 2).is_err());
        let short = vec![Value::BulkString(b"5".to_vec())];
        assert!(decode_reply(short, 2).is_err());
    }

    #[test]
    fn repeated_fingerprints_wait_for_a_later_call() {
        let a = [1u8; 8];
        let b = [2u8; 8];
        let fingerprints = [a, b, a, a, b];
        let (now, later) = distinct_fingerprints(&[0, 1, 2, 3, 4], &fingerprints);
        assert_eq!((now, later.clone()), (vec![0, 1], vec![2, 3, 4]));
        let (now, later) = distinct_fingerprints(&later, &fingerprints);
        assert_eq!((now, later), (vec![2, 4], vec![3]));
    }
}
