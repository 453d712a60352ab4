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
/// session ends, so the queue-server can free the slot at once.
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

impl AdmissionEvent {
    pub fn queue_id(&self) -> &str {
        match self {
            AdmissionEvent::Admitted { queue_id, .. }
            | AdmissionEvent::Left { queue_id, .. }
            | AdmissionEvent::Expired { queue_id, .. } => queue_id,
        }
    }
}

impl SessionEvent {
    pub fn queue_id(&self) -> &str {
        match self {
            SessionEvent::Completed { queue_id, .. }
            | SessionEvent::Released { queue_id, .. }
            | SessionEvent::Expired { queue_id, .. } => queue_id,
        }
    }

    pub fn entry_id(&self) -> &str {
        match self {
            SessionEvent::Completed { entry_id, .. }
            | SessionEvent::Released { entry_id, .. }
            | SessionEvent::Expired { entry_id, .. } => entry_id,
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
}
