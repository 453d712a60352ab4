//! Where a fan's entry in the waiting room stands: the body of a poll, of a
//! join, and of every push message (Server-Sent Events and WebSocket), so
//! that the three cannot drift apart. Described in
//! `proto-notes/queue-server.md`; field names are camelCase on the wire.

use serde::{Deserialize, Serialize};

/// A queue's state as a waiting fan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    Open,
    /// Admissions are paused; the line keeps its order.
    Paused,
    /// No new joins; the line is still served.
    Closed,
    /// Every seat is sold: no new joins, nobody admitted. A fan still in
    /// line can go home (an operator may reopen the line if seats return).
    #[serde(rename = "sold_out")]
    SoldOut,
    /// A scheduled sale that has not opened (or whose pre-queue is being
    /// drawn): fans who join now line up behind the pre-queue.
    Prequeue,
}

/// The state of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum EntryStatus {
    #[serde(rename_all = "camelCase")]
    Waiting {
        /// 1 is next in line.
        position: u64,
        eta_seconds: u64,
        /// When a polling client should ask again.
        poll_after_ms: u64,
        /// Lets a client say "the sale is paused".
        queue_status: QueueState,
    },
    /// In the pre-queue of a scheduled sale: no place yet. At `opensAt`
    /// everyone in the pre-queue gets a place by a published draw
    /// (`proto-notes/prequeue-draw.md`); the wait after the opening is
    /// likely between the two figures (25th and 75th percentile of the
    /// places the draw may give).
    #[serde(rename_all = "camelCase")]
    Prequeue {
        /// RFC 3339, UTC.
        opens_at: String,
        /// Fans in the pre-queue so far.
        participants: u64,
        /// Seconds from now, the time until the opening included.
        eta_seconds_p25: u64,
        eta_seconds_p75: u64,
        poll_after_ms: u64,
        /// This entry's identifier in the draw's published list.
        draw_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Admitted {
        /// The JWT the reservation-api accepts (see [`crate::AdmissionClaims`]).
        admission_token: String,
        /// RFC 3339, UTC.
        expires_at: String,
    },
    /// The admission ran out unused, or the session ended.
    Expired,
    /// The fan left the line.
    Left,
}

impl EntryStatus {
    /// True for the states an entry never leaves.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            EntryStatus::Waiting { .. } | EntryStatus::Prequeue { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_and_admitted_read_as_documented() {
        let waiting = EntryStatus::Waiting {
            position: 3,
            eta_seconds: 12,
            poll_after_ms: 2000,
            queue_status: QueueState::Paused,
        };
        assert_eq!(
            serde_json::to_value(&waiting).unwrap(),
            serde_json::json!({"status":"waiting","position":3,"etaSeconds":12,
                "pollAfterMs":2000,"queueStatus":"paused"})
        );
        let admitted: EntryStatus = serde_json::from_str(
            r#"{"status":"admitted","admissionToken":"t","expiresAt":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(admitted.is_terminal());
        assert_eq!(
            serde_json::to_string(&EntryStatus::Left).unwrap(),
            r#"{"status":"left"}"#
        );
        assert!(!waiting.is_terminal());
    }
}
