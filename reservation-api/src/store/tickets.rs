//! Tickets: reading them, using one at the gate, and cancelling one
//! (refund first, then ticket and seat in one transaction with its event).

use sqlx::any::AnyRow;
use sqlx::Row;
use ticketon_wire::{TicketEvent, EVENT_SCHEMA_VERSION};

use super::refunds::{RefundRecord, RefundTarget};
use super::SqlStore;
use super::{Result, StoreError};
use crate::domain::payment::RefundState;
use crate::domain::sales::TicketCount;
use crate::domain::ticket::{check_change, TicketChange, TicketStatus};
use crate::error::ErrorCode;
use crate::store::retrying;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub id: String,
    pub reservation_id: String,
    pub payment_id: String,
    pub event_id: String,
    pub seat_id: i64,
    pub section: String,
    pub row: i64,
    pub number: i64,
    pub user_id: String,
    pub queue_id: String,
    pub price_krw: i64,
    pub status: TicketStatus,
    pub issued_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub cancelled_at_ms: Option<i64>,
    /// A refund of this ticket is waiting for Toss.
    pub refund_pending: bool,
}

const TICKET_SELECT: &str = "SELECT t.id, t.reservation_id, t.payment_id, t.event_id, t.seat_id, \
     s.section, s.row_no, s.seat_no, t.user_id, t.queue_id, t.price_krw, t.status, \
     t.issued_at_ms, t.used_at_ms, t.cancelled_at_ms, \
     (SELECT COUNT(*) FROM refunds r WHERE r.ticket_id = t.id AND r.status = 'pending') \
       AS refunds_pending \
     FROM tickets t JOIN seats s ON s.id = t.seat_id";

fn ticket_record(row: &AnyRow) -> Result<TicketRecord> {
    let status: String = row.try_get("status")?;
    let pending: i64 = row.try_get("refunds_pending")?;
    Ok(TicketRecord {
        id: row.try_get("id")?,
        reservation_id: row.try_get("reservation_id")?,
        payment_id: row.try_get("payment_id")?,
        event_id: row.try_get("event_id")?,
        seat_id: row.try_get("seat_id")?,
        section: row.try_get("section")?,
        row: row.try_get("row_no")?,
        number: row.try_get("seat_no")?,
        user_id: row.try_get("user_id")?,
        queue_id: row.try_get("queue_id")?,
        price_krw: row.try_get("price_krw")?,
        status: TicketStatus::parse(&status)
            .ok_or_else(|| StoreError::Inconsistent(format!("unknown ticket status {status:?}")))?,
        issued_at_ms: row.try_get("issued_at_ms")?,
        used_at_ms: row.try_get("used_at_ms")?,
        cancelled_at_ms: row.try_get("cancelled_at_ms")?,
        refund_pending: pending > 0,
    })
}

/// What starting a ticket's cancellation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelStart {
    /// Already cancelled (a retried request).
    AlreadyCancelled,
    /// This refund is to be made (new, or one already pending).
    Refund(RefundTarget),
}

fn not_found(id: &str) -> StoreError {
    StoreError::refused(ErrorCode::TicketNotFound, format!("no ticket {id:?}"))
}

