//! userId → sequence number, for "one entry per user".
//!
//! Sharded so that growth stays cheap: a single `HashMap` of millions of
//! users rehashes all of them at once when it fills up, inside the queue's
//! write lock; 1024 shards each rehash a 1024th (about 70 µs at four
//! million users, against tens of milliseconds for one map). The shard is picked with a
//! cheap unkeyed hash; each shard is a std `HashMap` with its keyed SipHash,
//! so client-chosen userIds cannot degrade lookups.

use std::collections::HashMap;

use super::settings::UserId;
use super::Seq;

const SHARDS: usize = 1024;

#[derive(Debug, Clone)]
pub(super) struct UserIndex {
    shards: Box<[HashMap<UserId, Seq>]>,
}

impl Default for UserIndex {
    fn default() -> Self {
        UserIndex {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

fn shard_of(user: &str) -> usize {
    // FNV-1a: spreads the shards; the security of the lookup itself rests on
    // each shard's SipHash, not on this.
    let hash = user.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % SHARDS as u64) as usize
}

impl UserIndex {
    pub(super) fn get(&self, user: &str) -> Option<Seq> {
        self.shards[shard_of(user)].get(user).copied()
    }

    pub(super) fn insert(&mut self, user: UserId, seq: Seq) {
        self.shards[shard_of(user.as_str())].insert(user, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut index = UserIndex::default();
        for i in 0..1000u64 {
            index.insert(UserId::parse(&format!("user-{i}")).unwrap(), i + 1);
        }
        for i in 0..1000u64 {
            assert_eq!(index.get(&format!("user-{i}")), Some(i + 1));
        }
        assert_eq!(index.get("user-1000"), None);
    }
}
