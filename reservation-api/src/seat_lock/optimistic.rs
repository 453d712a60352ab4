//! Optimistic: no lock is held while judging. The write asserts every
//! seat's version is the one read; a moved version means someone else wrote
//! the seat, so we re-read: usually the seat is now taken (409), sometimes
//! it was freed again and the retry wins it.

use prometheus_client::metrics::counter::Counter;

use super::{backoff, SeatLock};
use crate::domain::{judge_seats, Verdict};
use crate::error::{Error, Result};
use crate::store::{Guard, PendingHold, SqlStore};

pub(super) const DEFAULT_OPTIMISTIC_ATTEMPTS: usize = 8;

#[derive(Debug, Clone)]
pub struct Optimistic {
    pub max_attempts: usize,
    /// Bumped on every re-read after a version moved.
    pub retries: Counter,
}

impl Default for Optimistic {
    fn default() -> Self {
        Optimistic {
            max_attempts: DEFAULT_OPTIMISTIC_ATTEMPTS,
            retries: Counter::default(),
        }
    }
}

impl SeatLock for Optimistic {
    async fn hold(&self, store: &SqlStore, hold: &PendingHold) -> Result<i64> {
        let ids = hold.selection.ids();
        for attempt in 0..self.max_attempts.max(1) {
            let rows = store.read_seats(ids).await?;
            let amount = match judge_seats(&hold.selection, &hold.event_id, &rows, hold.now_ms)? {
                Verdict::Taken(seat_ids) => return Err(Error::SeatUnavailable { seat_ids }),
                Verdict::Free { amount_krw } => amount_krw,
            };
            let versions = rows.iter().map(|r| (r.id, r.version)).collect();
            if store
                .hold_conditional(hold, amount, &Guard::Versions(versions))
                .await?
            {
                return Ok(amount);
            }
            backoff(attempt, &self.retries).await;
        }
        // Out of attempts: name the seats only if they really are taken now.
        let rows = store.read_seats(ids).await?;
        match judge_seats(&hold.selection, &hold.event_id, &rows, hold.now_ms)? {
            Verdict::Taken(seat_ids) => Err(Error::SeatUnavailable { seat_ids }),
            Verdict::Free { .. } => Err(Error::Busy {
                message: "the seats kept changing under concurrent buyers; try again".into(),
            }),
        }
    }
}