impl SqlStore {
    pub async fn get_ticket(&self, id: &str) -> Result<Option<TicketRecord>> {
        let sql = format!("{TICKET_SELECT} WHERE t.id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket_record).transpose()
    }

    pub async fn tickets_of_payment(&self, payment_id: &str) -> Result<Vec<TicketRecord>> {
        self.tickets_where("t.payment_id = ?", payment_id).await
    }

    pub async fn tickets_of_reservation(&self, reservation_id: &str) -> Result<Vec<TicketRecord>> {
        self.tickets_where("t.reservation_id = ?", reservation_id)
            .await
    }

    pub async fn tickets_of_user(&self, user_id: &str) -> Result<Vec<TicketRecord>> {
        self.tickets_where("t.user_id = ?", user_id).await
    }

    /// Every ticket of an event (tests check invariants with it).
    pub async fn tickets_of_event(&self, event_id: &str) -> Result<Vec<TicketRecord>> {
        self.tickets_where("t.event_id = ?", event_id).await
    }

    /// An event's tickets counted by section and status, with the sum of
    /// their prices: one grouped query, however many tickets were sold.
    /// (MySQL sums integers as DECIMAL, which the `Any` driver cannot read
    /// as an integer: hence the cast; SQLite keeps it an integer.)
    pub async fn ticket_counts(&self, event_id: &str) -> Result<Vec<TicketCount>> {
        let rows = sqlx::query(
            "SELECT s.section AS section, t.status AS status, COUNT(*) AS tickets, \
             CAST(SUM(t.price_krw) AS SIGNED) AS price_krw FROM tickets t \
             JOIN seats s ON s.id = t.seat_id \
             WHERE t.event_id = ? GROUP BY s.section, t.status",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let tickets: i64 = row.try_get("tickets")?;
                Ok(TicketCount {
                    section: row.try_get("section")?,
                    status: TicketStatus::parse(&status).ok_or_else(|| {
                        StoreError::Inconsistent(format!("unknown ticket status {status:?}"))
                    })?,
                    tickets: u32::try_from(tickets).unwrap_or(u32::MAX),
                    price_krw: row.try_get("price_krw")?,
                })
            })
            .collect()
    }

    async fn tickets_where(&self, cond: &str, value: &str) -> Result<Vec<TicketRecord>> {
        let sql = format!("{TICKET_SELECT} WHERE {cond} ORDER BY t.issued_at_ms, t.seat_id");
        let rows = sqlx::query(&sql).bind(value).fetch_all(&self.pool).await?;
        rows.iter().map(ticket_record).collect()
    }

