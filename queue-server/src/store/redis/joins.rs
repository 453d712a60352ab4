//! The join path: batches of joins, one `join.lua` call each.
//!
//! [`flush_joins`] is what the group commit (see `group_commit`) calls with
//! the joins that arrived together; with group commit off it is called with
//! one join at a time, one round trip each.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use super::conn::RedisConn;
use super::health::{bad_reply, call, Health};
use super::keys::{user_slot, QueueKeys};
use super::scripts::Scripts;
use crate::model::UserId;
use crate::store::StoreError;

/// The largest batch of joins in one `join.lua` call (Lua's `unpack` takes
/// a few thousand values at most; the script gets two per join).
pub const MAX_JOIN_BATCH: usize = 512;

/// One join's result inside a batch: the queue's epoch and the raw code
/// (`> 0` new seq, `< 0` existing seq, `0` closed).
pub type JoinResult = Result<(u64, i64), StoreError>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type JoinFlush = Box<dyn Fn(Vec<UserId>) -> BoxFuture<Vec<JoinResult>> + Send + Sync>;

/// Sends one batch of joins to Redis; one result per user, in order.
pub async fn flush_joins(
    mut conn: RedisConn,
    scripts: Arc<Scripts>,
    keys: Arc<QueueKeys>,
    health: Arc<Health>,
    deadline: Duration,
    users: Vec<UserId>,
) -> Vec<JoinResult> {
    let n = users.len();
    let mut invocation = scripts.join.key(&keys.meta);
    invocation
        .key(&keys.line)
        .key(&keys.users)
        .key(&keys.users_overflow);
    for user in &users {
        let (field, bucket) = user_slot(user.as_str());
        invocation.arg(user.as_str()).arg(&field[..]).arg(bucket);
    }
    let reply: Result<Vec<Value>, StoreError> =
        call(&health, deadline, invocation.invoke_async(&mut conn)).await;
    let decoded = reply.and_then(|values| {
        let mut values = values.into_iter();
        let Some(epoch) = values.next() else {
            return Ok(None);
        };
        let epoch: String = redis::from_redis_value(epoch).map_err(bad_reply)?;
        let epoch: u64 = epoch.parse().map_err(bad_reply)?;
        let codes = values
            .map(|v| redis::from_redis_value::<i64>(v).map_err(bad_reply))
            .collect::<Result<Vec<i64>, _>>()?;
        if codes.len() != n {
            return Err(bad_reply("wrong number of join results"));
        }
        Ok(Some((epoch, codes)))
    });
    match decoded {
        Ok(Some((epoch, codes))) => codes.into_iter().map(|code| Ok((epoch, code))).collect(),
        Ok(None) => {
            let id = keys_queue_name(&keys);
            (0..n)
                .map(|_| Err(StoreError::QueueNotFound(id.clone())))
                .collect()
        }
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

/// The queue id inside a key's hash tag (for error messages).
fn keys_queue_name(keys: &QueueKeys) -> String {
    keys.meta
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_default()
}
