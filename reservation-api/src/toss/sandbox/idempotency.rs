//! The sandbox's `Idempotency-Key` memory: the first answer per key is
//! replayed to every later request with that key.
//!
//! Like Toss, a key is scoped by method and path (the API key is fixed per
//! sandbox). While the first request is still running a second one gets
//! `409 IDEMPOTENT_REQUEST_PROCESSING`. Answers that say "try again"
//! (5xx, `PROVIDER_ERROR`) are not kept, so a retry with the same key runs
//! again; every other answer, successes and declines alike, is kept.
//! What is kept is the answer the sandbox *meant* to send: after a
//! simulated lost response the retry gets the success that was lost.

use std::collections::HashMap;

/// A complete answer: status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl StoredAnswer {
    /// Whether a retry with the same key should see this answer again.
    pub(super) fn is_final(&self) -> bool {
        if self.status >= 500 {
            return false;
        }
        let code = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned));
        code.as_deref() != Some("PROVIDER_ERROR")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Slot {
    pub scope: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Begin {
    /// First request with this key: run it, then `finish` or `abandon`.
    Fresh,
    /// Seen before: answer this.
    Replay(StoredAnswer),
    /// The first request with this key is still running.
    InFlight,
}

#[derive(Default)]
pub(super) struct IdempotencyStore {
    slots: HashMap<Slot, Option<StoredAnswer>>,
}

impl IdempotencyStore {
    pub(super) fn begin(&mut self, slot: &Slot) -> Begin {
        match self.slots.get(slot) {
            Some(Some(answer)) => Begin::Replay(answer.clone()),
            Some(None) => Begin::InFlight,
            None => {
                self.slots.insert(slot.clone(), None);
                Begin::Fresh
            }
        }
    }

    /// Records the answer of a fresh request (or forgets the key when the
    /// answer is not final).
    pub(super) fn finish(&mut self, slot: &Slot, answer: &StoredAnswer) {
        if answer.is_final() {
            self.slots.insert(slot.clone(), Some(answer.clone()));
        } else {
            self.abandon(slot);
        }
    }

    /// Forgets a fresh request that ended without a final answer.
    pub(super) fn abandon(&mut self, slot: &Slot) {
        if let Some(None) = self.slots.get(slot) {
            self.slots.remove(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(key: &str) -> Slot {
        Slot {
            scope: "POST /v1/payments/confirm".into(),
            key: key.into(),
        }
    }

    fn answer(status: u16, body: &str) -> StoredAnswer {
        StoredAnswer {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_first_final_answer_is_replayed() {
        let mut s = IdempotencyStore::default();
        assert_eq!(s.begin(&slot("k")), Begin::Fresh);
        assert_eq!(s.begin(&slot("k")), Begin::InFlight);
        let first = answer(200, r#"{"status":"DONE"}"#);
        s.finish(&slot("k"), &first);
        assert_eq!(s.begin(&slot("k")), Begin::Replay(first));
        assert_eq!(s.begin(&slot("other")), Begin::Fresh);
    }

    #[test]
    fn declines_are_kept_but_retryable_answers_are_not() {
        let mut s = IdempotencyStore::default();
        s.begin(&slot("decline"));
        s.finish(
            &slot("decline"),
            &answer(403, r#"{"code":"REJECT_CARD_PAYMENT"}"#),
        );
        assert!(matches!(s.begin(&slot("decline")), Begin::Replay(_)));
        for (key, status, body) in [
            (
                "5xx",
                500,
                r#"{"code":"FAILED_INTERNAL_SYSTEM_PROCESSING"}"#,
            ),
            ("provider", 400, r#"{"code":"PROVIDER_ERROR"}"#),
        ] {
            s.begin(&slot(key));
            s.finish(&slot(key), &answer(status, body));
            assert_eq!(s.begin(&slot(key)), Begin::Fresh, "{key}");
        }
    }

    #[test]
    fn an_abandoned_request_frees_its_key_but_never_a_kept_answer() {
        let mut s = IdempotencyStore::default();
        s.begin(&slot("k"));
        s.abandon(&slot("k"));
        assert_eq!(s.begin(&slot("k")), Begin::Fresh);
        s.finish(&slot("k"), &answer(200, "{}"));
        s.abandon(&slot("k"));
        assert!(matches!(s.begin(&slot("k")), Begin::Replay(_)));
    }

    #[test]
    fn the_same_key_on_another_endpoint_is_another_slot() {
        let mut s = IdempotencyStore::default();
        s.begin(&slot("k"));
        s.finish(&slot("k"), &answer(200, "{}"));
        let cancel = Slot {
            scope: "POST /v1/payments/pk/cancel".into(),
            key: "k".into(),
        };
        assert_eq!(s.begin(&cancel), Begin::Fresh);
    }
}
