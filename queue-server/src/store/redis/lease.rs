//! The admission lease: which server runs a queue's admission.
//!
//! Admission must be single-writer for the fleet-wide rules to hold (one
//! FIFO frontier, one pacer, one `maxActive` count), so each queue has a
//! lease in Redis (`acquire_lease.lua`): a key holding the owner's id with
//! an expiry, renewed by every admission step, plus a fencing token that
//! grows with each new holder. Admission steps carry the token and
//! `admit.lua` refuses a stale one, so a holder that stalled (GC-like pause,
//! network partition) past its lease cannot write after another server took
//! over.
//!
//! The pacer lives with the lease, in the holder's memory. A new holder
//! starts a fresh pacer; that cannot exceed the rate, because the previous
//! holder's last admission renewed the lease, so at least
//! [`LEASE_TTL`] (more than the pacer's one-second window) separates it from
//! the new holder's first.

use std::time::Duration;

use crate::model::Pacer;

/// How long a lease lasts without renewal: a dead holder is replaced within
/// this plus [`ACQUIRE_EVERY`].
pub const LEASE_TTL: Duration = Duration::from_millis(2000);

/// What is left of a lease its holder gives up at shutdown: just over the
/// pacer's one-second window, so that the next holder's first admission
/// comes at least a second after this holder's last (a rolling restart
/// pauses admission for about 1.5 s instead of up to 2.5 s).
pub const RELEASE_GRACE: Duration = Duration::from_millis(1050);

/// How often a server that does not hold a queue's lease tries to take it.
pub const ACQUIRE_EVERY: Duration = Duration::from_millis(500);

/// The most entries one admission step may admit (bounds the script's run
/// time and its argument lists).
pub(super) const MAX_STEP: u64 = 2000;

/// This server's side of one queue's lease.
#[derive(Default)]
pub(super) struct Lease {
    held: Option<Held>,
    next_attempt_ms: u64,
}

pub(super) struct Held {
    pub fence: u64,
    pub pacer: Pacer,
}

impl Lease {
    pub(super) fn held(&mut self) -> Option<&mut Held> {
        self.held.as_mut()
    }

    pub(super) fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Whether a server that does not hold the lease should try now.
    pub(super) fn should_try(&mut self, now_ms: u64) -> bool {
        if self.held.is_some() || now_ms < self.next_attempt_ms {
            return false;
        }
        self.next_attempt_ms = now_ms + ACQUIRE_EVERY.as_millis() as u64;
        true
    }

    pub(super) fn acquired(&mut self, fence: u64, rate_per_sec: u32) {
        match &mut self.held {
            // Renewed by the same server: keep the pacer's history.
            Some(held) if held.fence == fence => {}
            _ => {
                self.held = Some(Held {
                    fence,
                    pacer: Pacer::new(rate_per_sec, Pacer::DEFAULT_CATCH_UP_MS),
                })
            }
        }
    }

    pub(super) fn lost(&mut self, now_ms: u64) {
        self.held = None;
        self.next_attempt_ms = now_ms + ACQUIRE_EVERY.as_millis() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_spaced_and_stop_while_held() {
        let mut lease = Lease::default();
        assert!(lease.should_try(1000));
        assert!(!lease.should_try(1100));
        assert!(lease.should_try(1000 + ACQUIRE_EVERY.as_millis() as u64));
        lease.acquired(3, 100);
        assert!(lease.is_held());
        assert!(!lease.should_try(1_000_000));
        lease.lost(2000);
        assert!(!lease.is_held());
        assert!(!lease.should_try(2000));
    }

    #[test]
    fn a_new_fence_means_a_fresh_pacer() {
        let mut lease = Lease::default();
        lease.acquired(1, 1);
        assert!(lease.held().unwrap().pacer.try_take(10_000));
        lease.acquired(1, 1);
        assert!(
            !lease.held().unwrap().pacer.try_take(10_000),
            "same holder, same pacer"
        );
        lease.acquired(2, 1);
        assert!(lease.held().unwrap().pacer.try_take(10_000));
    }
}
