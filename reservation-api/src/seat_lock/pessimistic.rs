//! Pessimistic: the seat rows are locked while the hold is judged and
//! written. Simple and never retried by design (only a deadlock or busy
//! database is retried, inside the store); losers wait for the winner's
//! commit and then see the seats taken.

use super::SeatLock;
use crate::domain::Verdict;
use crate::error::{Error, Result};
use crate::store::{PendingHold, SqlStore};

#[derive(Debug, Default, Clone)]
pub struct Pessimistic;

impl SeatLock for Pessimistic {
    async fn hold(&self, store: &SqlStore, hold: &PendingHold) -> Result<i64> {
        match store.hold_locked(hold).await? {
            Verdict::Free { amount_krw } => Ok(amount_krw),
            Verdict::Taken(seat_ids) => Err(Error::SeatUnavailable { seat_ids }),
        }
    }
}
