//! Where the line lives: the `QueueStore` trait and its implementations.
//!
//! The contract has two halves with different costs on purpose:
//! - **writes** (joins, leaves, admission ticks, admin changes) are async and
//!   may go to a remote store. An implementation that pays a round trip per
//!   call must coalesce concurrent calls into one (group commit); the async
//!   signature lets each caller await its own result inside a shared batch.
//! - **reads** (`queue_info`, `entry_view`) are synchronous and answered from
//!   memory, because polls are the bulk of a flash sale's traffic and must
//!   cost the same with ten or ten million fans waiting. A remote-backed
//!   store keeps a local view refreshed in the background and reports its
//!   age in `QueueInfo::view_age_ms`.
//!
//! Implementations: [`memory::MemoryStore`] (the embedded default) and
//! [`redis::RedisStore`] (the line in Redis, shared by a fleet).

pub mod memory;
pub mod redis;

use std::future::Future;

use tokio::sync::watch;

use crate::model::{
    Admission, EntryState, LeaveOutcome, LineOrder, QueueCounters, QueueId, QueueSettings,
    QueueStatus, Schedule, Seq, Undrawn, UserId,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no queue {0:?}")]
    QueueNotFound(String),
    #[error("the queue {0:?} is closed")]
    QueueClosed(String),
    /// The backing store cannot be reached or is too slow; the caller may
    /// retry after a short while.
    #[error("the queue store is unavailable: {0}")]
    Unavailable(String),
}

/// A queue as seen by readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// Random per queue incarnation; part of every entryId's MAC.
    pub epoch: u64,
    pub settings: QueueSettings,
    pub status: QueueStatus,
    pub counters: QueueCounters,
    /// How stale this view may be (0 for an authoritative in-memory store).
    pub view_age_ms: u64,
    /// Where a scheduled sale stands (`Opened` for one without a schedule).
    pub schedule: Schedule,
    /// How many entries the pre-queue draw placed (0: no draw, or not yet).
    pub drawn: u64,
}

/// One entry as seen by readers, with what a poll answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub epoch: u64,
    pub user: UserId,
    pub state: EntryState,
    pub queue_status: QueueStatus,
    /// Meaningful while waiting.
    pub position: u64,
    pub eta_ms: u64,
    /// Its place in admission order: its seq, unless a draw placed it.
    pub place: u64,
    /// Set while it waits in a pre-queue not drawn yet (it has no position).
    pub undrawn: Option<Undrawn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedEntry {
    pub created: bool,
    pub seq: Seq,
    pub view: EntryView,
}

/// What one admission tick did in one queue, for events and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTick {
    pub queue_id: QueueId,
    pub epoch: u64,
    pub admitted: Vec<Admission>,
    pub expired: Vec<(Seq, UserId)>,
    /// The queue opened with a pre-queue of this many entries, whose draw
    /// this server is to make and commit ([`QueueStore::commit_draw`]).
    pub draw_due: Option<u64>,
    /// Admissions of earlier ticks, maybe of another server, whose events
    /// may never have reached the bus: published again, before `admitted`.
    pub republished: Vec<Admission>,
    /// For a store that logs admissions in batches (Redis): `republished`
    /// and `admitted` end with batch `n` of the log, to be marked announced
    /// ([`QueueStore::mark_announced`]) once their events are delivered.
    pub last_batch: Option<u64>,
}

/// What a watcher of a queue needs to know changed: the admission frontier
/// (every position, and who is admitted, follows from it) and the status.
/// It is the one change notification of the store layer: push streams wake
/// on it instead of reading the store on timers of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSignal {
    pub frontier: Seq,
    pub status: QueueStatus,
}

/// The sending half of a queue's [`QueueSignal`]. It lives with the queue
/// in the store: when the queue is deleted (or replaced by a new
/// incarnation) the feed is dropped and every subscriber sees it closed.
#[derive(Debug)]
pub struct ChangeFeed(watch::Sender<QueueSignal>);

impl ChangeFeed {
    pub fn new(signal: QueueSignal) -> Self {
        ChangeFeed(watch::Sender::new(signal))
    }

