//! The admission-session registry (rules in `domain::session`).
//!
//! `ticketon.admissions` events arrive in bursts (a flash sale admits about
//! a thousand fans a second), so they are applied in batches, one write
//! transaction each, with blind conditional writes instead of a read before
//! every write ([`SqlStore::apply_admission_events`]); the one-event path
//! ([`SqlStore::apply_admission_event`]) reads first and decides with
//! [`on_admission_event`]. Both reach the same state for the same events.

use sqlx::{Any, Row, Transaction};
use ticketon_wire::{AdmissionEvent, SessionEvent, EVENT_SCHEMA_VERSION};

use super::SqlStore;
use super::{retrying, Result, StoreError};
use crate::domain::session::{
    ended_by, on_admission_event, SessionEnd, SessionStatus, SessionWrite,
};
use crate::error::ErrorCode;

/// The admission a purchase session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub queue_id: String,
    pub entry_id: String,
    pub user_id: String,
}

/// The session an admission event is about, and the `expires_at_ms` a row
/// created from it gets: the admission's end for `admitted`, the moment of
/// the end for `left` and `expired`.
fn session_of(event: &AdmissionEvent) -> (SessionRef, i64) {
    match event {
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
    }
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

    /// Ends the entry's session with `status` if it is active; true if it did.
    async fn end_active_session<'c, E>(
        &self,
        executor: E,
        entry_id: &str,
        status: SessionStatus,
        now_ms: i64,
    ) -> Result<bool>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        let done = sqlx::query(
            "UPDATE admission_sessions SET status = ?, updated_at_ms = ? \
             WHERE entry_id = ? AND status = 'active'",
        )
        .bind(status.as_str())
        .bind(now_ms)
        .bind(entry_id)
        .execute(executor)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Applies one `ticketon.admissions` event, idempotently. The consumer
    /// applies batches with [`SqlStore::apply_admission_events`] instead;
    /// this is the reference it must agree with.
    pub async fn apply_admission_event(&self, event: &AdmissionEvent, now_ms: i64) -> Result<()> {
        let (session, expires_at_ms) = session_of(event);
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
                    self.end_active_session(&self.pool, &session.entry_id, status, now_ms)
                        .await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Applies `ticketon.admissions` events in order, in one write
    /// transaction, idempotently: the state afterwards is the state
    /// [`SqlStore::apply_admission_event`] reaches on each event in turn.
    ///
    /// Why: one event per round trip (a read, then a write, each on its own
    /// pool checkout) cannot keep up with a flash sale's admissions. Here
    /// nothing is read; every write is conditional, so it does what
    /// [`on_admission_event`] would decide from the row it finds:
    /// - `admitted`: insert the session as active unless a row exists (active
    ///   already: a redelivery; ended: an ended session never reopens).
    /// - `left` / `expired`: end the session if it is active; else insert it
    ///   ended (the end arrived before its `admitted`) unless a row exists;
    ///   if that row appeared since the update (a token's first use on
    ///   MariaDB, which locks nothing it did not find), end it if it is
    ///   active. The steps of `end_session_in_tx`, without announcing the
    ///   end: the queue-server already knows, it sent it.
    ///
    /// All events get the same `updated_at_ms`. A retryable failure (a
    /// deadlock, a busy SQLite) re-runs the whole transaction; any other
    /// failure rolls the whole batch back.
    pub async fn apply_admission_events(
        &self,
        events: &[AdmissionEvent],
        now_ms: i64,
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        retrying(|| async {
            let mut tx = self.begin_write().await?;
            for event in events {
                self.apply_admission_event_in_tx(&mut tx, event, now_ms)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// One event of [`SqlStore::apply_admission_events`], in `tx`.
    async fn apply_admission_event_in_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &AdmissionEvent,
        now_ms: i64,
    ) -> Result<()> {
        let (session, expires_at_ms) = session_of(event);
        let Some(end) = ended_by(event) else {
            self.insert_session(
                &mut **tx,
                &session,
                SessionStatus::Active,
                expires_at_ms,
                now_ms,
            )
            .await?;
            return Ok(());
        };
        if self
            .end_active_session(&mut **tx, &session.entry_id, end, now_ms)
            .await?
            || self
                .insert_session(&mut **tx, &session, end, expires_at_ms, now_ms)
                .await?
        {
            return Ok(());
        }
        self.end_active_session(&mut **tx, &session.entry_id, end, now_ms)
            .await?;
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
