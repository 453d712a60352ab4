//! Payment attempts. An attempt is inserted `pending` and committed before
//! the provider is called, so that whatever happens next (a crash, a lost
//! answer) leaves a row the reconciler will settle; the settlement itself
//! is in `settlement.rs`.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::{placeholders, retrying, stored_seat_status, Result, SqlStore, StoreError};
use crate::domain::payment::{PaymentState, SeatClaim};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    /// Also the provider's orderId.
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

/// What the provider said about a charged attempt, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargedInfo {
    pub provider_status: String,
    pub approved_at_ms: Option<i64>,
}

pub(super) const PAYMENT_COLUMNS: &str = "id, reservation_id, user_id, payment_key, amount_krw, status, \
     provider, provider_status, failure_code, failure_message, approved_at_ms, settled_at_ms, created_at_ms, \
     updated_at_ms";

pub(super) fn payment_record(row: &AnyRow) -> Result<PaymentRecord> {
    let status: String = row.try_get("status")?;
    Ok(PaymentRecord {
        id: row.try_get("id")?,
        reservation_id: row.try_get("reservation_id")?,
        user_id: row.try_get("user_id")?,
        payment_key: row.try_get("payment_key")?,
        amount_krw: row.try_get("amount_krw")?,
        status: PaymentState::parse(&status).ok_or_else(|| {
            StoreError::Inconsistent(format!("unknown payment status {status:?}"))
        })?,
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
            .ok_or_else(|| StoreError::Inconsistent("the payment attempt vanished".into()))
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

    /// Records an attempt the provider reports fully refunded without a
    /// refund of ours (refunded at the provider directly): `cancelled`, no tickets.
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

    /// The seats' claims, read without locks (to refuse a payment early;
    /// settlement decides again under lock). Missing ids are absent.
    pub async fn seat_claims(&self, seat_ids: &[i64]) -> Result<Vec<SeatClaim>> {
        if seat_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT status, hold_id, hold_expires_at_ms FROM seats WHERE id IN ({})",
            placeholders(seat_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in seat_ids {
            q = q.bind(*id);
        }
        let mut claims = Vec::new();
        for row in q.fetch_all(&self.pool).await? {
            claims.push(SeatClaim {
                status: stored_seat_status(row.try_get("status")?)?,
                hold_id: row.try_get("hold_id")?,
                hold_expires_at_ms: row.try_get("hold_expires_at_ms")?,
            });
        }
        Ok(claims)
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
