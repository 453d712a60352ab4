//! Toss's `Idempotency-Key`: how a retried confirm or cancel gets the first
//! answer back instead of a second charge or refund.

use super::error::TossError;

/// Toss's limit on the `Idempotency-Key` header.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 300;

/// The `Idempotency-Key` of one state-changing call.
///
/// Toss scopes a key by API key, URL and method and replays the first
/// answer for 15 days. A key therefore names *one operation on one order*:
/// a retry of that operation reuses it (and gets the first answer back
/// instead of a second charge or refund), a different operation gets a
/// different key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of confirming `payment_key` for `order_id`. It includes the
    /// paymentKey because one order can see several widget sessions (the
    /// buyer retries after a decline), and the retry must not be answered
    /// with the first session's decline.
    pub fn confirm(order_id: &str, payment_key: &str) -> Self {
        IdempotencyKey(format!("ticketon:confirm:{order_id}:{payment_key}"))
    }

    /// The key of one refund of `order_id`. `cancel_id` names the refund in
    /// the caller's records (e.g. a refund row id, or `"full"` for the one
    /// full refund), so that two partial refunds of the same amount stay
    /// two refunds while a retried one stays one.
    pub fn cancel(order_id: &str, cancel_id: &str) -> Self {
        IdempotencyKey(format!("ticketon:cancel:{order_id}:{cancel_id}"))
    }

    /// A key chosen by the caller.
    pub fn custom(key: impl Into<String>) -> Self {
        IdempotencyKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks what Toss accepts: 1..=300 visible ASCII characters.
    pub fn validate(&self) -> Result<(), TossError> {
        let ok_len = (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&self.0.len());
        let ok_chars = self.0.bytes().all(|b| b.is_ascii_graphic());
        if ok_len && ok_chars {
            Ok(())
        } else {
            Err(TossError::InvalidInput(format!(
                "idempotency key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters, got {:?}",
                self.0
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_keys_differ_per_widget_session_and_repeat_per_retry() {
        let a = IdempotencyKey::confirm("res-1", "pk-a");
        assert_eq!(a, IdempotencyKey::confirm("res-1", "pk-a"));
        assert_ne!(a, IdempotencyKey::confirm("res-1", "pk-b"));
        assert_ne!(a, IdempotencyKey::confirm("res-2", "pk-a"));
        assert!(a.validate().is_ok());
    }

    #[test]
    fn cancel_keys_are_per_refund() {
        assert_ne!(
            IdempotencyKey::cancel("res-1", "r1"),
            IdempotencyKey::cancel("res-1", "r2")
        );
        assert_ne!(
            IdempotencyKey::cancel("res-1", "r1").as_str(),
            IdempotencyKey::confirm("res-1", "r1").as_str()
        );
    }

    #[test]
    fn keys_toss_would_refuse_are_caught_before_sending() {
        assert!(IdempotencyKey::custom("").validate().is_err());
        assert!(IdempotencyKey::custom("a b").validate().is_err());
        assert!(IdempotencyKey::custom("é").validate().is_err());
        assert!(IdempotencyKey::custom("x".repeat(301)).validate().is_err());
        assert!(IdempotencyKey::custom("x".repeat(300)).validate().is_ok());
    }
}
