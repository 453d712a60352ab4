//! Proof of work on join, per queue (`powDifficulty`): an ALTCHA v2
//! challenge that the client solves before it joins.
//!
//! A join costs the server a few microseconds whoever sends it, so a script
//! that mints userIds can take a place per request. A challenge makes each
//! join cost the client about `difficulty` key derivations first: nothing a
//! phone notices once, a great deal for someone who wants a hundred thousand
//! places.
//!
//! The challenges are ALTCHA's deterministic mode (the `altcha` crate): the
//! server picks the counter, derives the key and publishes half of it as the
//! prefix to find, so the client tries counters from 0 until one derives a
//! key with that prefix, about `difficulty` tries on average. Making one
//! costs the server one derivation of [`ROUNDS`] PBKDF2 rounds, and checking
//! a solution two HMACs (the key's signature); nothing is kept per challenge
//! until a solution is used. The rounds are few on purpose: a challenge is
//! made on every join of a protected queue, and in the browser each try is a
//! WebCrypto call whose fixed cost dwarfs ten rounds anyway.
//!
//! A challenge is bound to its queue (its signed `data`) and to a short
//! window (`expiresAt`); that it is used once is the store's part
//! ([`crate::store::QueueStore::claim_once`]), keyed by the challenge's
//! nonce for as long as the challenge could still be valid.

use std::collections::BTreeMap;

use altcha::{Challenge, CreateChallengeOptions, Payload, VerifySolutionOptions};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;

/// PBKDF2-HMAC-SHA-256 rounds of one try.
pub const ROUNDS: u32 = 10;
/// How long a challenge may be solved and used, at the least; a harder one
/// gets one more second per [`SLOW_TRIES_PER_SEC`] tries, so that a slow
/// phone finishes the tries it needs before the challenge expires.
pub const CHALLENGE_TTL_SEC: u64 = 120;
pub const SLOW_TRIES_PER_SEC: u64 = 250;
/// Difficulty (tries on average) at most, adaptive scaling included.
pub const MAX_DIFFICULTY: u32 = 1_000_000;
/// With `powAdaptive`, the difficulty grows by one base step per this many
/// fans waiting, up to [`MAX_ADAPTIVE_FACTOR`] times the base.
pub const ADAPTIVE_WAITING_STEP: u64 = 50_000;
pub const MAX_ADAPTIVE_FACTOR: u64 = 16;
const ALGORITHM: &str = "PBKDF2/SHA-256";
const KEY_LENGTH: usize = 32;

/// Why a join's proof of work was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowRefusal {
    #[error(
        "this queue asks for a proof of work: GET .../challenge, solve it, and send the \
         solution as \"altcha\" with the join"
    )]
    Required,
    #[error("the proof of work is not valid: {0}")]
    Invalid(String),
    #[error("the challenge has expired; ask for a new one")]
    Expired,
    #[error("the challenge was made for another queue")]
    WrongQueue,
    #[error("this challenge has already been used; ask for a new one")]
    Replayed,
}

/// A solution that checked out: its nonce, to be claimed once, and how long
/// the claim must be remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSolution {
    pub nonce: String,
    pub remember_ms: u64,
}

/// Makes and checks challenges with secrets derived from the service's
/// token secret, so that every queue-server of a fleet accepts the
/// challenges of the others.
pub struct ProofOfWork {
    signature_secret: String,
    key_secret: String,
}

impl std::fmt::Debug for ProofOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofOfWork").finish_non_exhaustive()
    }
}

