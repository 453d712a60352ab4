//! The Redis key layout (documented in proto-notes/redis-keys.md).
//!
//! Every key of one queue carries the queue id as its Redis Cluster hash tag
//! (`{…}`), so all of a queue's keys live in one slot and each Lua script,
//! which touches several of them at once, stays a single-slot operation. The
//! registry of queues is the only key outside a queue's slot, and it is only
//! ever used alone.

use crate::model::QueueId;

/// The keys of one queue, in the order the scripts take them.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    /// Hash: epoch, settings, status, frontier and counters, lease fence.
    pub meta: String,
    /// List of userIds in join order: the entry with seq `n` is element `n - 1`,
    /// and the list's length is the last seq handed out.
    pub line: String,
    /// Hash: the user index, an 8-byte fingerprint of each userId → its
    /// seq (see [`user_fingerprint`] and `join.lua`).
    pub users: String,
    /// Hash userId → seq for the (astronomically rare) users whose
    /// fingerprint slot is taken by another user.
    pub users_overflow: String,
    /// Sorted set of seqs that left; score `2·n + kind` (n-th leave; kind 1
    /// when it left while admitted), so it is also a log readers can follow.
    pub left: String,
    /// Sorted set seq → session expiry (Unix ms) of the admitted sessions.
    pub active: String,
    /// List of admission batches `from:to:at_ms:expires_ms:count`.
    pub admissions: String,
    /// String: the id of the queue-server running this queue's admission.
    pub lease: String,
    /// String: a pre-queue's drawn order, the seqs in place order, four
    /// bytes big-endian each (`model::LineOrder::to_bytes`). Written whole,
    /// once, by `commit_draw.lua`.
    pub order: String,
    /// String: the same draw the other way round, the place of each seq
    /// of the block, four bytes big-endian each, so that a leave can tell
    /// whether the frontier has passed its entry.
    pub places: String,
}

impl QueueKeys {
    /// Every key name, for scripts that create or delete a queue.
    pub fn all(&self) -> [&str; 10] {
        [
            &self.meta,
            &self.line,
            &self.users,
            &self.users_overflow,
            &self.left,
            &self.active,
            &self.admissions,
            &self.lease,
            &self.order,
            &self.places,
        ]
    }
}

/// A userId's field in the user index: the first 8 bytes of its SHA-256.
/// Computed here rather than in Lua to spare Redis's CPU. Eight bytes
/// instead of the userId keep the index small, and a collision (about one
/// in 2^38 users) is harmless: every hit is checked against the line. SHA-256
/// keeps it stable across versions and machines, and forging a collision
/// gains an attacker nothing (it only sends the victim-to-be to the
/// overflow index).
pub fn user_fingerprint(user: &str) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(user.as_bytes());
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&digest[..8]);
    fingerprint
}

/// Builds key names under one prefix, so that several deployments (or tests)
/// can share a Redis.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Redis key prefix must be 1 to 64 characters without braces or whitespace")]
pub struct BadPrefix;

impl KeyLayout {
    pub fn new(prefix: &str) -> Result<Self, BadPrefix> {
        // A brace in the prefix would become the hash tag and put every
        // queue in one slot.
        let ok = !prefix.is_empty()
            && prefix.len() <= 64
            && !prefix
                .chars()
                .any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control());
        if ok {
            Ok(KeyLayout {
                prefix: prefix.to_string(),
            })
        } else {
            Err(BadPrefix)
        }
    }

    /// Set of the ids of every queue.
    pub fn registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// String, with expiry: a one-time token of the queue (a proof of
    /// work's nonce) that has been used. Left to expire, also when the queue
    /// is deleted.
    pub fn claim(&self, id: &QueueId, token: &str) -> String {
        format!("{}:q:{{{}}}:claim:{token}", self.prefix, id.as_str())
    }

    pub fn queue(&self, id: &QueueId) -> QueueKeys {
        // Queue ids are [A-Za-z0-9_-], so they cannot break out of the tag.
        let base = format!("{}:q:{{{}}}", self.prefix, id.as_str());
        QueueKeys {
            meta: format!("{base}:meta"),
            line: format!("{base}:line"),
            users: format!("{base}:users"),
            users_overflow: format!("{base}:users-x"),
            left: format!("{base}:left"),
            active: format!("{base}:active"),
            admissions: format!("{base}:adm"),
            lease: format!("{base}:lease"),
            order: format!("{base}:order"),
            places: format!("{base}:places"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a key Redis Cluster hashes: the first `{…}` with
    /// something inside, else the whole key.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn all_keys_of_a_queue_share_its_hash_tag() {
        let layout = KeyLayout::new("ticketon").unwrap();
        let keys = layout.queue(&QueueId::parse("concert-1").unwrap());
        for key in keys.all() {
            assert_eq!(hash_tag(key), "concert-1", "{key}");
        }
        assert_eq!(keys.meta, "ticketon:q:{concert-1}:meta");
    }

    #[test]
    fn different_queues_get_different_tags() {
        let layout = KeyLayout::new("t").unwrap();
        let a = layout.queue(&QueueId::parse("a").unwrap());
        let b = layout.queue(&QueueId::parse("b").unwrap());
        assert_ne!(hash_tag(&a.meta), hash_tag(&b.meta));
    }

    #[test]
    fn user_fingerprints_are_stable_and_distinct() {
        assert_eq!(user_fingerprint("alice"), user_fingerprint("alice"));
        let distinct: std::collections::HashSet<[u8; 8]> = (0..10_000)
            .map(|i| user_fingerprint(&format!("user-{i}")))
            .collect();
        assert_eq!(distinct.len(), 10_000);
    }

    #[test]
    fn a_prefix_cannot_hijack_the_hash_tag() {
        assert!(KeyLayout::new("x{y}").is_err());
        assert!(KeyLayout::new("").is_err());
        assert!(KeyLayout::new("has space").is_err());
        assert!(KeyLayout::new("ticketon-test-1").is_ok());
    }
}
