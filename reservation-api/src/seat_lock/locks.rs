//! The lock service behind the distributed strategy: take several keys at
//! once (all or none) with an owner value and a TTL, release only what one
//! owns, and hand out a growing fencing token with each grant.
//!
//! [`RedisLocks`] is the real one (Lua scripts, so each operation is atomic
//! on the server). [`MemoryLocks`] has the same semantics inside one
//! process: it serves tests and a single-instance deployment without Redis.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::Script;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Every key is ours; the fencing token of this grant.
    Granted(i64),
    /// At least one key is owned by someone else; none was taken.
    Busy,
}

pub trait LockService: Send + Sync {
    fn acquire(
        &self,
        fence_key: &str,
        keys: &[String],
        owner: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<Acquired>> + Send;
    /// Deletes the keys still owned by `owner`; others' keys are left alone.
    fn release(&self, keys: &[String], owner: &str) -> impl Future<Output = Result<()>> + Send;
    /// Moves the fencing counter up to at least `at_least`.
    fn raise_fence(
        &self,
        fence_key: &str,
        at_least: i64,
    ) -> impl Future<Output = Result<()>> + Send;
}

#[derive(Debug)]
pub enum Locks {
    Memory(MemoryLocks),
    Redis(RedisLocks),
}

impl LockService for Locks {
    async fn acquire(
        &self,
        fence_key: &str,
        keys: &[String],
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Acquired> {
        match self {
            Locks::Memory(l) => l.acquire(fence_key, keys, owner, ttl_ms).await,
            Locks::Redis(l) => l.acquire(fence_key, keys, owner, ttl_ms).await,
        }
    }
    async fn release(&self, keys: &[String], owner: &str) -> Result<()> {
        match self {
            Locks::Memory(l) => l.release(keys, owner).await,
            Locks::Redis(l) => l.release(keys, owner).await,
        }
    }
    async fn raise_fence(&self, fence_key: &str, at_least: i64) -> Result<()> {
        match self {
            Locks::Memory(l) => l.raise_fence(fence_key, at_least).await,
            Locks::Redis(l) => l.raise_fence(fence_key, at_least).await,
        }
    }
}

#[derive(Debug, Default)]
struct MemoryState {
    held: HashMap<String, (String, Instant)>,
    fences: HashMap<String, i64>,
}

#[derive(Debug, Default)]
pub struct MemoryLocks {
    state: Mutex<MemoryState>,
}

impl LockService for MemoryLocks {
    async fn acquire(
        &self,
        fence_key: &str,
        keys: &[String],
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Acquired> {
        let now = Instant::now();
        let mut st = self.state.lock();
        let busy = keys
            .iter()
            .any(|k| st.held.get(k).is_some_and(|(_, until)| *until > now));
        if busy {
            return Ok(Acquired::Busy);
        }
        let until = now + Duration::from_millis(ttl_ms);
        for k in keys {
            st.held.insert(k.clone(), (owner.to_string(), until));
        }
        let fence = st.fences.entry(fence_key.to_string()).or_insert(0);
        *fence += 1;
        Ok(Acquired::Granted(*fence))
    }

    async fn release(&self, keys: &[String], owner: &str) -> Result<()> {
        let mut st = self.state.lock();
        for k in keys {
            if st.held.get(k).is_some_and(|(o, _)| o == owner) {
                st.held.remove(k);
            }
        }
        Ok(())
    }

    async fn raise_fence(&self, fence_key: &str, at_least: i64) -> Result<()> {
        let mut st = self.state.lock();
        let fence = st.fences.entry(fence_key.to_string()).or_insert(0);
        *fence = (*fence).max(at_least);
        Ok(())
    }
}

/// KEYS[1] = fence counter, KEYS[2..] = seat locks; ARGV = owner, ttl ms.
const ACQUIRE: &str = r"
for i = 2, #KEYS do
  if not redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then
    for j = 2, i - 1 do redis.call('DEL', KEYS[j]) end
    return 0
  end
end
return redis.call('INCR', KEYS[1])
";

const RELEASE: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
";

const RAISE_FENCE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
";

pub struct RedisLocks {
    conn: ConnectionManager,
    acquire: Script,
    release: Script,
    raise: Script,
}

impl std::fmt::Debug for RedisLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisLocks")
    }
}

fn redis_err(e: redis::RedisError) -> Error {
    Error::LockService(e.to_string())
}

impl RedisLocks {
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_err)?;
        let conn = ConnectionManager::new(client).await.map_err(redis_err)?;
        Ok(RedisLocks {
            conn,
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
            raise: Script::new(RAISE_FENCE),
        })
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(redis_err)
    }
}

impl LockService for RedisLocks {
    async fn acquire(
        &self,
        fence_key: &str,
        keys: &[String],
        owner: &str,
        ttl_ms: u64,
    ) -> Result<Acquired> {
        let mut inv = self.acquire.prepare_invoke();
        inv.key(fence_key);
        for k in keys {
            inv.key(k);
        }
        inv.arg(owner).arg(ttl_ms);
        let mut conn = self.conn.clone();
        let fence: i64 = inv.invoke_async(&mut conn).await.map_err(redis_err)?;
        Ok(if fence > 0 {
            Acquired::Granted(fence)
        } else {
            Acquired::Busy
        })
    }

    async fn release(&self, keys: &[String], owner: &str) -> Result<()> {
        let mut inv = self.release.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        inv.arg(owner);
        let mut conn = self.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await.map_err(redis_err)?;
        Ok(())
    }

    async fn raise_fence(&self, fence_key: &str, at_least: i64) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .raise
            .key(fence_key)
            .arg(at_least)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> Vec<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    #[tokio::test]
    async fn memory_locks_are_all_or_none_owner_released_and_fenced() {
        let l = MemoryLocks::default();
        assert_eq!(
            l.acquire("f", &keys(&["a", "b"]), "o1", 10_000)
                .await
                .unwrap(),
            Acquired::Granted(1)
        );
        // Overlapping request: nothing taken, not even "c".
        assert_eq!(
            l.acquire("f", &keys(&["b", "c"]), "o2", 10_000)
                .await
                .unwrap(),
            Acquired::Busy
        );
        assert_eq!(
            l.acquire("f", &keys(&["c"]), "o3", 10_000).await.unwrap(),
            Acquired::Granted(2)
        );
        // Someone else cannot release o1's locks.
        l.release(&keys(&["a", "b"]), "o2").await.unwrap();
        assert_eq!(
            l.acquire("f", &keys(&["a"]), "o4", 10_000).await.unwrap(),
            Acquired::Busy
        );
        l.release(&keys(&["a", "b"]), "o1").await.unwrap();
        assert_eq!(
            l.acquire("f", &keys(&["a"]), "o4", 10_000).await.unwrap(),
            Acquired::Granted(3)
        );
        l.raise_fence("f", 100).await.unwrap();
        assert_eq!(
            l.acquire("f", &keys(&["z"]), "o5", 10_000).await.unwrap(),
            Acquired::Granted(101)
        );
    }

    #[tokio::test]
    async fn memory_locks_expire_by_ttl() {
        let l = MemoryLocks::default();
        assert!(matches!(
            l.acquire("f", &keys(&["a"]), "o1", 1).await.unwrap(),
            Acquired::Granted(_)
        ));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(matches!(
            l.acquire("f", &keys(&["a"]), "o2", 1_000).await.unwrap(),
            Acquired::Granted(_)
        ));
    }
}
