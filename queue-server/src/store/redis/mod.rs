//! The Redis queue store: the line lives in Redis, so a sale survives a
//! queue-server restart and several queue-servers behind one load balancer
//! serve one line.
//!
//! How the costs are split (see `store/mod.rs` for the contract):
//! - **joins** are group-committed (`group_commit`): joins arriving
//!   together go to Redis as one `join.lua` call per queue, and each is
//!   answered once its batch is in Redis. Redis hands out the sequence
//!   numbers (`RPUSH` on the line), so they are global across servers, and
//!   the user index (userId fingerprints, see `keys`) makes "one entry per
//!   user" hold fleet-wide.
//! - **polls** never touch Redis: each server keeps a `mirror` of every
//!   queue, refreshed every 50 ms by a background task and updated at once
//!   by this server's own joins and admissions.
//! - **admission** runs on exactly one server per queue, the holder of the
//!   queue's `lease`: it takes the pacing decision with the model's
//!   [`admission_budget`](crate::model::admission_budget) and applies it
//!   atomically in Redis (`admit.lua`, see `admit`),
//!   fenced so that a former holder cannot write.
//! - **failures**: every call has a deadline (`health`); a failed call makes
//!   joins answer 503 (`StoreError::Unavailable`), marks the store
//!   unhealthy for `/healthz`, and polls go on from the mirror, whose age
//!   `view_age_ms` reports. The refresh task keeps probing, so service
//!   resumes by itself when Redis is back.

mod admit;
mod conn;
mod group_commit;
mod health;
mod joins;
mod keys;
mod lease;
mod mirror;
mod refresh;
mod scripts;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use redis::RedisError;
use tokio::task::JoinHandle;

pub use conn::RedisTarget;
pub use group_commit::{Abandoned, GroupCommit};
pub use keys::{user_fingerprint, BadPrefix, KeyLayout, QueueKeys};
pub use lease::{ACQUIRE_EVERY, LEASE_TTL, RELEASE_GRACE};
pub use mirror::REFRESH_INTERVAL;

use self::conn::{ConnPool, RedisConn};
use self::health::{bad_reply, call, Health};
pub use self::joins::JoinMode;
use self::joins::{flush_joins, JoinFlush, JoinResult, MAX_JOIN_BATCH};
use self::lease::Lease;
use self::mirror::Mirror;
use self::scripts::Scripts;
use super::{
    ChangeFeed, EntryView, JoinedEntry, QueueInfo, QueueSignal, QueueStore, QueueTick, StoreError,
};
use crate::model::{
    EntryState, LeaveOutcome, LineOrder, QueueId, QueueSettings, QueueStatus, Seq, UserId,
};

/// How the Redis store is set up.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub target: RedisTarget,
    /// Prefix of every key (several deployments or tests can share a Redis).
    pub key_prefix: String,
    /// How joins reach Redis (anything but `Batched` only to measure what
    /// batching buys).
    pub join_mode: JoinMode,
    /// Join batches of one queue in flight at once (1: each batch waits for
    /// the previous round trip; see `GroupCommit`).
    pub joins_in_flight: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Prefix(#[from] BadPrefix),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] RedisError),
}

pub struct RedisStore {
    inner: Arc<Inner>,
    refresher: JoinHandle<()>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("owner", &self.owner_id())
            .finish_non_exhaustive()
    }
}

struct Inner {
    conn: RedisConn,
    timeout: Duration,
    layout: KeyLayout,
    scripts: Arc<Scripts>,
    join_mode: JoinMode,
    /// Connections of the `Pooled` join mode.
    pool: Option<Arc<ConnPool>>,
    joins_in_flight: usize,
    /// This process's id in leases.
    owner: String,
    health: Arc<Health>,
    queues: RwLock<HashMap<QueueId, Arc<Slot>>>,
}

