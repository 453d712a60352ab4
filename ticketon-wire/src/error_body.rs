//! The one error body every Ticketon HTTP endpoint answers with:
//! `{"error":{"code":"queue_closed","message":"..."}}`.
//!
//! `code` is a stable machine-readable snake_case string that clients may
//! switch on; `message` is for humans and may change. Some codes carry
//! details next to them (`seatIds` with `seat_unavailable`): they are
//! fields of `error` beside `code` and `message`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Code-specific fields, flattened beside `code` and `message`.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                details: serde_json::Map::new(),
            },
        }
    }

    /// Adds a detail field (`name` in camelCase, as every wire field).
    pub fn with_detail(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.error.details.insert(name.to_string(), value.into());
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing two strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody::new("queue_closed", "the queue \"x\" is closed");
        let v: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "queue_closed");
        assert_eq!(v["error"]["message"], "the queue \"x\" is closed");
        assert_eq!(v["error"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn details_sit_beside_code_and_message_and_read_back() {
        let body = ErrorBody::new("seat_unavailable", "taken").with_detail("seatIds", vec![3, 7]);
        let v: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(v["error"]["seatIds"], serde_json::json!([3, 7]));
        let back: ErrorBody = serde_json::from_value(v).unwrap();
        assert_eq!(back, body);
    }
}
