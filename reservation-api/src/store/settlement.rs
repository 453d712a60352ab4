//! The writes of settling a charged attempt, inside one transaction that
//! the payment use case opens ([`SqlStore::begin_settlement`]), reads
//! through, decides on (`domain::payment::charged_action`) and commits.
//!
//! Every row it reads is locked under the same write discipline as a hold
//! (`FOR UPDATE` on MySQL, `BEGIN IMMEDIATE` on SQLite), so a seat cannot
//! be sold to this payment and held by another buyer at once.

use sqlx::{Any, Row, Transaction};
use ticketon_wire::{TicketEvent, EVENT_SCHEMA_VERSION};
use uuid::Uuid;

use super::payments::{payment_record, PAYMENT_COLUMNS};
use super::sessions::SessionRef;
use super::{placeholders, stored_seat_status, ChargedInfo, PaymentRecord, RefundRecord};
use super::{Result, SqlStore};
use crate::domain::payment::SeatClaim;
use crate::domain::session::SessionEnd;

/// The reservation a charge pays for, as the sale needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub reservation_id: String,
    pub event_id: String,
    pub session: SessionRef,
}

/// One seat of the order, locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSeat {
    pub seat_id: i64,
    pub price_krw: i64,
    pub claim: SeatClaim,
}

/// An open settlement transaction. Dropped without [`Self::commit`], it
/// rolls back.
#[derive(Debug)]
pub struct Settlement<'s> {
    store: &'s SqlStore,
    tx: Transaction<'static, Any>,
}

impl SqlStore {
    /// Opens the transaction a settlement runs in.
    pub async fn begin_settlement(&self) -> Result<Settlement<'_>> {
        Ok(Settlement {
            store: self,
            tx: self.begin_write().await?,
        })
    }
}

