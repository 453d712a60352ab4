//! Refunds Ticketon asks Toss for: the full refund of an attempt charged
//! after its seats were lost, and the partial refund of one cancelled
//! ticket.
//!
//! Each is written `pending` before Toss is called. Its id is the cancelId
//! of the Toss idempotency key (so a retry can never refund twice) and is
//! written into the cancel reason (so a lookup after an unknown outcome can
//! tell whether this very refund happened).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::payments::PaymentRecord;
use super::SqlStore;
use super::{Result, StoreError};
use crate::domain::payment::RefundState;
use crate::store::retrying;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub payment_id: String,
    /// `None` for the full refund of an attempt.
    pub ticket_id: Option<String>,
    pub amount_krw: i64,
    pub status: RefundState,
    pub failure_code: Option<String>,
    pub created_at_ms: i64,
}

impl RefundRecord {
    /// The one full refund of `payment` (its id is fixed, so deciding it
    /// twice records it once).
    pub fn full(payment: &PaymentRecord, now_ms: i64) -> Self {
        RefundRecord {
            id: format!("full-{}", payment.id),
            payment_id: payment.id.clone(),
            ticket_id: None,
            amount_krw: payment.amount_krw,
            status: RefundState::Pending,
            failure_code: None,
            created_at_ms: now_ms,
        }
    }
}

/// A refund with what is needed to ask Toss for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTarget {
    pub refund: RefundRecord,
    pub payment_key: String,
    /// The Toss orderId.
    pub reservation_id: String,
}

const REFUND_COLUMNS: &str = "r.id, r.payment_id, r.ticket_id, r.amount_krw, r.status, \
     r.failure_code, r.created_at_ms, p.payment_key, p.reservation_id";

fn refund_target(row: &AnyRow) -> Result<RefundTarget> {
    let status: String = row.try_get("status")?;
    Ok(RefundTarget {
        refund: RefundRecord {
            id: row.try_get("id")?,
            payment_id: row.try_get("payment_id")?,
            ticket_id: row.try_get("ticket_id")?,
            amount_krw: row.try_get("amount_krw")?,
            status: RefundState::parse(&status).ok_or_else(|| {
                StoreError::Inconsistent(format!("unknown refund status {status:?}"))
            })?,
            failure_code: row.try_get("failure_code")?,
            created_at_ms: row.try_get("created_at_ms")?,
        },
        payment_key: row.try_get("payment_key")?,
        reservation_id: row.try_get("reservation_id")?,
    })
}

/// A charge an operator must settle by hand: its full refund was refused
/// by the provider, so the money is neither refunded nor earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckRefund {
    pub target: RefundTarget,
    pub event_id: String,
    /// What the charge took (the full refund asks all of it back).
    pub payment_amount_krw: i64,
    pub payment_status: String,
    pub payment_failure_code: Option<String>,
    pub payment_created_at_ms: i64,
    pub refund_updated_at_ms: i64,
}

impl SqlStore {
    /// Refused full refunds of attempts still pending (the reconciler
    /// skips them), oldest first, at most `limit`.
    pub async fn stuck_refunds(&self, limit: i64) -> Result<Vec<StuckRefund>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS}, res.event_id, p.amount_krw AS payment_amount_krw, \
             p.status AS payment_status, \
             p.failure_code AS payment_failure_code, p.created_at_ms AS payment_created_at_ms, \
             r.updated_at_ms AS refund_updated_at_ms \
             FROM refunds r JOIN payments p ON p.id = r.payment_id \
             JOIN reservations res ON res.id = p.reservation_id \
             WHERE r.status = 'failed' AND r.ticket_id IS NULL AND p.status = 'pending' \
             ORDER BY r.updated_at_ms LIMIT ?"
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(StuckRefund {
                    target: refund_target(row)?,
                    event_id: row.try_get("event_id")?,
                    payment_amount_krw: row.try_get("payment_amount_krw")?,
                    payment_status: row.try_get("payment_status")?,
                    payment_failure_code: row.try_get("payment_failure_code")?,
                    payment_created_at_ms: row.try_get("payment_created_at_ms")?,
                    refund_updated_at_ms: row.try_get("refund_updated_at_ms")?,
                })
            })
            .collect()
    }

    pub async fn get_refund(&self, id: &str) -> Result<Option<RefundTarget>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds r JOIN payments p ON p.id = r.payment_id \
             WHERE r.id = ?"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(refund_target).transpose()
    }

    /// Every refund of a payment, oldest first.
    pub async fn refunds_of_payment(&self, payment_id: &str) -> Result<Vec<RefundTarget>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds r JOIN payments p ON p.id = r.payment_id \
             WHERE r.payment_id = ? ORDER BY r.created_at_ms, r.id"
        );
        let rows = sqlx::query(&sql)
            .bind(payment_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(refund_target).collect()
    }

    /// Pending refunds last touched before `before_ms`, oldest first.
    pub async fn refunds_to_reconcile(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<RefundTarget>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds r JOIN payments p ON p.id = r.payment_id \
             WHERE r.status = 'pending' AND r.updated_at_ms <= ? ORDER BY r.updated_at_ms LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(before_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(refund_target).collect()
    }

    /// Toss refused the refund: nothing was refunded.
    pub async fn fail_refund(
        &self,
        id: &str,
        code: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<()> {
        retrying(|| async {
            sqlx::query(
                "UPDATE refunds SET status = 'failed', failure_code = ?, failure_message = ?, \
                 updated_at_ms = ? WHERE id = ? AND status = 'pending'",
            )
            .bind(super::payments::clip(code, 64))
            .bind(super::payments::clip(message, 500))
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn touch_refund(&self, id: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE refunds SET updated_at_ms = ? WHERE id = ? AND status = 'pending'")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn full_refund_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        payment_id: &str,
    ) -> Result<Option<RefundRecord>> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds r JOIN payments p ON p.id = r.payment_id \
             WHERE r.payment_id = ? AND r.ticket_id IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(payment_id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row
            .as_ref()
            .map(refund_target)
            .transpose()?
            .map(|t| t.refund))
    }

    pub(crate) async fn insert_refund_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        refund: &RefundRecord,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, ticket_id, amount_krw, status, created_at_ms, \
             updated_at_ms) VALUES (?,?,?,?,'pending',?,?)",
        )
        .bind(&refund.id)
        .bind(&refund.payment_id)
        .bind(refund.ticket_id.as_deref())
        .bind(refund.amount_krw)
        .bind(refund.created_at_ms)
        .bind(refund.created_at_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
