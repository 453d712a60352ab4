//! Joins per client address and minute, per queue (`joinsPerIpPerMinute`).
//!
//! A place in line costs a userId, and userIds cost nothing: without a
//! limit one client takes as many places as it mints. Each queue with a
//! limit has a keyed GCRA limiter (`governor`): a burst of the whole
//! minute's allowance, refilled evenly, so a household or a carrier's
//! shared address that joins a few times is never refused, and a script is
//! slowed to the allowance. Memory is one small cell per address seen in
//! the last minute; `forget_idle` drops the rest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::RwLock;

struct QueueLimit {
    per_minute: u32,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

#[derive(Default)]
pub struct JoinLimits {
    queues: RwLock<HashMap<String, Arc<QueueLimit>>>,
}

impl std::fmt::Debug for JoinLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinLimits")
            .field("queues", &self.queues.read().len())
            .finish()
    }
}

impl JoinLimits {
    /// Counts one join of `ip` into `queue_id`, whose limit is `per_minute`
    /// (0: none). `Err` says when the address may join again.
    pub fn check(&self, queue_id: &str, per_minute: u32, ip: IpAddr) -> Result<(), Duration> {
        let Some(burst) = NonZeroU32::new(per_minute) else {
            return Ok(());
        };
        let limit = self.limit_of(queue_id, burst);
        limit
            .limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(limit.limiter.clock().now()))
    }

    fn limit_of(&self, queue_id: &str, per_minute: NonZeroU32) -> Arc<QueueLimit> {
        if let Some(limit) = self.queues.read().get(queue_id) {
            if limit.per_minute == per_minute.get() {
                return limit.clone();
            }
        }
        // New, or its limit changed: a fresh limiter (every address starts
        // with a full allowance again, as after any settings change).
        let mut queues = self.queues.write();
        let limit = queues
            .entry(queue_id.to_string())
            .or_insert_with(|| new_limit(per_minute));
        if limit.per_minute != per_minute.get() {
            *limit = new_limit(per_minute);
        }
        limit.clone()
    }

    /// Forgets addresses whose allowance is full again, and queues that no
    /// longer exist or have no limit (`live` says which still have one).
    pub fn forget_idle(&self, live: impl Fn(&str) -> bool) {
        self.queues.write().retain(|queue, _| live(queue));
        for limit in self.queues.read().values() {
            limit.limiter.retain_recent();
            limit.limiter.shrink_to_fit();
        }
    }

    /// Addresses remembered over every queue, for the metrics.
    pub fn addresses(&self) -> usize {
        self.queues.read().values().map(|l| l.limiter.len()).sum()
    }
}

fn new_limit(per_minute: NonZeroU32) -> Arc<QueueLimit> {
    Arc::new(QueueLimit {
        per_minute: per_minute.get(),
        limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn an_address_gets_its_minute_then_waits_and_others_are_not_affected() {
        let limits = JoinLimits::default();
        assert!(limits.check("q", 3, ip(1)).is_ok());
        assert!(limits.check("q", 3, ip(1)).is_ok());
        assert!(limits.check("q", 3, ip(1)).is_ok());
        let wait = limits.check("q", 3, ip(1)).unwrap_err();
        // One join comes back every 20 s.
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limits.check("q", 3, ip(2)).is_ok(), "another address");
        assert!(limits.check("other", 3, ip(1)).is_ok(), "another queue");
    }

    #[test]
    fn no_limit_counts_nothing_and_a_new_limit_starts_afresh() {
        let limits = JoinLimits::default();
        for _ in 0..1000 {
            assert!(limits.check("q", 0, ip(1)).is_ok());
        }
        assert_eq!(limits.addresses(), 0);
        assert!(limits.check("q", 1, ip(1)).is_ok());
        assert!(limits.check("q", 1, ip(1)).is_err());
        assert!(
            limits.check("q", 2, ip(1)).is_ok(),
            "the operator raised it"
        );
        limits.forget_idle(|_| false);
        assert_eq!(limits.addresses(), 0);
    }
}
