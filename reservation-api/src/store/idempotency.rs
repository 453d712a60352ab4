//! Idempotency records: the first response to a request carrying an
//! `Idempotency-Key` is stored and returned again for retries.
//!
//! A row is claimed (`status_code = 0`) before the request runs, so two
//! concurrent retries cannot both take seats; the loser is told the first
//! is still in flight. A claim left by a crashed process is taken over once
//! it is older than [`STALE_CLAIM_MS`].

use sqlx::Row;

use super::Result;
use super::SqlStore;

pub(super) const STALE_CLAIM_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// This request owns the key: run it, then `complete` or `abandon`.
    New,
    /// Already answered: send this again.
    Replay { status: u16, body: Vec<u8> },
    /// Another request with this key is running.
    InProgress,
    /// The key was used for a different request body.
    Mismatch,
}

impl SqlStore {
    pub async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<IdemBegin> {
        let sql = format!(
            "{} INTO idempotency_keys (scope, idem_key, fingerprint, status_code, response_body, \
             created_at_ms) VALUES (?,?,?,0,NULL,?)",
            self.dialect.insert_ignore()
        );
        let claimed = sqlx::query(&sql)
            .bind(scope)
            .bind(key)
            .bind(fingerprint)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        if claimed.rows_affected() == 1 {
            return Ok(IdemBegin::New);
        }
        let row = sqlx::query(
            "SELECT fingerprint, status_code, response_body, created_at_ms FROM idempotency_keys \
             WHERE scope = ? AND idem_key = ?",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Abandoned between our insert and select: the client may retry.
            return Ok(IdemBegin::InProgress);
        };
        let stored_fp: String = row.try_get("fingerprint")?;
        if stored_fp != fingerprint {
            return Ok(IdemBegin::Mismatch);
        }
        let status: i64 = row.try_get("status_code")?;
        if status != 0 {
            let body: Option<Vec<u8>> = row.try_get("response_body")?;
            return Ok(IdemBegin::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body: body.unwrap_or_default(),
            });
        }
        let created: i64 = row.try_get("created_at_ms")?;
        if created > now_ms - STALE_CLAIM_MS {
            return Ok(IdemBegin::InProgress);
        }
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET created_at_ms = ? WHERE scope = ? AND idem_key = ? \
             AND status_code = 0 AND created_at_ms = ?",
        )
        .bind(now_ms)
        .bind(scope)
        .bind(key)
        .bind(created)
        .execute(&self.pool)
        .await?;
        Ok(if taken.rows_affected() == 1 {
            IdemBegin::New
        } else {
            IdemBegin::InProgress
        })
    }

    pub async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status_code = ?, response_body = ? WHERE scope = ? AND idem_key = ?",
        )
        .bind(i64::from(status))
        .bind(body.to_vec())
        .bind(scope)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a claim whose request failed on our side, so a retry runs again.
    pub async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND status_code = 0",
        )
        .bind(scope)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
