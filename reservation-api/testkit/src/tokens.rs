//! The admin key, token secret and queue every test server is started
//! with, and admission tokens minted as the queue-server would.

use reservation_api::clock::{Clock, SystemClock};
use ticketon_wire::{AdmissionClaims, ADMISSION_ISSUER};

pub const ADMIN_KEY: &str = "test-admin-key";
pub const SECRET: &str = "test-token-secret-of-at-least-32-bytes";
pub const QUEUE: &str = "concert-q";

pub fn now_s() -> i64 {
    SystemClock.now_ms() / 1000
}

pub fn token_for(user: &str, queue: &str, exp: i64) -> String {
    AdmissionClaims {
        sub: user.into(),
        qid: queue.into(),
        eid: format!("entry-{user}"),
        iat: now_s(),
        exp,
        iss: ADMISSION_ISSUER.into(),
    }
    .sign(SECRET.as_bytes())
}

/// A token of another admission (entry) of the same user.
pub fn token_with_entry(user: &str, entry: &str) -> String {
    AdmissionClaims {
        sub: user.into(),
        qid: QUEUE.into(),
        eid: entry.into(),
        iat: now_s(),
        exp: now_s() + 3600,
        iss: ADMISSION_ISSUER.into(),
    }
    .sign(SECRET.as_bytes())
}

pub fn token(user: &str) -> String {
    token_for(user, QUEUE, now_s() + 3600)
}