/// One queue as this server knows it.
struct Slot {
    id: QueueId,
    keys: Arc<QueueKeys>,
    mirror: RwLock<Mirror>,
    lease: Mutex<Lease>,
    joins: Arc<GroupCommit<UserId, JoinResult, JoinFlush>>,
    changes: ChangeFeed,
    /// The next admission step first reads the batches not marked announced
    /// and publishes them again: set when this server takes the lease, and
    /// when events were lost on the way to the bus.
    republish_due: AtomicBool,
}

impl Slot {
    /// Tells the queue's watchers what the mirror now says; called after
    /// every change applied to the mirror (a refresh, an own admission).
    fn publish_changes(&self) {
        let signal = mirror_signal(&self.mirror.read());
        self.changes.publish(signal);
    }
}

fn mirror_signal(mirror: &Mirror) -> QueueSignal {
    QueueSignal {
        frontier: mirror.counters().frontier,
        status: mirror.status(),
    }
}

/// Connections of the `Pooled` join mode: as many as joins a benchmark
/// keeps in flight, so that no join waits for a connection.
const POOL_SIZE: usize = 256;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RedisStore {
    /// Connects (failing fast if Redis cannot be reached now) and starts the
    /// background refresh of the mirrors.
    pub async fn connect(options: RedisOptions) -> Result<Self, ConnectError> {
        let layout = KeyLayout::new(&options.key_prefix)?;
        let conn = RedisConn::connect(&options.target).await?;
        let inner = Arc::new(Inner {
            conn,
            timeout: options.target.timeout,
            layout,
            scripts: Arc::new(Scripts::load()),
            join_mode: options.join_mode,
            pool: match options.join_mode {
                JoinMode::Pooled => Some(Arc::new(ConnPool::new(&options.target, POOL_SIZE)?)),
                _ => None,
            },
            joins_in_flight: options.joins_in_flight,
            owner: format!("qs-{:016x}", rand::random::<u64>()),
            health: Arc::new(Health::default()),
            queues: RwLock::new(HashMap::new()),
        });
        // Load every queue's mirror completely before serving: a server
        // (re)started in the middle of a sale must answer polls for the
        // whole line at once, not after catching up in steps. Failing here
        // is not fatal (the refresh task retries).
        for _ in 0..10_000 {
            if inner.refresh_all().await.is_err() || inner.caught_up() {
                break;
            }
        }
        let refresher = tokio::spawn(refresh::refresh_loop(Arc::downgrade(&inner)));
        Ok(RedisStore { inner, refresher })
    }

    /// This process's id in admission leases.
    pub fn owner_id(&self) -> &str {
        &self.inner.owner
    }

    /// Whether this server runs the queue's admission now.
    pub fn holds_lease(&self, queue_id: &str) -> bool {
        self.inner
            .queues
            .read()
            .get(queue_id)
            .is_some_and(|slot| slot.lease.lock().is_held())
    }

    async fn slot(&self, queue_id: &str) -> Result<Arc<Slot>, StoreError> {
        if let Some(slot) = self.inner.queues.read().get(queue_id) {
            return Ok(slot.clone());
        }
        // Created on another server moments ago: look it up now rather
        // than wait for the next refresh.
        let not_found = || StoreError::QueueNotFound(queue_id.to_string());
        let id = QueueId::parse(queue_id).map_err(|_| not_found())?;
        self.inner.refresh_queue(&id).await?;
        self.inner
            .queues
            .read()
            .get(queue_id)
            .cloned()
            .ok_or_else(not_found)
    }

    async fn join_one(&self, slot: &Slot, user: UserId) -> JoinResult {
        if self.inner.join_mode == JoinMode::Batched {
            match slot.joins.submit(user).await {
                Ok(result) => result,
                Err(Abandoned) => Err(StoreError::Unavailable("the join batch failed".into())),
            }
        } else {
            let mut results = flush_joins(
                self.inner.conn.clone(),
                self.inner.pool.clone(),
                self.inner.scripts.clone(),
                slot.keys.clone(),
                self.inner.health.clone(),
                self.inner.timeout,
                vec![user],
            )
            .await;
            results
                .pop()
                .unwrap_or_else(|| Err(bad_reply("no result for the join")))
        }
    }
}

