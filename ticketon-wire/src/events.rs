//! Events exchanged between the services (over Kafka in production, over an
//! in-process bus on embedded defaults). Each is JSON with a `type` tag and a
//! `schema` version so that consumers can refuse what they do not understand.
//!
//! Topics and keys: every event is keyed by `queueId`, so that all events of
//! one sale land in one partition and keep their order.

use serde::{Deserialize, Serialize};

pub const EVENT_SCHEMA_VERSION: u32 = 1;

pub const TOPIC_ADMISSIONS: &str = "ticketon.admissions";
pub const TOPIC_SESSIONS: &str = "ticketon.sessions";
pub const TOPIC_ENTRIES: &str = "ticketon.entries";
pub const TOPIC_TICKETS: &str = "ticketon.tickets";

/// Published by the queue-server on `ticketon.admissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum AdmissionEvent {
    Admitted {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        /// Unix milliseconds.
        admitted_at: i64,
        /// Unix milliseconds: when the admission session ends by itself.
        expires_at: i64,
    },
    Left {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        at: i64,
    },
    Expired {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        at: i64,
    },
}

/// Published by the reservation-api on `ticketon.sessions` when a purchase
/// session ends, so the queue-server can free the slot at once, and when an
/// event's last seat is sold, so that the waiting room stops admitting fans
/// to a sale with nothing left and tells its line so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum SessionEvent {
    /// The buyer paid.
    Completed {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        at: i64,
    },
    /// The buyer gave up (released the hold or left).
    Released {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        at: i64,
    },
    /// The hold or the session ran out.
    Expired {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        at: i64,
    },
    /// Every seat of the event sold to `queueId`'s fans is sold: none is
    /// available and none is held.
    SoldOut {
        schema: u32,
        queue_id: String,
        event_id: String,
        at: i64,
    },
}

/// Published by the queue-server on `ticketon.entries` when enabled, for analytics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum EntryEvent {
    Joined {
        schema: u32,
        queue_id: String,
        entry_id: String,
        user_id: String,
        seq: u64,
        at: i64,
    },
}

/// Published by the reservation-api on `ticketon.tickets` (through its
/// outbox, so an event leaves exactly when its database change commits):
/// a ticket was issued after a payment, or cancelled and refunded. Keyed by
/// `queueId` like every event, so one sale's ticket events stay in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum TicketEvent {
    Issued {
        schema: u32,
        ticket_id: String,
        reservation_id: String,
        event_id: String,
        seat_id: i64,
        user_id: String,
        queue_id: String,
        /// Integer KRW.
        price: i64,
        at: i64,
    },
    Cancelled {
        schema: u32,
        ticket_id: String,
        reservation_id: String,
        event_id: String,
        seat_id: i64,
        user_id: String,
        queue_id: String,
        /// What was refunded, integer KRW.
        price: i64,
        at: i64,
    },
}

impl TicketEvent {
    pub fn queue_id(&self) -> &str {
        match self {
            TicketEvent::Issued { queue_id, .. } | TicketEvent::Cancelled { queue_id, .. } => {
                queue_id
            }
        }
    }
}

impl AdmissionEvent {
    pub fn queue_id(&self) -> &str {
        match self {
            AdmissionEvent::Admitted { queue_id, .. }
            | AdmissionEvent::Left { queue_id, .. }
            | AdmissionEvent::Expired { queue_id, .. } => queue_id,
        }
    }

    pub fn entry_id(&self) -> &str {
        match self {
            AdmissionEvent::Admitted { entry_id, .. }
            | AdmissionEvent::Left { entry_id, .. }
            | AdmissionEvent::Expired { entry_id, .. } => entry_id,
        }
    }
}

impl SessionEvent {
    pub fn queue_id(&self) -> &str {
        match self {
            SessionEvent::Completed { queue_id, .. }
            | SessionEvent::Released { queue_id, .. }
            | SessionEvent::Expired { queue_id, .. }
            | SessionEvent::SoldOut { queue_id, .. } => queue_id,
        }
    }

    /// The entry whose session ended; `None` for an event about the sale.
    pub fn entry_id(&self) -> Option<&str> {
        match self {
            SessionEvent::Completed { entry_id, .. }
            | SessionEvent::Released { entry_id, .. }
            | SessionEvent::Expired { entry_id, .. } => Some(entry_id),
            SessionEvent::SoldOut { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_event_json_has_type_schema_and_camel_case_fields() {
        let e = AdmissionEvent::Admitted {
            schema: EVENT_SCHEMA_VERSION,
            queue_id: "q".into(),
            entry_id: "e".into(),
            user_id: "u".into(),
            admitted_at: 1,
            expires_at: 2,
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "admitted");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["queueId"], "q");
        assert_eq!(v["expiresAt"], 2);
        let back: AdmissionEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ticket_event_round_trips_with_type_and_queue_id() {
        let e = TicketEvent::Cancelled {
            schema: EVENT_SCHEMA_VERSION,
            ticket_id: "t".into(),
            reservation_id: "r".into(),
            event_id: "ev".into(),
            seat_id: 7,
            user_id: "u".into(),
            queue_id: "q".into(),
            price: 50_000,
            at: 9,
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "cancelled");
        assert_eq!(v["ticketId"], "t");
        assert_eq!(v["seatId"], 7);
        assert_eq!(e.queue_id(), "q");
        assert_eq!(serde_json::from_value::<TicketEvent>(v).unwrap(), e);
    }

    #[test]
    fn session_event_round_trips() {
        let e = SessionEvent::Released {
            schema: EVENT_SCHEMA_VERSION,
            queue_id: "q".into(),
            entry_id: "e".into(),
            user_id: "u".into(),
            at: 5,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"type\":\"released\""));
        assert_eq!(serde_json::from_str::<SessionEvent>(&json).unwrap(), e);
    }

    #[test]
    fn sold_out_reads_as_documented() {
        let e: SessionEvent = serde_json::from_str(
            r#"{"type":"sold_out","schema":1,"queueId":"q","eventId":"ev","at":7}"#,
        )
        .unwrap();
        assert_eq!(e.queue_id(), "q");
        assert_eq!(e.entry_id(), None);
    }
}