    /// Marks an issued ticket used, once (admin, at the gate).
    pub async fn use_ticket(&self, id: &str, now_ms: i64) -> Result<TicketRecord> {
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT status FROM tickets WHERE id = ?{}",
                self.dialect.for_update()
            );
            let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
                return Err(not_found(id));
            };
            let status: String = row.try_get("status")?;
            let status = TicketStatus::parse(&status)
                .ok_or_else(|| StoreError::Inconsistent(format!("unknown ticket status {status:?}")))?;
            let pending = sqlx::query(
                "SELECT id FROM refunds WHERE ticket_id = ? AND status = 'pending'",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            check_change(status, TicketChange::Use, pending)?;
            sqlx::query(
                "UPDATE tickets SET status = 'used', used_at_ms = ? WHERE id = ? AND status = 'issued'",
            )
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.get_ticket(id).await?.ok_or_else(|| not_found(id))
    }

    /// First step of a cancellation: checks the ticket may be cancelled and
    /// records the refund to make (or finds the one already pending).
    pub async fn begin_ticket_cancel(&self, ticket_id: &str, now_ms: i64) -> Result<CancelStart> {
        let refund_id = retrying(|| async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT status, payment_id, price_krw FROM tickets WHERE id = ?{}",
                self.dialect.for_update()
            );
            let Some(row) = sqlx::query(&sql)
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(not_found(ticket_id));
            };
            let status: String = row.try_get("status")?;
            let status = TicketStatus::parse(&status).ok_or_else(|| {
                StoreError::Inconsistent(format!("unknown ticket status {status:?}"))
            })?;
            check_change(status, TicketChange::Cancel, false)?;
            if status == TicketStatus::Cancelled {
                return Ok(None);
            }
            let earlier = sqlx::query(
                "SELECT id, status FROM refunds WHERE ticket_id = ? ORDER BY created_at_ms, id",
            )
            .bind(ticket_id)
            .fetch_all(&mut *tx)
            .await?;
            for r in &earlier {
                if r.try_get::<String, _>("status")? == RefundState::Pending.as_str() {
                    return Ok(Some(r.try_get::<String, _>("id")?));
                }
            }
            // A refund Toss declined before does not block a new one; each
            // attempt has its own id, hence its own Toss idempotency key.
            let refund = RefundRecord {
                id: format!("t-{ticket_id}-{}", earlier.len() + 1),
                payment_id: row.try_get("payment_id")?,
                ticket_id: Some(ticket_id.to_string()),
                amount_krw: row.try_get("price_krw")?,
                status: RefundState::Pending,
                failure_code: None,
                created_at_ms: now_ms,
            };
            self.insert_refund_in_tx(&mut tx, &refund).await?;
            tx.commit().await?;
            Ok(Some(refund.id))
        })
        .await?;
        match refund_id {
            None => Ok(CancelStart::AlreadyCancelled),
            Some(id) => self
                .get_refund(&id)
                .await?
                .map(CancelStart::Refund)
                .ok_or_else(|| StoreError::Inconsistent("the refund vanished".into())),
        }
    }

    /// Records that a ticket's refund went through: in one transaction the
    /// refund is `done`, the ticket `cancelled`, its seat `available` again
    /// and a `ticket cancelled` event is enqueued.
    pub async fn finish_ticket_refund(
        &self,
        refund_id: &str,
        provider_status: &str,
        now_ms: i64,
    ) -> Result<()> {
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            let fu = self.dialect.for_update();
            let sql = format!("SELECT status, ticket_id, payment_id FROM refunds WHERE id = ?{fu}");
            let Some(r) = sqlx::query(&sql)
                .bind(refund_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(StoreError::Inconsistent(format!("no refund {refund_id}")));
            };
            if r.try_get::<String, _>("status")? != RefundState::Pending.as_str() {
                return Ok(());
            }
            let ticket_id: Option<String> = r.try_get("ticket_id")?;
            let payment_id: String = r.try_get("payment_id")?;
            let ticket_id =
                ticket_id.ok_or_else(|| StoreError::Inconsistent("not a ticket refund".into()))?;
            let sql = format!(
                "SELECT reservation_id, event_id, seat_id, user_id, queue_id, price_krw \
                 FROM tickets WHERE id = ?{fu}"
            );
            let Some(t) = sqlx::query(&sql)
                .bind(&ticket_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(not_found(&ticket_id));
            };
            let reservation_id: String = t.try_get("reservation_id")?;
            let seat_id: i64 = t.try_get("seat_id")?;
            sqlx::query("UPDATE refunds SET status = 'done', updated_at_ms = ? WHERE id = ?")
                .bind(now_ms)
                .bind(refund_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE tickets SET status = 'cancelled', cancelled_at_ms = ? \
                 WHERE id = ? AND status = 'issued'",
            )
            .bind(now_ms)
            .bind(&ticket_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE seats SET status = 'available', hold_id = NULL, hold_expires_at_ms = NULL, \
                 version = version + 1 WHERE id = ? AND status = 'sold' AND hold_id = ?",
            )
            .bind(seat_id)
            .bind(&reservation_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE payments SET provider_status = ?, updated_at_ms = ? WHERE id = ?")
                .bind(provider_status)
                .bind(now_ms)
                .bind(&payment_id)
                .execute(&mut *tx)
                .await?;
            let event = TicketEvent::Cancelled {
                schema: EVENT_SCHEMA_VERSION,
                ticket_id: ticket_id.clone(),
                reservation_id,
                event_id: t.try_get("event_id")?,
                seat_id,
                user_id: t.try_get("user_id")?,
                queue_id: t.try_get("queue_id")?,
                price: t.try_get("price_krw")?,
                at: now_ms,
            };
            self.enqueue_in_tx(&mut tx, &event, now_ms).await?;
            tx.commit().await?;
            // The seat is on sale again.
            self.seats_changed();
            Ok(())
        })
        .await
    }
}