impl Settlement<'_> {
    /// The attempt, locked; `None` if there is none.
    pub async fn lock_payment(&mut self, payment_id: &str) -> Result<Option<PaymentRecord>> {
        let fu = self.store.dialect.for_update();
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?{fu}");
        sqlx::query(&sql)
            .bind(payment_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .as_ref()
            .map(payment_record)
            .transpose()
    }

    /// The full refund already decided for this attempt, if any.
    pub async fn full_refund(&mut self, payment_id: &str) -> Result<Option<RefundRecord>> {
        self.store.full_refund_in_tx(&mut self.tx, payment_id).await
    }

    /// The reservation, locked, with its seats in id order; `None` if there
    /// is no such reservation.
    pub async fn lock_order(&mut self, reservation_id: &str) -> Result<Option<(Order, Vec<i64>)>> {
        let fu = self.store.dialect.for_update();
        let sql = format!(
            "SELECT event_id, user_id, queue_id, entry_id FROM reservations WHERE id = ?{fu}"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(reservation_id)
            .fetch_optional(&mut *self.tx)
            .await?
        else {
            return Ok(None);
        };
        let order = Order {
            reservation_id: reservation_id.to_string(),
            event_id: row.try_get("event_id")?,
            session: SessionRef {
                queue_id: row.try_get("queue_id")?,
                entry_id: row.try_get("entry_id")?,
                user_id: row.try_get("user_id")?,
            },
        };
        let seat_ids = sqlx::query(
            "SELECT seat_id FROM reservation_seats WHERE reservation_id = ? ORDER BY seat_id",
        )
        .bind(reservation_id)
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(|r| r.try_get("seat_id"))
        .collect::<Result<_, _>>()?;
        Ok(Some((order, seat_ids)))
    }

    /// Whether another attempt of the same reservation is already `done`.
    pub async fn paid_by_other(&mut self, reservation_id: &str, payment_id: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT id FROM payments WHERE reservation_id = ? AND status = 'done' AND id <> ?",
        )
        .bind(reservation_id)
        .bind(payment_id)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// The seats, locked, in id order (missing ids are simply absent).
    pub async fn lock_seats(&mut self, seat_ids: &[i64]) -> Result<Vec<OrderSeat>> {
        if seat_ids.is_empty() {
            return Ok(Vec::new());
        }
        let fu = self.store.dialect.for_update();
        let sql = format!(
            "SELECT id, status, hold_id, hold_expires_at_ms, price_krw FROM seats \
             WHERE id IN ({}) ORDER BY id{fu}",
            placeholders(seat_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in seat_ids {
            q = q.bind(*id);
        }
        let mut seats = Vec::new();
        for row in q.fetch_all(&mut *self.tx).await? {
            seats.push(OrderSeat {
                seat_id: row.try_get("id")?,
                price_krw: row.try_get("price_krw")?,
                claim: SeatClaim {
                    status: stored_seat_status(row.try_get("status")?)?,
                    hold_id: row.try_get("hold_id")?,
                    hold_expires_at_ms: row.try_get("hold_expires_at_ms")?,
                },
            });
        }
        Ok(seats)
    }

    /// Records the full refund to make: the attempt stays `pending` (with
    /// the charge's details and why) until the refund is done.
    pub async fn record_refund(
        &mut self,
        refund: &RefundRecord,
        info: &ChargedInfo,
        code: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.store.insert_refund_in_tx(&mut self.tx, refund).await?;
        sqlx::query(
            "UPDATE payments SET status = 'pending', provider_status = ?, approved_at_ms = ?, \
             failure_code = ?, failure_message = ?, updated_at_ms = ? WHERE id = ?",
        )
        .bind(&info.provider_status)
        .bind(info.approved_at_ms)
        .bind(code)
        .bind("charged after the seats were lost; refunding in full")
        .bind(now_ms)
        .bind(&refund.payment_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Sells the seats to the order: seats `sold`, reservation `paid`,
    /// attempt `done`, one ticket (and its event) per seat, and the
    /// purchase session ended.
    pub async fn sell(
        &mut self,
        order: &Order,
        payment_id: &str,
        seats: &[OrderSeat],
        info: &ChargedInfo,
        now_ms: i64,
    ) -> Result<()> {
        let rid = order.reservation_id.as_str();
        let sql = format!(
            "UPDATE seats SET status = 'sold', hold_id = ?, hold_expires_at_ms = NULL, \
             version = version + 1 WHERE id IN ({})",
            placeholders(seats.len())
        );
        let mut q = sqlx::query(&sql).bind(rid);
        for seat in seats {
            q = q.bind(seat.seat_id);
        }
        q.execute(&mut *self.tx).await?;
        sqlx::query("UPDATE reservations SET status = 'paid', updated_at_ms = ? WHERE id = ?")
            .bind(now_ms)
            .bind(rid)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "UPDATE payments SET status = 'done', provider_status = ?, approved_at_ms = ?, \
             failure_code = NULL, failure_message = NULL, settled_at_ms = ?, \
             updated_at_ms = ? WHERE id = ?",
        )
        .bind(&info.provider_status)
        .bind(info.approved_at_ms)
        .bind(now_ms)
        .bind(now_ms)
        .bind(payment_id)
        .execute(&mut *self.tx)
        .await?;
        let session = &order.session;
        for seat in seats {
            let ticket_id = Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO tickets (id, reservation_id, payment_id, event_id, seat_id, \
                 user_id, queue_id, price_krw, status, issued_at_ms) \
                 VALUES (?,?,?,?,?,?,?,?,'issued',?)",
            )
            .bind(&ticket_id)
            .bind(rid)
            .bind(payment_id)
            .bind(&order.event_id)
            .bind(seat.seat_id)
            .bind(&session.user_id)
            .bind(&session.queue_id)
            .bind(seat.price_krw)
            .bind(now_ms)
            .execute(&mut *self.tx)
            .await?;
            let event = TicketEvent::Issued {
                schema: EVENT_SCHEMA_VERSION,
                ticket_id,
                reservation_id: rid.to_string(),
                event_id: order.event_id.clone(),
                seat_id: seat.seat_id,
                user_id: session.user_id.clone(),
                queue_id: session.queue_id.clone(),
                price: seat.price_krw,
                at: now_ms,
            };
            self.store
                .enqueue_in_tx(&mut self.tx, &event, now_ms)
                .await?;
        }
        self.store
            .end_session_in_tx(&mut self.tx, session, SessionEnd::Completed, now_ms)
            .await
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        self.store.seats_changed();
        Ok(())
    }
}
