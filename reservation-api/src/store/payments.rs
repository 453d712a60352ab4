//! Payment attempts, and the one transaction that turns a charged attempt
//! into sold seats and tickets (or into a refund when the seats are gone).
//!
//! Order of writes, and why: an attempt is inserted `pending` and committed
//! before Toss is called, so that whatever happens next (a crash, a lost
//! answer) leaves a row the reconciler will settle. Settlement re-reads the
//! payment, the reservation and its seats under the same write discipline
//! as a hold (`FOR UPDATE` on MySQL, `BEGIN IMMEDIATE` on SQLite), so a
//! seat cannot be sold to this payment and held by another buyer at once.

use sqlx::any::AnyRow;
use sqlx::Row;
use ticketon_wire::{TicketEvent, EVENT_SCHEMA_VERSION};
use uuid::Uuid;

use super::sessions::SessionRef;
use super::{placeholders, SqlStore};
use crate::domain::payment::{
    charged_action, seat_still_payable, ChargedAction, PaymentState, SeatClaim,
};
use crate::domain::session::SessionEnd;
use crate::domain::SeatStatus;
use crate::error::{Error, Result};
use crate::store::refunds::RefundRecord;
use crate::store::retrying;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    /// Also the Toss orderId.
    pub reservation_id: String,
    pub user_id: String,
    pub payment_key: String,
    pub amount_krw: i64,
    pub status: PaymentState,
    /// The payment provider that holds the charge (`toss`).
    pub provider: String,
    /// The provider's last known status, in its own spelling (Toss:
    /// `DONE`, `PARTIAL_CANCELED`, ...).
    pub provider_status: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub approved_at_ms: Option<i64>,
    pub settled_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What Toss said about a charged attempt, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargedInfo {
    pub provider_status: String,
    pub approved_at_ms: Option<i64>,
}

/// The result of [`SqlStore::settle_charged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The seats were sold and the tickets issued (now, or before).
    Issued,
    /// The buyer cannot have the seats: this full refund is to be made.
    Refund(RefundRecord),
    /// The attempt was already refunded.
    Cancelled,
}

const PAYMENT_COLUMNS: &str = "id, reservation_id, user_id, payment_key, amount_krw, status, \
     provider, provider_status, failure_code, failure_message, approved_at_ms, settled_at_ms, created_at_ms, \
     updated_at_ms";