impl Inner {
    /// A fan's write while Redis is known down is refused at once instead of
    /// waiting out the deadline: an outage answers 503 in a millisecond. The
    /// refresh task keeps probing and marks Redis up again within
    /// `REFRESH_INTERVAL` of its return.
    fn refuse_while_down(&self) -> Result<(), StoreError> {
        if self.health.is_up() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "Redis is unreachable; retry shortly".into(),
            ))
        }
    }

    async fn run<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        call(&self.health, self.timeout, fut).await
    }

    fn new_slot(&self, id: QueueId, mirror: Mirror) -> Arc<Slot> {
        let keys = Arc::new(self.layout.queue(&id));
        let (conn, scripts, health, deadline, flush_keys) = (
            self.conn.clone(),
            self.scripts.clone(),
            self.health.clone(),
            self.timeout,
            keys.clone(),
        );
        let flush: JoinFlush = Box::new(move |users| {
            Box::pin(flush_joins(
                conn.clone(),
                None,
                scripts.clone(),
                flush_keys.clone(),
                health.clone(),
                deadline,
                users,
            ))
        });
        Arc::new(Slot {
            id,
            keys,
            changes: ChangeFeed::new(mirror_signal(&mirror)),
            mirror: RwLock::new(mirror),
            lease: Mutex::new(Lease::default()),
            joins: GroupCommit::new(MAX_JOIN_BATCH, self.joins_in_flight, flush),
            republish_due: AtomicBool::new(false),
        })
    }

    /// Whether every mirror holds the userIds of its whole line.
    fn caught_up(&self) -> bool {
        self.queues
            .read()
            .values()
            .all(|slot| slot.mirror.read().caught_up())
    }

    fn info_of(&self, id: &QueueId) -> Result<QueueInfo, StoreError> {
        self.queues
            .read()
            .get(id)
            .map(|slot| slot.mirror.read().info())
            .ok_or_else(|| StoreError::QueueNotFound(id.to_string()))
    }
}

impl QueueStore for RedisStore {
    async fn put_queue(
        &self,
        id: QueueId,
        settings: QueueSettings,
        initial_status: QueueStatus,
    ) -> Result<(QueueInfo, bool), StoreError> {
        let inner = &self.inner;
        let keys = inner.layout.queue(&id);
        let mut conn = inner.conn.clone();
        // Registered first: a registry entry without a queue is ignored,
        // a queue missing from the registry would be invisible.
        inner
            .run(
                redis::cmd("SADD")
                    .arg(inner.layout.registry())
                    .arg(id.as_str())
                    .query_async::<i64>(&mut conn),
            )
            .await?;
        let mut invocation = inner.scripts.put_queue.prepare_invoke();
        for key in keys.all() {
            invocation.key(key);
        }
        let created: i64 = inner
            .run(
                invocation
                    .arg(rand::random::<u64>())
                    .arg(settings.admission_rate_per_sec)
                    .arg(settings.max_active)
                    .arg(settings.session_ttl_sec)
                    .arg(initial_status.as_str())
                    .arg(settings.joins_per_ip_per_minute)
                    .arg(settings.pow_difficulty)
                    .arg(u8::from(settings.pow_adaptive))
                    .arg(settings.opens_at_ms)
                    .arg(u8::from(settings.prequeue))
                    .invoke_async(&mut conn),
            )
            .await?;
        inner.refresh_queue(&id).await?;
        Ok((inner.info_of(&id)?, created == 1))
    }

    async fn set_status(&self, id: &str, status: QueueStatus) -> Result<QueueInfo, StoreError> {
        let inner = &self.inner;
        let not_found = || StoreError::QueueNotFound(id.to_string());
        let qid = QueueId::parse(id).map_err(|_| not_found())?;
        let keys = inner.layout.queue(&qid);
        let mut conn = inner.conn.clone();
        let done: i64 = inner
            .run(
                inner
                    .scripts
                    .set_status
                    .key(&keys.meta)
                    .arg(status.as_str())
                    .invoke_async(&mut conn),
            )
            .await?;
        if done == 0 {
            return Err(not_found());
        }
        inner.refresh_queue(&qid).await?;
        inner.info_of(&qid)
    }

