//! The admission-session registry (rules in `domain::session`).

use sqlx::{Any, Row, Transaction};
use ticketon_wire::{AdmissionEvent, SessionEvent, EVENT_SCHEMA_VERSION};

use super::SqlStore;
use super::{Result, StoreError};
use crate::domain::session::{on_admission_event, SessionEnd, SessionStatus, SessionWrite};
use crate::error::ErrorCode;

/// The admission a purchase session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub queue_id: String,
    pub entry_id: String,
    pub user_id: String,
}

fn stored_status(s: &str) -> Result<SessionStatus> {
    SessionStatus::parse(s).ok_or_else(|| {
        StoreError::Inconsistent(format!("unknown session status {s:?} in the database"))
    })
}

impl SqlStore {
    pub async fn session_status(&self, entry_id: &str) -> Result<Option<SessionStatus>> {
        let row = sqlx::query("SELECT status FROM admission_sessions WHERE entry_id = ?")
            .bind(entry_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| stored_status(&r.try_get::<String, _>("status")?))
            .transpose()
    }

    async fn insert_session<'c, E>(
        &self,
        executor: E,
        session: &SessionRef,
        status: SessionStatus,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        let sql = format!(
            "{} INTO admission_sessions \
             (entry_id, queue_id, user_id, status, expires_at_ms, updated_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
            self.dialect.insert_ignore()
        );
        let done = sqlx::query(&sql)
            .bind(&session.entry_id)
            .bind(&session.queue_id)
            .bind(&session.user_id)
            .bind(status.as_str())
            .bind(expires_at_ms)
            .bind(now_ms)
            .execute(executor)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Called when an admission token is used to take seats: opens the
    /// session if the `admitted` event has not arrived yet (the token's
    /// signature already proves the admission), and refuses a session that
    /// ended.
    pub async fn ensure_session_active(
        &self,
        session: &SessionRef,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.insert_session(
            &self.pool,
            session,
            SessionStatus::Active,
            expires_at_ms,
            now_ms,
        )
        .await?;
        match self.session_status(&session.entry_id).await? {
            Some(SessionStatus::Active) => Ok(()),
            Some(ended) => Err(StoreError::refused(
                ErrorCode::SessionEnded,
                format!(
                    "this admission's purchase session has ended ({}); join the queue again",
                    ended.as_str()
                ),
            )),
            None => Err(StoreError::Inconsistent("the session row vanished".into())),
        }
    }

    /// Applies one `ticketon.admissions` event, idempotently.
    pub async fn apply_admission_event(&self, event: &AdmissionEvent, now_ms: i64) -> Result<()> {
        let (session, expires_at_ms) = match event {
            AdmissionEvent::Admitted {
                queue_id,
                entry_id,
                user_id,
                expires_at,
                ..
            } => (
                SessionRef {
                    queue_id: queue_id.clone(),
                    entry_id: entry_id.clone(),
                    user_id: user_id.clone(),
                },
                *expires_at,
            ),
            AdmissionEvent::Left {
                queue_id,
                entry_id,
                user_id,
                at,
                ..
            }
            | AdmissionEvent::Expired {
                queue_id,
                entry_id,
                user_id,
                at,
                ..
            } => (
                SessionRef {
                    queue_id: queue_id.clone(),
                    entry_id: entry_id.clone(),
                    user_id: user_id.clone(),
                },
                *at,
            ),
        };
        // Two rounds at most: an insert can lose a race with a token's first
        // use, after which the decision is made again on the row that won.
        for _ in 0..2 {
            let current = self.session_status(&session.entry_id).await?;
            match on_admission_event(current, event) {
                SessionWrite::Nothing => return Ok(()),
                SessionWrite::Insert(status) => {
                    if self
                        .insert_session(&self.pool, &session, status, expires_at_ms, now_ms)
                        .await?
                    {
                        return Ok(());
                    }
                }
                SessionWrite::End(status) => {
                    sqlx::query(
                        "UPDATE admission_sessions SET status = ?, updated_at_ms = ? \
                         WHERE entry_id = ? AND status = 'active'",
                    )
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(&session.entry_id)
                    .execute(&self.pool)
                    .await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Ends the entry's purchase session in `tx` and, if this is what ended
    /// it, enqueues the matching `ticketon.sessions` event in the same
    /// transaction. Ending an already ended session changes nothing and
    /// publishes nothing, so each session's end is announced once.
    pub(crate) async fn end_session_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        session: &SessionRef,
        end: SessionEnd,
        now_ms: i64,
    ) -> Result<()> {
        let status = end.status();
        let updated = sqlx::query(
            "UPDATE admission_sessions SET status = ?, updated_at_ms = ? \
             WHERE entry_id = ? AND status = 'active'",
        )
        .bind(status.as_str())
        .bind(now_ms)
        .bind(&session.entry_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        let ended_now = updated == 1
            || self
                .insert_session(&mut **tx, session, status, now_ms, now_ms)
                .await?;
        if !ended_now {
            return Ok(());
        }
        let (queue_id, entry_id, user_id) = (
            session.queue_id.clone(),
            session.entry_id.clone(),
            session.user_id.clone(),
        );
        let schema = EVENT_SCHEMA_VERSION;
        let event = match end {
            SessionEnd::Completed => SessionEvent::Completed {
                schema,
                queue_id,
                entry_id,
                user_id,
                at: now_ms,
            },
            SessionEnd::Released => SessionEvent::Released {
                schema,
                queue_id,
                entry_id,
                user_id,
                at: now_ms,
            },
            SessionEnd::Expired => SessionEvent::Expired {
                schema,
                queue_id,
                entry_id,
                user_id,
                at: now_ms,
            },
        };
        self.enqueue_in_tx(tx, &event, now_ms).await
    }
}
