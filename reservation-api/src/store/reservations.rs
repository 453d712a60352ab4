//! Reading, releasing and expiring holds.
//!
//! Releasing and expiring free a seat only while it still names this
//! reservation (`hold_id = ?`): once a hold has expired its seats may
//! already belong to a newer hold, which must not be undone.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{is_retryable, placeholders, retry_pause, SessionRef, SqlStore, DB_RETRIES};
use super::{Result, StoreError};
use crate::domain::hold::check_releasable;
use crate::domain::session::{SessionEnd, SessionStatus};
use crate::domain::ReservationStatus;
use crate::error::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    pub queue_id: String,
    pub entry_id: String,
    /// As stored; see `domain::hold::effective_reservation_status`.
    pub status: ReservationStatus,
    pub amount_krw: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// Ascending.
    pub seat_ids: Vec<i64>,
}

impl ReservationRecord {
    /// The admission this reservation was made under.
    pub fn session(&self) -> SessionRef {
        SessionRef {
            queue_id: self.queue_id.clone(),
            entry_id: self.entry_id.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

const RESERVATION_COLUMNS: &str =
    "id, event_id, user_id, queue_id, entry_id, status, amount_krw, created_at_ms, expires_at_ms";

fn reservation_record(row: &AnyRow, seat_ids: Vec<i64>) -> Result<ReservationRecord> {
    let status: String = row.try_get("status")?;
    Ok(ReservationRecord {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        user_id: row.try_get("user_id")?,
        queue_id: row.try_get("queue_id")?,
        entry_id: row.try_get("entry_id")?,
        status: ReservationStatus::parse(&status).map_err(|_| {
            StoreError::Inconsistent(format!("unknown reservation status {status:?}"))
        })?,
        amount_krw: row.try_get("amount_krw")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        seat_ids,
    })
}

async fn seat_ids_of<'e, E>(exec: E, reservation_id: &str) -> Result<Vec<i64>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT seat_id FROM reservation_seats WHERE reservation_id = ? ORDER BY seat_id",
    )
    .bind(reservation_id)
    .fetch_all(exec)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("seat_id")?)).collect()
}