    /// Wakes subscribers only when something they watch changed: admission
    /// ticks that admit nobody, joins and refreshes that bring nothing new
    /// wake no one.
    pub fn publish(&self, signal: QueueSignal) {
        self.0.send_if_modified(|current| {
            let changed = *current != signal;
            *current = signal;
            changed
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<QueueSignal> {
        self.0.subscribe()
    }
}

pub trait QueueStore: Send + Sync + 'static {
    /// Creates the queue (`true`) or updates its settings (`false`). A new
    /// queue starts with `initial_status`; an existing one keeps its status.
    fn put_queue(
        &self,
        id: QueueId,
        settings: QueueSettings,
        initial_status: QueueStatus,
    ) -> impl Future<Output = Result<(QueueInfo, bool), StoreError>> + Send;

    fn set_status(
        &self,
        id: &str,
        status: QueueStatus,
    ) -> impl Future<Output = Result<QueueInfo, StoreError>> + Send;

    fn delete_queue(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Joins, or returns the user's existing entry. Answered only once the
    /// entry is durable in the store.
    fn join(
        &self,
        queue_id: &str,
        user: UserId,
    ) -> impl Future<Output = Result<JoinedEntry, StoreError>> + Send;

    /// The entry leaves the line or ends its session. `Ok(None)`: no such entry.
    fn leave(
        &self,
        queue_id: &str,
        seq: Seq,
    ) -> impl Future<Output = Result<Option<LeaveOutcome>, StoreError>> + Send;

    /// Marks `token` of `queue_id` used, for `remember_ms`: true the first
    /// time, false for every later call while it is remembered, across the
    /// whole fleet (a proof of work is good for one join).
    fn claim_once(
        &self,
        queue_id: &str,
        token: &str,
        remember_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Puts a sealed pre-queue in its drawn order and opens the queue, once:
    /// `Ok(false)` when the order is not for the block sealed in this
    /// incarnation of the queue, or when it was committed already (by
    /// another server of the fleet, with the same seed and so the same
    /// order).
    fn commit_draw(
        &self,
        queue_id: &str,
        epoch: u64,
        order: LineOrder,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The admission events up to `batch` (a [`QueueTick::last_batch`]) are
    /// delivered: a later lease holder need not publish them again.
    fn mark_announced(
        &self,
        queue_id: &str,
        epoch: u64,
        batch: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (queue_id, epoch, batch);
        async { Ok(()) }
    }

    /// Events were lost on their way to the bus: the next tick of each queue
    /// this server admits for carries again every batch not marked
    /// announced.
    fn republish_unannounced(&self) {}

    /// Whether this server runs the queue's admission now (a fleet's lease
    /// holder; a store of one process runs all its queues).
    fn runs_admission(&self, queue_id: &str) -> bool {
        let _ = queue_id;
        true
    }

    /// The drawn order of the queue's pre-queue, once drawn.
    fn drawn_order(&self, queue_id: &str) -> Option<LineOrder>;

    /// Runs admission for every queue this process is responsible for.
    fn tick(&self, now_ms: u64) -> impl Future<Output = Result<Vec<QueueTick>, StoreError>> + Send;

    fn queue_info(&self, queue_id: &str) -> Option<QueueInfo>;

    /// [`QueueStore::queue_info`], looked up in the backing store when this
    /// server has not seen the queue yet (one created on another server of
    /// the fleet a moment ago), so that its settings apply to the very
    /// first join this server takes.
    fn load_queue(
        &self,
        queue_id: &str,
    ) -> impl Future<Output = Result<QueueInfo, StoreError>> + Send {
        let info = self.queue_info(queue_id);
        let id = queue_id.to_string();
        async move { info.ok_or(StoreError::QueueNotFound(id)) }
    }

    fn entry_view(&self, queue_id: &str, seq: Seq) -> Option<EntryView>;

    /// Every queue, for metrics.
    fn queues(&self) -> Vec<(QueueId, QueueInfo)>;

    /// The queue's change notification (`None`: no such queue). The
    /// receiver closes when the queue is deleted.
    fn subscribe(&self, queue_id: &str) -> Option<watch::Receiver<QueueSignal>>;

    /// Whether the backing store answered recently (for `/readyz`).
    fn healthy(&self) -> bool;

    /// What backs the line, as `/readyz` names it.
    fn name(&self) -> &'static str;

    /// Called once at shutdown, after admission has stopped: lets a shared
    /// store hand this server's duties to the others early.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
