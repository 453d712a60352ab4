//! The bodies the queue-server parses (a join, a queue's settings) and the
//! proof of work a join carries: refused or accepted, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use queue_server::http::body::{JoinBody, PutQueueBody};
use queue_server::model::{QueueSettings, UserId};
use queue_server::proof_of_work::ProofOfWork;

fuzz_target!(|data: &[u8]| {
    if let Ok(join) = serde_json::from_slice::<JoinBody>(data) {
        let _ = UserId::parse(&join.user_id);
        if let Some(altcha) = join.altcha.as_deref() {
            let pow = ProofOfWork::new(b"fuzz-token-secret-of-at-least-32-bytes");
            assert!(
                pow.check("sale", altcha).is_err(),
                "a forged solution passed"
            );
        }
    }
    if let Ok(put) = serde_json::from_slice::<PutQueueBody>(data) {
        let _ = QueueSettings::new(
            put.admission_rate_per_sec,
            put.max_active,
            put.session_ttl_sec,
        )
        .and_then(|s| s.with_joins_per_ip_per_minute(put.joins_per_ip_per_minute))
        .and_then(|s| s.with_proof_of_work(put.pow_difficulty, put.pow_adaptive));
    }
});