    async fn load_queue(&self, queue_id: &str) -> Result<QueueInfo, StoreError> {
        Ok(self.slot(queue_id).await?.mirror.read().info())
    }

    async fn claim_once(
        &self,
        queue_id: &str,
        token: &str,
        remember_ms: u64,
    ) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let qid =
            QueueId::parse(queue_id).map_err(|_| StoreError::QueueNotFound(queue_id.into()))?;
        let mut conn = inner.conn.clone();
        let set: Option<String> = inner
            .run(
                redis::cmd("SET")
                    .arg(inner.layout.claim(&qid, token))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(remember_ms.max(1))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn delete_queue(&self, id: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        let not_found = || StoreError::QueueNotFound(id.to_string());
        let qid = QueueId::parse(id).map_err(|_| not_found())?;
        let keys = inner.layout.queue(&qid);
        let mut conn = inner.conn.clone();
        inner
            .run(
                redis::cmd("SREM")
                    .arg(inner.layout.registry())
                    .arg(id)
                    .query_async::<i64>(&mut conn),
            )
            .await?;
        let mut invocation = inner.scripts.delete_queue.prepare_invoke();
        for key in keys.all() {
            invocation.key(key);
        }
        let deleted: i64 = inner.run(invocation.invoke_async(&mut conn)).await?;
        inner.queues.write().remove(id);
        if deleted == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    async fn join(&self, queue_id: &str, user: UserId) -> Result<JoinedEntry, StoreError> {
        self.inner.refuse_while_down()?;
        let slot = self.slot(queue_id).await?;
        let (epoch, code) = self.join_one(&slot, user.clone()).await?;
        if code == 0 {
            return Err(StoreError::QueueClosed(queue_id.to_string()));
        }
        let seq = code.unsigned_abs();
        let created = code > 0;
        let now = now_ms();
        let mut mirror = slot.mirror.write();
        if mirror.epoch == epoch {
            mirror.record_join(seq, &user);
            if let Some(view) = mirror.view(seq, now) {
                return Ok(JoinedEntry { created, seq, view });
            }
        }
        // The queue was deleted and created again since this server last
        // looked: answer from the join alone; the next refresh catches up.
        let position = seq;
        Ok(JoinedEntry {
            created,
            seq,
            view: EntryView {
                epoch,
                user,
                state: EntryState::Waiting,
                queue_status: mirror.status(),
                position,
                eta_ms: position.saturating_mul(1000)
                    / u64::from(mirror.settings.admission_rate_per_sec.max(1)),
                place: seq,
                undrawn: None,
            },
        })
    }

    async fn commit_draw(
        &self,
        queue_id: &str,
        epoch: u64,
        order: LineOrder,
    ) -> Result<bool, StoreError> {
        let slot = self.slot(queue_id).await?;
        self.inner.commit_draw(&slot, epoch, order).await
    }

    fn drawn_order(&self, queue_id: &str) -> Option<LineOrder> {
        let queues = self.inner.queues.read();
        let mirror = queues.get(queue_id)?.mirror.read();
        mirror.order().cloned()
    }

    async fn leave(&self, queue_id: &str, seq: Seq) -> Result<Option<LeaveOutcome>, StoreError> {
        self.inner.refuse_while_down()?;
        let slot = self.slot(queue_id).await?;
        let keys = &slot.keys;
        let mut conn = self.inner.conn.clone();
        let outcome: String = self
            .inner
            .run(
                self.inner
                    .scripts
                    .leave
                    .key(&keys.meta)
                    .key(&keys.line)
                    .key(&keys.left)
                    .key(&keys.active)
                    .key(&keys.places)
                    .arg(seq)
                    .invoke_async(&mut conn),
            )
            .await?;
        let outcome = match outcome.as_str() {
            "nf" => return Err(StoreError::QueueNotFound(queue_id.to_string())),
            "none" => return Ok(None),
            "ended" => LeaveOutcome::AlreadyEnded,
            "waiting" => LeaveOutcome::LeftWaiting,
            "active" => LeaveOutcome::LeftActive,
            other => return Err(bad_reply(format!("leave answered {other:?}"))),
        };
        slot.mirror.write().record_leave(seq, &outcome);
        Ok(Some(outcome))
    }

    async fn tick(&self, now_ms: u64) -> Result<Vec<QueueTick>, StoreError> {
        // While Redis is down the refresh task probes it; ticking meanwhile
        // would only add failing calls (and a warning every 10 ms).
        if !self.healthy() {
            return Ok(Vec::new());
        }
        let slots: Vec<Arc<Slot>> = self.inner.queues.read().values().cloned().collect();
        let mut ticks = Vec::new();
        for slot in slots {
            if let Some(tick) = self.inner.tick_queue(&slot, now_ms).await? {
                ticks.push(tick);
            }
        }
        Ok(ticks)
    }

    async fn mark_announced(
        &self,
        queue_id: &str,
        epoch: u64,
        batch: u64,
    ) -> Result<(), StoreError> {
        let Some(slot) = self.inner.queues.read().get(queue_id).cloned() else {
            return Ok(());
        };
        self.inner.mark_announced(&slot, epoch, batch).await
    }

    fn runs_admission(&self, queue_id: &str) -> bool {
        self.holds_lease(queue_id)
    }

    fn republish_unannounced(&self) {
        for slot in self.inner.queues.read().values() {
            slot.republish_due.store(true, Ordering::Relaxed);
        }
    }

    fn queue_info(&self, queue_id: &str) -> Option<QueueInfo> {
        let slot = self.inner.queues.read().get(queue_id).cloned()?;
        let info = slot.mirror.read().info();
        Some(info)
    }

    fn entry_view(&self, queue_id: &str, seq: Seq) -> Option<EntryView> {
        let slot = self.inner.queues.read().get(queue_id).cloned()?;
        let view = slot.mirror.read().view(seq, now_ms());
        view
    }

    fn queues(&self) -> Vec<(QueueId, QueueInfo)> {
        let slots: Vec<Arc<Slot>> = self.inner.queues.read().values().cloned().collect();
        slots
            .iter()
            .map(|slot| (slot.id.clone(), slot.mirror.read().info()))
            .collect()
    }

    fn subscribe(&self, queue_id: &str) -> Option<tokio::sync::watch::Receiver<QueueSignal>> {
        Some(self.inner.queues.read().get(queue_id)?.changes.subscribe())
    }

    fn healthy(&self) -> bool {
        self.inner.health.is_up()
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    /// Shortens every lease this server holds to [`RELEASE_GRACE`], so that
    /// another server takes admission over sooner. Best effort: if Redis
    /// does not answer, the leases simply run out.
    async fn close(&self) {
        let held: Vec<Arc<Slot>> = self
            .inner
            .queues
            .read()
            .values()
            .filter(|slot| slot.lease.lock().is_held())
            .cloned()
            .collect();
        for slot in held {
            let mut conn = self.inner.conn.clone();
            let released: Result<i64, StoreError> = self
                .inner
                .run(
                    self.inner
                        .scripts
                        .release_lease
                        .key(&slot.keys.lease)
                        .arg(&self.inner.owner)
                        .arg(RELEASE_GRACE.as_millis() as u64)
                        .invoke_async(&mut conn),
                )
                .await;
            slot.lease.lock().lost(now_ms());
            match released {
                Ok(_) => tracing::info!(queue = %slot.id, "admission lease handed over"),
                Err(e) => {
                    tracing::warn!(queue = %slot.id, error = %e, "could not hand the admission lease over")
                }
            }
        }
    }
}
