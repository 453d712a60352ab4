//! The three ways of taking seats without double booking, selectable with
//! `--seat-lock`, behind one trait ([`SeatLock`]).
//!
//! Whatever the strategy, the database has the last word: every write
//! re-checks (under a lock, a version or a fencing token) that the seats are
//! still free, so a strategy can only be slower or faster, never unsafe.
//!
//! * [`Pessimistic`]: lock the seat rows (`SELECT ... FOR UPDATE`, ascending
//!   id so concurrent buyers lock in one order and never deadlock), judge,
//!   write.
//! * [`Optimistic`]: read without locks, then one conditional `UPDATE ...
//!   WHERE version = ?` per seat; if any version moved, re-read and retry a
//!   bounded number of times.
//! * [`Distributed`]: a Redis lock per seat (SET NX PX, random owner value,
//!   owner-only release) plus a fencing token the database write checks,
//!   so a holder whose lock ran out cannot overwrite a newer holder.

mod distributed;
mod locks;
mod optimistic;
mod pessimistic;

pub use distributed::Distributed;
pub use locks::{Acquired, LockService, Locks, MemoryLocks, RedisLocks};
pub use optimistic::Optimistic;
pub use pessimistic::Pessimistic;

use std::future::Future;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::error::Result;
use crate::store::{PendingHold, SqlStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeatLockKind {
    Pessimistic,
    Optimistic,
    Distributed,
}

impl SeatLockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatLockKind::Pessimistic => "pessimistic",
            SeatLockKind::Optimistic => "optimistic",
            SeatLockKind::Distributed => "distributed",
        }
    }
}

/// Takes every seat of a pending hold, or none.
pub trait SeatLock: Send + Sync {
    /// `Ok(amount_krw)` when the hold is written; `Err(SeatUnavailable)`
    /// naming the seats someone else holds; `Err(Busy)` when concurrent
    /// buyers kept the seats in flux for longer than the strategy waits.
    fn hold(
        &self,
        store: &SqlStore,
        hold: &PendingHold,
    ) -> impl Future<Output = Result<i64>> + Send;
}

/// The configured strategy.
#[derive(Debug)]
pub enum SeatLocker {
    Pessimistic(Pessimistic),
    Optimistic(Optimistic),
    Distributed(Distributed),
}

impl SeatLocker {
    pub fn kind(&self) -> SeatLockKind {
        match self {
            SeatLocker::Pessimistic(_) => SeatLockKind::Pessimistic,
            SeatLocker::Optimistic(_) => SeatLockKind::Optimistic,
            SeatLocker::Distributed(_) => SeatLockKind::Distributed,
        }
    }

    /// The Redis the locks live in, when there is one (for `/readyz`).
    pub fn redis(&self) -> Option<&RedisLocks> {
        match self {
            SeatLocker::Distributed(Distributed {
                locks: Locks::Redis(redis),
                ..
            }) => Some(redis),
            _ => None,
        }
    }
}

impl SeatLock for SeatLocker {
    async fn hold(&self, store: &SqlStore, hold: &PendingHold) -> Result<i64> {
        match self {
            SeatLocker::Pessimistic(s) => s.hold(store, hold).await,
            SeatLocker::Optimistic(s) => s.hold(store, hold).await,
            SeatLocker::Distributed(s) => s.hold(store, hold).await,
        }
    }
}

/// A short randomized pause before retrying, growing with `attempt`, so
/// that buyers who collided do not collide again in lockstep. Counted in
/// `retries` (the strategy's `hold_lock_retries` series).
pub(crate) async fn backoff(attempt: usize, retries: &Counter) {
    retries.inc();
    let base = 1u64 << attempt.min(3);
    tokio::time::sleep(Duration::from_micros(
        500 * base + rand::random_range(0..1000 * base),
    ))
    .await;
}
