//! The transactional outbox: events that must leave with a database change
//! are inserted in the same transaction, and `outbox_relay` publishes them
//! after commit. A crash between commit and publish only delays an event;
//! it can publish one twice (consumers are idempotent), never lose one.

use sqlx::{Any, Row, Transaction};
use ticketon_bus::BusEvent;

use super::SqlStore;
use super::{Result, StoreError};

/// One event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    /// The trace of the request that wrote it.
    pub traceparent: Option<String>,
}

impl SqlStore {
    /// Appends `event` (JSON, its home topic, keyed by its queueId) in `tx`.
    pub(crate) async fn enqueue_in_tx<E: BusEvent>(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &E,
        now_ms: i64,
    ) -> Result<()> {
        let payload = serde_json::to_vec(event)
            .map_err(|e| StoreError::Inconsistent(format!("event could not be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO outbox (topic, msg_key, payload, created_at_ms, traceparent) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(E::TOPIC)
        .bind(event.key())
        .bind(payload)
        .bind(now_ms)
        .bind(ticketon_runtime::trace_context::current_traceparent())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The oldest unpublished events, in the order they were written.
    pub async fn unpublished(&self, limit: i64) -> Result<Vec<OutboxRecord>> {
        let rows = sqlx::query(
            "SELECT id, topic, msg_key, payload, traceparent FROM outbox \
             WHERE published_at_ms IS NULL ORDER BY id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRecord {
                    id: r.try_get("id")?,
                    topic: r.try_get("topic")?,
                    key: r.try_get("msg_key")?,
                    payload: r.try_get("payload")?,
                    traceparent: r.try_get("traceparent")?,
                })
            })
            .collect()
    }

    pub async fn mark_published(&self, ids: &[i64], now_ms: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET published_at_ms = ? WHERE id IN ({})",
            super::placeholders(ids.len())
        );
        let mut q = sqlx::query(&sql).bind(now_ms);
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes published events older than `before_ms`, so the table stays small.
    pub async fn prune_outbox(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE published_at_ms IS NOT NULL AND published_at_ms < ?",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