/// Frees the seats still held by `reservation_id`.
async fn free_seats(
    tx: &mut Transaction<'static, Any>,
    reservation_id: &str,
    seat_ids: &[i64],
) -> Result<()> {
    if seat_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE seats SET status = 'available', hold_id = NULL, hold_expires_at_ms = NULL, \
         version = version + 1 WHERE id IN ({}) AND hold_id = ? AND status = 'held'",
        placeholders(seat_ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in seat_ids {
        q = q.bind(*id);
    }
    q.bind(reservation_id).execute(&mut **tx).await?;
    Ok(())
}

impl SqlStore {
    pub async fn get_reservation(&self, id: &str) -> Result<Option<ReservationRecord>> {
        let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ?");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let seats = seat_ids_of(&self.pool, id).await?;
        Ok(Some(reservation_record(&row, seats)?))
    }

    /// Releases a live hold of `user_id`. A reservation of another user is
    /// reported as not found, so ids of other buyers cannot be probed.
    pub async fn release(&self, id: &str, user_id: &str, now_ms: i64) -> Result<ReservationRecord> {
        let mut attempt = 0;
        loop {
            match self.release_once(id, user_id, now_ms).await {
                Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                    attempt += 1;
                    retry_pause(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn release_once(
        &self,
        id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<ReservationRecord> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ?{}",
            self.dialect.for_update()
        );
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
        let seats = seat_ids_of(&mut *tx, id).await?;
        let record = match row {
            Some(row) => reservation_record(&row, seats)?,
            None => return Err(not_found(id)),
        };
        if record.user_id != user_id {
            return Err(not_found(id));
        }
        check_releasable(record.status, record.expires_at_ms, now_ms)?;
        sqlx::query("UPDATE reservations SET status = 'released', updated_at_ms = ? WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        free_seats(&mut tx, id, &record.seat_ids).await?;
        // Giving the seats back is giving up: the purchase session ends and
        // the queue-server lets the next fan in.
        self.end_session_in_tx(&mut tx, &record.session(), SessionEnd::Released, now_ms)
            .await?;
        tx.commit().await?;
        self.seats_changed();
        Ok(ReservationRecord {
            status: ReservationStatus::Released,
            ..record
        })
    }

    /// The fan leaves the sale: the session's holds are released and the
    /// session ends as released in one transaction, so the queue-server lets
    /// the next fan in now instead of when the admission runs out. A session
    /// that already ended stays as it was. Returns the session's status.
    pub async fn leave_session(&self, session: &SessionRef, now_ms: i64) -> Result<SessionStatus> {
        let mut attempt = 0;
        loop {
            match self.leave_session_once(session, now_ms).await {
                Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                    attempt += 1;
                    retry_pause(attempt).await;
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        self.session_status(&session.entry_id)
            .await?
            .ok_or_else(|| StoreError::Inconsistent("the ended session has no row".into()))
    }

    async fn leave_session_once(&self, session: &SessionRef, now_ms: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let status: Option<String> =
            sqlx::query("SELECT status FROM admission_sessions WHERE entry_id = ?")
                .bind(&session.entry_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get("status"))
                .transpose()?;
        if status.is_some_and(|s| s != SessionStatus::Active.as_str()) {
            // Ended another way already: leaving changes nothing.
            tx.rollback().await?;
            return Ok(());
        }
        // By user first: the index on user_id finds a fan's few reservations.
        // Holds whose time is up are the sweeper's to expire.
        let sql = format!(
            "SELECT id FROM reservations WHERE user_id = ? AND entry_id = ? AND status = 'held' \
             AND expires_at_ms > ?{}",
            self.dialect.for_update()
        );
        let held: Vec<String> = sqlx::query(&sql)
            .bind(&session.user_id)
            .bind(&session.entry_id)
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
        for id in &held {
            sqlx::query(
                "UPDATE reservations SET status = 'released', updated_at_ms = ? WHERE id = ?",
            )
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let seats = seat_ids_of(&mut *tx, id).await?;
            free_seats(&mut tx, id, &seats).await?;
        }
        self.end_session_in_tx(&mut tx, session, SessionEnd::Released, now_ms)
            .await?;
        tx.commit().await?;
        if !held.is_empty() {
            self.seats_changed();
        }
        Ok(())
    }

    /// Moves up to `limit` holds whose time is up to `expired` and frees
    /// their seats. Returns how many it expired.
    pub async fn sweep_expired(&self, now_ms: i64, limit: i64) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT id FROM reservations WHERE status = 'held' AND expires_at_ms <= ? \
             ORDER BY expires_at_ms LIMIT ?",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for r in &rows {
            let id: String = r.try_get("id")?;
            let mut attempt = 0;
            loop {
                match self.expire_one(&id, now_ms).await {
                    Ok(true) => expired += 1,
                    Ok(false) => {}
                    Err(e) if is_retryable(&e) && attempt < DB_RETRIES => {
                        attempt += 1;
                        retry_pause(attempt).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                break;
            }
        }
        Ok(expired)
    }

    async fn expire_one(&self, id: &str, now_ms: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE reservations SET status = 'expired', updated_at_ms = ? \
             WHERE id = ? AND status = 'held' AND expires_at_ms <= ?",
        )
        .bind(now_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let seats = seat_ids_of(&mut *tx, id).await?;
        free_seats(&mut tx, id, &seats).await?;
        let row = sqlx::query("SELECT queue_id, entry_id, user_id FROM reservations WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let session = SessionRef {
            queue_id: row.try_get("queue_id")?,
            entry_id: row.try_get("entry_id")?,
            user_id: row.try_get("user_id")?,
        };
        self.end_session_in_tx(&mut tx, &session, SessionEnd::Expired, now_ms)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every live hold of an event at `now` with its seats: the contention
    /// tests compare this with what the API answered.
    pub async fn live_holds(&self, event_id: &str, now_ms: i64) -> Result<Vec<ReservationRecord>> {
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE event_id = ? AND status = 'held' \
             AND expires_at_ms > ? ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(event_id)
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let seats = seat_ids_of(&self.pool, &id).await?;
            out.push(reservation_record(row, seats)?);
        }
        Ok(out)
    }

    /// (seat id, hold_id) of every seat whose row says `held` by a hold
    /// still live at `now` (tests).
    pub async fn held_seats(&self, event_id: &str, now_ms: i64) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT id, hold_id FROM seats WHERE event_id = ? AND status = 'held' \
             AND hold_expires_at_ms > ? ORDER BY id",
        )
        .bind(event_id)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let hold: Option<String> = r.try_get("hold_id")?;
                Ok((r.try_get("id")?, hold.unwrap_or_default()))
            })
            .collect()
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::refused(
        ErrorCode::ReservationNotFound,
        format!("no reservation {id:?} for this user"),
    )
}
