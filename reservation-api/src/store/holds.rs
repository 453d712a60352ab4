//! The writes that take seats. Two shapes, used by the three strategies:
//!
//! * [`SqlStore::hold_locked`]: read the seats under a write lock
//!   (`SELECT ... ORDER BY id FOR UPDATE` on MySQL, `BEGIN IMMEDIATE` on
//!   SQLite), judge them, write. The pessimistic strategy.
//! * [`SqlStore::hold_conditional`]: one `UPDATE` whose `WHERE` re-states
//!   what the caller believes (seat versions, or a fencing token plus "still
//!   free at `now`"), accepted only if it matched every seat. The optimistic
//!   and distributed strategies.
//!
//! Either way the reservation row and the seat rows change in one
//! transaction, so a 201 always matches the database.

use sqlx::{Any, Transaction};

use super::Result;
use super::{is_retryable, placeholders, retry_pause, seat_state, SqlStore, DB_RETRIES};
use crate::domain::{judge_seats, SeatSelection, Verdict};

/// A hold about to be written.
#[derive(Debug, Clone)]
pub struct PendingHold {
    pub reservation_id: String,
    pub event_id: String,
    pub user_id: String,
    pub queue_id: String,
    pub entry_id: String,
    pub selection: SeatSelection,
    pub now_ms: i64,
    pub expires_at_ms: i64,
}

/// What a conditional write asserts about the seats.
#[derive(Debug, Clone)]
pub enum Guard {
    /// Each seat still has the version it was read with (optimistic).
    Versions(Vec<(i64, i64)>),
    /// No writer with a newer fencing token has touched the seats, and they
    /// are free at `now` (distributed).
    Fence(i64),
}

impl SqlStore {
    /// Pessimistic hold. Returns the verdict; on `Free` the hold is written.
    pub async fn hold_locked(&self, hold: &PendingHold) -> Result<Verdict> {
        let mut attempt = 0;
        loop {
            match self.hold_locked_once(hold).await {
                Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                    attempt += 1;
                    retry_pause(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn hold_locked_once(&self, hold: &PendingHold) -> Result<Verdict> {
        let ids = hold.selection.ids();
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT id, event_id, status, hold_expires_at_ms, price_krw, version FROM seats \
             WHERE id IN ({}) ORDER BY id{}",
            placeholders(ids.len()),
            self.dialect.for_update()
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let seats = rows.iter().map(seat_state).collect::<Result<Vec<_>>>()?;
        let verdict = judge_seats(&hold.selection, &hold.event_id, &seats, hold.now_ms)?;
        match verdict {
            Verdict::Taken(_) => tx.rollback().await?,
            Verdict::Free { amount_krw } => {
                let sql = format!(
                    "UPDATE seats SET status = 'held', hold_id = ?, hold_expires_at_ms = ?, \
                     version = version + 1 WHERE id IN ({})",
                    placeholders(ids.len())
                );
                let mut q = sqlx::query(&sql)
                    .bind(&hold.reservation_id)
                    .bind(hold.expires_at_ms);
                for id in ids {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
                insert_reservation(&mut tx, hold, amount_krw).await?;
                tx.commit().await?;
                self.seats_changed();
            }
        }
        Ok(verdict)
    }

    /// Conditional hold: writes and returns true only if `guard` held for
    /// every seat; otherwise changes nothing and returns false (the caller
    /// re-reads to learn why).
    pub async fn hold_conditional(
        &self,
        hold: &PendingHold,
        amount_krw: i64,
        guard: &Guard,
    ) -> Result<bool> {
        let mut attempt = 0;
        loop {
            match self.hold_conditional_once(hold, amount_krw, guard).await {
                Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                    attempt += 1;
                    retry_pause(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn hold_conditional_once(
        &self,
        hold: &PendingHold,
        amount_krw: i64,
        guard: &Guard,
    ) -> Result<bool> {
        let ids = hold.selection.ids();
        let mut tx = self.begin_write().await?;
        let affected = match guard {
            Guard::Versions(versions) => {
                let cond = vec!["(id = ? AND version = ?)"; versions.len()].join(" OR ");
                let sql = format!(
                    "UPDATE seats SET status = 'held', hold_id = ?, hold_expires_at_ms = ?, \
                     version = version + 1 WHERE event_id = ? AND ({cond})"
                );
                let mut q = sqlx::query(&sql)
                    .bind(&hold.reservation_id)
                    .bind(hold.expires_at_ms)
                    .bind(&hold.event_id);
                for (id, version) in versions {
                    q = q.bind(*id).bind(*version);
                }
                q.execute(&mut *tx).await?.rows_affected()
            }
            Guard::Fence(token) => {
                let sql = format!(
                    "UPDATE seats SET status = 'held', hold_id = ?, hold_expires_at_ms = ?, \
                     version = version + 1, fence = ? WHERE event_id = ? AND id IN ({}) AND fence < ? \
                     AND (status = 'available' OR (status = 'held' AND hold_expires_at_ms <= ?))",
                    placeholders(ids.len())
                );
                let mut q = sqlx::query(&sql)
                    .bind(&hold.reservation_id)
                    .bind(hold.expires_at_ms)
                    .bind(*token)
                    .bind(&hold.event_id);
                for id in ids {
                    q = q.bind(*id);
                }
                q.bind(*token)
                    .bind(hold.now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
        };
        if affected != ids.len() as u64 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_reservation(&mut tx, hold, amount_krw).await?;
        tx.commit().await?;
        self.seats_changed();
        Ok(true)
    }
}

async fn insert_reservation(
    tx: &mut Transaction<'static, Any>,
    hold: &PendingHold,
    amount_krw: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO reservations (id, event_id, user_id, queue_id, entry_id, status, amount_krw, \
         created_at_ms, expires_at_ms, updated_at_ms) VALUES (?,?,?,?,?,'held',?,?,?,?)",
    )
    .bind(&hold.reservation_id)
    .bind(&hold.event_id)
    .bind(&hold.user_id)
    .bind(&hold.queue_id)
    .bind(&hold.entry_id)
    .bind(amount_krw)
    .bind(hold.now_ms)
    .bind(hold.expires_at_ms)
    .bind(hold.now_ms)
    .execute(&mut **tx)
    .await?;
    let ids = hold.selection.ids();
    let sql = format!(
        "INSERT INTO reservation_seats (reservation_id, seat_id) VALUES {}",
        vec!["(?,?)"; ids.len()].join(",")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(&hold.reservation_id).bind(*id);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