fn derive_secret(secret: &[u8], label: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The difficulty a queue asks for now: its base, or with `adaptive` the base
/// times one more for every [`ADAPTIVE_WAITING_STEP`] fans waiting (a long
/// line is what a script that mints places profits from), bounded.
pub fn difficulty(base: u32, adaptive: bool, waiting: u64) -> u32 {
    if base == 0 || !adaptive {
        return base;
    }
    let factor = (1 + waiting / ADAPTIVE_WAITING_STEP).min(MAX_ADAPTIVE_FACTOR);
    u32::try_from(u64::from(base) * factor)
        .unwrap_or(u32::MAX)
        .min(MAX_DIFFICULTY)
}

impl ProofOfWork {
    pub fn new(token_secret: &[u8]) -> Self {
        ProofOfWork {
            signature_secret: derive_secret(token_secret, "ticketon.pow.challenge.v1"),
            key_secret: derive_secret(token_secret, "ticketon.pow.key.v1"),
        }
    }

    /// A challenge for `queue_id` of about `difficulty` tries, valid from
    /// `now_unix_sec` for [`ttl_sec`] of it.
    pub fn challenge(&self, queue_id: &str, difficulty: u32, now_unix_sec: u64) -> Challenge {
        let difficulty = difficulty.clamp(1, MAX_DIFFICULTY);
        // Uniform from 0: however a client orders its tries, it makes
        // `difficulty` of them on average (a range that left out small
        // counters would let a script skip them, and pay less than a fan).
        let counter = rand::rng().random_range(0..=difficulty.saturating_mul(2));
        let mut data = BTreeMap::new();
        data.insert("queueId".to_string(), queue_id.into());
        let expires_at = i64::try_from(now_unix_sec + ttl_sec(difficulty)).unwrap_or(i64::MAX);
        altcha::create_challenge(CreateChallengeOptions {
            algorithm: ALGORITHM.to_string(),
            cost: ROUNDS,
            counter: Some(counter),
            data: Some(data),
            expires_at: Some(expires_at),
            key_length: KEY_LENGTH,
            hmac_signature_secret: Some(self.signature_secret.clone()),
            hmac_key_signature_secret: Some(self.key_secret.clone()),
            ..Default::default()
        })
        .expect("the parameters are fixed and valid")
    }

    /// Checks the `altcha` field of a join (base64 of the ALTCHA payload
    /// JSON, as the widget sends it) for `queue_id`.
    pub fn check(&self, queue_id: &str, altcha: &str) -> Result<CheckedSolution, PowRefusal> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(altcha.trim())
            .map_err(|_| PowRefusal::Invalid("\"altcha\" is not base64".into()))?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|e| {
            PowRefusal::Invalid(format!("\"altcha\" is not an ALTCHA payload: {e}"))
        })?;
        let parameters = &payload.challenge.parameters;
        let mut options = VerifySolutionOptions::new(
            &payload.challenge,
            &payload.solution,
            &self.signature_secret,
        );
        options.hmac_key_signature_secret = Some(self.key_secret.clone());
        let verdict = altcha::verify_solution(options)
            .map_err(|e| PowRefusal::Invalid(format!("the challenge cannot be checked: {e}")))?;
        if verdict.expired {
            return Err(PowRefusal::Expired);
        }
        if verdict.invalid_signature == Some(true) {
            return Err(PowRefusal::Invalid(
                "the challenge was not issued here".into(),
            ));
        }
        // Signed by us, so the data is ours: only the queue can differ.
        let bound_to = parameters
            .data
            .as_ref()
            .and_then(|d| d.get("queueId"))
            .and_then(|q| q.as_str());
        if bound_to != Some(queue_id) {
            return Err(PowRefusal::WrongQueue);
        }
        if !verdict.verified {
            return Err(PowRefusal::Invalid(
                "the solution does not solve the challenge".into(),
            ));
        }
        // Until the challenge expires (signed, so at most what we issued).
        let remember_sec = parameters
            .expires_at
            .and_then(|t| u64::try_from(t).ok())
            .map_or(ttl_sec(MAX_DIFFICULTY), |t| {
                t.saturating_sub(unix_now_sec())
            });
        Ok(CheckedSolution {
            nonce: parameters.nonce.clone(),
            // A second past the expiry: a claim forgotten before its
            // challenge expires would let it be used again.
            remember_ms: (remember_sec + 1) * 1000,
        })
    }
}

