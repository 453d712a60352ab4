//! What waits in the database for a background task, for `/metrics`: the
//! outbox relay, the payment reconciler, and the operators.

use sqlx::Row;

use super::{Result, SqlStore};

/// How many rows wait, and since when (Unix ms of the oldest; `None` when
/// nothing waits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub rows: i64,
    pub oldest_created_at_ms: Option<i64>,
}

impl Backlog {
    /// Seconds the oldest row has waited at `now_ms` (0 when none waits).
    pub fn oldest_age_secs(&self, now_ms: i64) -> f64 {
        self.oldest_created_at_ms
            .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// Events committed and not yet published.
    pub outbox: Backlog,
    /// Payments whose outcome is not settled yet (the reconciler's work).
    pub payments_pending: Backlog,
    /// Refunds asked of the provider and not confirmed yet.
    pub refunds_pending: Backlog,
    /// Refunds the provider refused: an operator must act.
    pub refunds_failed: i64,
}

impl SqlStore {
    pub async fn backlogs(&self) -> Result<Backlogs> {
        Ok(Backlogs {
            outbox: self
                .backlog("SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM outbox WHERE published_at_ms IS NULL")
                .await?,
            payments_pending: self
                .backlog("SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM payments WHERE status = 'pending'")
                .await?,
            refunds_pending: self
                .backlog("SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM refunds WHERE status = 'pending'")
                .await?,
            refunds_failed: self
                .backlog("SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM refunds WHERE status = 'failed'")
                .await?
                .rows,
        })
    }

    async fn backlog(&self, sql: &'static str) -> Result<Backlog> {
        let row = sqlx::query(sql).fetch_one(&self.pool).await?;
        Ok(Backlog {
            rows: row.try_get("n")?,
            oldest_created_at_ms: row.try_get("oldest")?,
        })
    }

    /// Connections open in the pool, idle among them, and the cap.
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(size);
        (size, idle, self.pool.options().get_max_connections())
    }

    /// One round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