fn payment_record(row: &AnyRow) -> Result<PaymentRecord> {
    let status: String = row.try_get("status")?;
    Ok(PaymentRecord {
        id: row.try_get("id")?,
        reservation_id: row.try_get("reservation_id")?,
        user_id: row.try_get("user_id")?,
        payment_key: row.try_get("payment_key")?,
        amount_krw: row.try_get("amount_krw")?,
        status: PaymentState::parse(&status)
            .ok_or_else(|| Error::Internal(format!("unknown payment status {status:?}")))?,
        provider: row.try_get("provider")?,
        provider_status: row.try_get("provider_status")?,
        failure_code: row.try_get("failure_code")?,
        failure_message: row.try_get("failure_message")?,
        approved_at_ms: row.try_get("approved_at_ms")?,
        settled_at_ms: row.try_get("settled_at_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// Keeps stored messages within their column.
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl SqlStore {
    pub async fn get_payment(&self, id: &str) -> Result<Option<PaymentRecord>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_record).transpose()
    }

    pub async fn find_attempt(
        &self,
        reservation_id: &str,
        payment_key: &str,
    ) -> Result<Option<PaymentRecord>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE reservation_id = ? AND payment_key = ?"
        );
        let row = sqlx::query(&sql)
            .bind(reservation_id)
            .bind(payment_key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_record).transpose()
    }

    /// Every attempt of a reservation, oldest first.
    pub async fn payments_of_reservation(
        &self,
        reservation_id: &str,
    ) -> Result<Vec<PaymentRecord>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE reservation_id = ? \
             ORDER BY created_at_ms, id"
        );
        let rows = sqlx::query(&sql)
            .bind(reservation_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_record).collect()
    }

    /// Records a new `pending` attempt, or returns the one already recorded
    /// for this reservation and paymentKey (a retried request).
    pub async fn insert_attempt(
        &self,
        reservation_id: &str,
        user_id: &str,
        provider: &str,
        payment_key: &str,
        amount_krw: i64,
        now_ms: i64,
    ) -> Result<PaymentRecord> {
        let sql = format!(
            "{} INTO payments (id, reservation_id, user_id, provider, payment_key, amount_krw, \
             status, created_at_ms, updated_at_ms) VALUES (?,?,?,?,?,?,'pending',?,?)",
            self.dialect.insert_ignore()
        );
        retrying(|| async {
            sqlx::query(&sql)
                .bind(Uuid::now_v7().to_string())
                .bind(reservation_id)
                .bind(user_id)
                .bind(provider)
                .bind(payment_key)
                .bind(amount_krw)
                .bind(now_ms)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await?;
        self.find_attempt(reservation_id, payment_key)
            .await?
            .ok_or_else(|| Error::Internal("the payment attempt vanished".into()))
    }

    /// Pending attempts last touched before `before_ms` that have no refund
    /// under way (those are driven through their refund), oldest first.
    pub async fn payments_to_reconcile(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'pending' AND updated_at_ms <= ? \
             AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = payments.id) \
             ORDER BY updated_at_ms LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(before_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_record).collect()
    }

    /// Marks a pending attempt `failed`: Toss said it did not charge it.
    pub async fn fail_attempt(
        &self,
        id: &str,
        provider_status: Option<&str>,
        code: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<()> {
        retrying(|| async {
            sqlx::query(
                "UPDATE payments SET status = 'failed', provider_status = ?, failure_code = ?, \
                 failure_message = ?, settled_at_ms = ?, updated_at_ms = ? \
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(provider_status)
            .bind(clip(code, 64))
            .bind(clip(message, 500))
            .bind(now_ms)
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Pushes a pending attempt's `updated_at_ms` forward, so the reconciler
    /// looks at it again only after its grace period.
    pub async fn touch_attempt(&self, id: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE payments SET updated_at_ms = ? WHERE id = ? AND status = 'pending'")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Settles an attempt Toss charged: in one transaction, either sells
    /// the seats, issues one ticket per seat, marks the reservation `paid`,
    /// ends the purchase session and enqueues the events; or, when the seats
    /// are no longer the buyer's, records the full refund to make.
    pub async fn settle_charged(
        &self,
        payment_id: &str,
        info: &ChargedInfo,
        now_ms: i64,
    ) -> Result<Settled> {
        retrying(|| self.settle_charged_once(payment_id, info, now_ms)).await
    }

    async fn settle_charged_once(
        &self,
        payment_id: &str,
        info: &ChargedInfo,
        now_ms: i64,
    ) -> Result<Settled> {
        let mut tx = self.begin_write().await?;
        let fu = self.dialect.for_update();
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?{fu}");
        let payment = match sqlx::query(&sql)
            .bind(payment_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => payment_record(&row)?,
            None => return Err(Error::Internal(format!("no payment {payment_id}"))),
        };
        match payment.status {
            PaymentState::Done => return Ok(Settled::Issued),
            PaymentState::Cancelled => return Ok(Settled::Cancelled),
            // `failed` is accepted too: should Toss ever report a charge for
            // an attempt recorded as failed, the money must still be matched.
            PaymentState::Pending | PaymentState::Failed => {}
        }
        if let Some(refund) = self.full_refund_in_tx(&mut tx, payment_id).await? {
            return Ok(Settled::Refund(refund));
        }
        let rid = payment.reservation_id.as_str();
        let sql = format!(
            "SELECT event_id, user_id, queue_id, entry_id FROM reservations WHERE id = ?{fu}"
        );
        let Some(resv) = sqlx::query(&sql).bind(rid).fetch_optional(&mut *tx).await? else {
            return Err(Error::Internal(format!(
                "payment {payment_id} has no reservation"
            )));
        };
        let event_id: String = resv.try_get("event_id")?;
        let session = SessionRef {
            queue_id: resv.try_get("queue_id")?,
            entry_id: resv.try_get("entry_id")?,
            user_id: resv.try_get("user_id")?,
        };
        let paid_by_other = sqlx::query(
            "SELECT id FROM payments WHERE reservation_id = ? AND status = 'done' AND id <> ?",
        )
        .bind(rid)
        .bind(payment_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        let seat_ids: Vec<i64> = sqlx::query(
            "SELECT seat_id FROM reservation_seats WHERE reservation_id = ? ORDER BY seat_id",
        )
        .bind(rid)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("seat_id"))
        .collect::<Result<_, _>>()?;
        let sql = format!(
            "SELECT id, status, hold_id, hold_expires_at_ms, price_krw FROM seats \
             WHERE id IN ({}) ORDER BY id{fu}",
            placeholders(seat_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in &seat_ids {
            q = q.bind(*id);
        }
        let mut seats = Vec::new();
        for row in q.fetch_all(&mut *tx).await? {
            let status: String = row.try_get("status")?;
            let claim = SeatClaim {
                status: SeatStatus::parse(&status)?,
                hold_id: row.try_get("hold_id")?,
                hold_expires_at_ms: row.try_get("hold_expires_at_ms")?,
            };
            let id: i64 = row.try_get("id")?;
            let price: i64 = row.try_get("price_krw")?;
            seats.push((id, price, seat_still_payable(&claim, rid, now_ms)));
        }
        let all_payable = seats.iter().all(|s| s.2);
        match charged_action(paid_by_other, seats.len(), seat_ids.len(), all_payable) {
            ChargedAction::Refund { code } => {
                let refund = RefundRecord::full(&payment, now_ms);
                self.insert_refund_in_tx(&mut tx, &refund).await?;
                sqlx::query(
                    "UPDATE payments SET status = 'pending', provider_status = ?, approved_at_ms = ?, \
                     failure_code = ?, failure_message = ?, updated_at_ms = ? WHERE id = ?",
                )
                .bind(&info.provider_status)
                .bind(info.approved_at_ms)
                .bind(code)
                .bind("charged after the seats were lost; refunding in full")
                .bind(now_ms)
                .bind(payment_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Settled::Refund(refund))
            }
            ChargedAction::IssueTickets => {
                let sql = format!(
                    "UPDATE seats SET status = 'sold', hold_id = ?, hold_expires_at_ms = NULL, \
                     version = version + 1 WHERE id IN ({})",
                    placeholders(seat_ids.len())
                );
                let mut q = sqlx::query(&sql).bind(rid);
                for id in &seat_ids {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
                sqlx::query(
                    "UPDATE reservations SET status = 'paid', updated_at_ms = ? WHERE id = ?",
                )
                .bind(now_ms)
                .bind(rid)
                .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
                for (seat_id, price, _) in &seats {
                    let ticket_id = Uuid::now_v7().to_string();
                    sqlx::query(
                        "INSERT INTO tickets (id, reservation_id, payment_id, event_id, seat_id, \
                         user_id, queue_id, price_krw, status, issued_at_ms) \
                         VALUES (?,?,?,?,?,?,?,?,'issued',?)",
                    )
                    .bind(&ticket_id)
                    .bind(rid)
                    .bind(payment_id)
                    .bind(&event_id)
                    .bind(*seat_id)
                    .bind(&session.user_id)
                    .bind(&session.queue_id)
                    .bind(*price)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    let event = TicketEvent::Issued {
                        schema: EVENT_SCHEMA_VERSION,
                        ticket_id,
                        reservation_id: rid.to_string(),
                        event_id: event_id.clone(),
                        seat_id: *seat_id,
                        user_id: session.user_id.clone(),
                        queue_id: session.queue_id.clone(),
                        price: *price,
                        at: now_ms,
                    };
                    self.enqueue_in_tx(&mut tx, &event, now_ms).await?;
                }
                self.end_session_in_tx(&mut tx, &session, SessionEnd::Completed, now_ms)
                    .await?;
                tx.commit().await?;
                Ok(Settled::Issued)
            }
        }
    }

    /// Records an attempt Toss reports fully refunded without a refund of
    /// ours (refunded at Toss directly): `cancelled`, no tickets.
    pub async fn cancel_attempt(&self, id: &str, provider_status: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE payments SET status = 'cancelled', provider_status = ?, settled_at_ms = ?, \
             updated_at_ms = ? WHERE id = ? AND status IN ('pending', 'failed')",
        )
        .bind(provider_status)
        .bind(now_ms)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether every seat of a reservation could still be sold to it
    /// (a read without locks, to refuse early; settlement decides again
    /// under lock).
    pub async fn seats_still_payable(
        &self,
        reservation_id: &str,
        seat_ids: &[i64],
        now_ms: i64,
    ) -> Result<bool> {
        if seat_ids.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT status, hold_id, hold_expires_at_ms FROM seats WHERE id IN ({})",
            placeholders(seat_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in seat_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut payable = rows.len() == seat_ids.len();
        for row in &rows {
            let status: String = row.try_get("status")?;
            let claim = SeatClaim {
                status: SeatStatus::parse(&status)?,
                hold_id: row.try_get("hold_id")?,
                hold_expires_at_ms: row.try_get("hold_expires_at_ms")?,
            };
            payable &= seat_still_payable(&claim, reservation_id, now_ms);
        }
        Ok(payable)
    }

    /// Records that the full refund of a charged attempt went through: the
    /// attempt ends `cancelled`.
    pub async fn finish_full_refund(
        &self,
        refund_id: &str,
        payment_id: &str,
        provider_status: &str,
        now_ms: i64,
    ) -> Result<()> {
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "UPDATE refunds SET status = 'done', updated_at_ms = ? \
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(now_ms)
            .bind(refund_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE payments SET status = 'cancelled', provider_status = ?, settled_at_ms = ?, \
                 updated_at_ms = ? WHERE id = ? AND status IN ('pending', 'failed')",
            )
            .bind(provider_status)
            .bind(now_ms)
            .bind(now_ms)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