/// How long a challenge of `difficulty` tries stays valid.
pub fn ttl_sec(difficulty: u32) -> u64 {
    CHALLENGE_TTL_SEC + u64::from(difficulty) / SLOW_TRIES_PER_SEC
}

fn unix_now_sec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `altcha` field for `challenge`, solved here: what a client sends.
/// For tests and `bench/src/pow_cost.rs`.
pub fn solve(challenge: &Challenge) -> String {
    let solution = altcha::solve_challenge(altcha::SolveChallengeOptions::new(challenge))
        .expect("a challenge of ours is solvable")
        .expect("solved without a timeout");
    let payload = Payload {
        challenge: challenge.clone(),
        solution,
    };
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&payload).expect("a payload serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-token-secret-of-at-least-32-bytes!!";

    fn now() -> u64 {
        unix_now_sec()
    }

    #[test]
    fn a_solved_challenge_is_accepted_for_its_queue_only() {
        let pow = ProofOfWork::new(SECRET);
        let challenge = pow.challenge("sale-1", 200, now());
        let altcha = solve(&challenge);
        let checked = pow.check("sale-1", &altcha).unwrap();
        assert_eq!(checked.nonce, challenge.parameters.nonce);
        assert!(checked.remember_ms > CHALLENGE_TTL_SEC * 1000 - 5_000);
        assert_eq!(pow.check("sale-2", &altcha), Err(PowRefusal::WrongQueue));
    }

    #[test]
    fn another_fleets_secret_an_expired_challenge_or_a_wrong_key_is_refused() {
        let pow = ProofOfWork::new(SECRET);
        let other = ProofOfWork::new(b"another-secret-of-at-least-32-bytes!!");
        let theirs = solve(&other.challenge("sale-1", 50, now()));
        assert!(matches!(
            pow.check("sale-1", &theirs),
            Err(PowRefusal::Invalid(_))
        ));

        let stale = solve(&pow.challenge("sale-1", 50, now() - CHALLENGE_TTL_SEC - 5));
        assert_eq!(pow.check("sale-1", &stale), Err(PowRefusal::Expired));

        let challenge = pow.challenge("sale-1", 50, now());
        let mut payload = Payload {
            challenge: challenge.clone(),
            solution: altcha::solve_challenge(altcha::SolveChallengeOptions::new(&challenge))
                .unwrap()
                .unwrap(),
        };
        payload.solution.derived_key = "00".repeat(KEY_LENGTH);
        let forged =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&payload).unwrap());
        assert!(matches!(
            pow.check("sale-1", &forged),
            Err(PowRefusal::Invalid(_))
        ));

        // An easier challenge than the one issued: the signature breaks.
        let mut easier = pow.challenge("sale-1", 50_000, now());
        easier.parameters.key_prefix = String::new();
        let cheated = solve(&easier);
        assert!(matches!(
            pow.check("sale-1", &cheated),
            Err(PowRefusal::Invalid(_))
        ));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let pow = ProofOfWork::new(SECRET);
        for garbage in ["", "%%%", "bm90IGpzb24=", "e30="] {
            match pow.check("sale-1", garbage) {
                Err(PowRefusal::Invalid(why)) => assert!(!why.is_empty()),
                other => panic!("{garbage:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn adaptive_difficulty_follows_the_line_within_bounds() {
        assert_eq!(difficulty(0, true, 1_000_000), 0, "off stays off");
        assert_eq!(difficulty(5_000, false, 1_000_000), 5_000);
        assert_eq!(difficulty(5_000, true, 0), 5_000);
        assert_eq!(difficulty(5_000, true, 120_000), 15_000);
        assert_eq!(difficulty(5_000, true, 10_000_000), 80_000);
        assert_eq!(difficulty(MAX_DIFFICULTY, true, 10_000_000), MAX_DIFFICULTY);
        assert_eq!(ttl_sec(5_000), 140, "a hard challenge lasts longer");
        assert_eq!(ttl_sec(1), CHALLENGE_TTL_SEC);
    }
}
