//! Purchase sessions: what an admission buys, and when it ends.
//!
//! An admitted queue entry opens one purchase session. It ends exactly once:
//! the buyer paid (`completed`), released the hold (`released`), the hold or
//! the session ran out (`expired`), or the fan left the queue (`left`). An
//! ended session never reopens, so a token whose session ended buys nothing
//! more, and the queue-server hears of each end once (as a
//! `ticketon.sessions` event) and lets the next fan in.

use ticketon_wire::AdmissionEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Active,
    Completed,
    Released,
    Expired,
    Left,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Released => "released",
            SessionStatus::Expired => "expired",
            SessionStatus::Left => "left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => SessionStatus::Active,
            "completed" => SessionStatus::Completed,
            "released" => SessionStatus::Released,
            "expired" => SessionStatus::Expired,
            "left" => SessionStatus::Left,
            _ => return None,
        })
    }

    pub fn is_active(self) -> bool {
        self == SessionStatus::Active
    }
}

/// How a session ends on the reservation side; each becomes a
/// `ticketon.sessions` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Completed,
    Released,
    Expired,
}

impl SessionEnd {
    pub fn status(self) -> SessionStatus {
        match self {
            SessionEnd::Completed => SessionStatus::Completed,
            SessionEnd::Released => SessionStatus::Released,
            SessionEnd::Expired => SessionStatus::Expired,
        }
    }
}

/// What to write for an admission event, given the session's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// No row yet: create it with this status.
    Insert(SessionStatus),
    /// An active session ends with this status.
    End(SessionStatus),
    /// Already applied, or the session already ended otherwise.
    Nothing,
}

/// The status an event of `ticketon.admissions` ends a session with, or
/// `None` for `admitted`, which opens one.
pub fn ended_by(event: &AdmissionEvent) -> Option<SessionStatus> {
    match event {
        AdmissionEvent::Admitted { .. } => None,
        AdmissionEvent::Left { .. } => Some(SessionStatus::Left),
        AdmissionEvent::Expired { .. } => Some(SessionStatus::Expired),
    }
}

/// Applies an event of `ticketon.admissions`. Idempotent: a redelivered
/// event, or one arriving after the session ended on this side, writes
/// nothing. An end that arrives before its `admitted` (possible across
/// partitions after a rebalance) still records the end, so the late
/// `admitted` cannot reopen the session.
pub fn on_admission_event(current: Option<SessionStatus>, event: &AdmissionEvent) -> SessionWrite {
    match (current, ended_by(event)) {
        (None, None) => SessionWrite::Insert(SessionStatus::Active),
        (None, Some(end)) => SessionWrite::Insert(end),
        (Some(SessionStatus::Active), Some(end)) => SessionWrite::End(end),
        (Some(_), _) => SessionWrite::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted() -> AdmissionEvent {
        AdmissionEvent::Admitted {
            schema: 1,
            queue_id: "q".into(),
            entry_id: "e".into(),
            user_id: "u".into(),
            admitted_at: 0,
            expires_at: 1,
        }
    }

    fn left() -> AdmissionEvent {
        AdmissionEvent::Left {
            schema: 1,
            queue_id: "q".into(),
            entry_id: "e".into(),
            user_id: "u".into(),
            at: 0,
        }
    }

    #[test]
    fn admitted_opens_once() {
        assert_eq!(
            on_admission_event(None, &admitted()),
            SessionWrite::Insert(SessionStatus::Active)
        );
        assert_eq!(
            on_admission_event(Some(SessionStatus::Active), &admitted()),
            SessionWrite::Nothing
        );
    }

    #[test]
    fn an_ended_session_never_reopens() {
        for ended in [
            SessionStatus::Completed,
            SessionStatus::Released,
            SessionStatus::Expired,
            SessionStatus::Left,
        ] {
            assert_eq!(
                on_admission_event(Some(ended), &admitted()),
                SessionWrite::Nothing
            );
            assert_eq!(
                on_admission_event(Some(ended), &left()),
                SessionWrite::Nothing
            );
        }
    }

    #[test]
    fn leaving_ends_an_active_session_and_an_early_end_is_recorded() {
        assert_eq!(
            on_admission_event(Some(SessionStatus::Active), &left()),
            SessionWrite::End(SessionStatus::Left)
        );
        assert_eq!(
            on_admission_event(None, &left()),
            SessionWrite::Insert(SessionStatus::Left)
        );
        assert_eq!(ended_by(&left()), Some(SessionStatus::Left));
        assert_eq!(ended_by(&admitted()), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            SessionStatus::Active,
            SessionStatus::Completed,
            SessionStatus::Released,
            SessionStatus::Expired,
            SessionStatus::Left,
        ] {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SessionStatus::parse("other"), None);
    }
}
