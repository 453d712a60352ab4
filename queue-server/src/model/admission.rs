//! How many fans one admission step may let in: the pacing decision on its
//! own, apart from any particular line.
//!
//! The in-memory [`Queue`](super::Queue) and the Redis store's lease holder
//! both call this, so the rules (FIFO only over entries that exist, never
//! past `max_active`, never faster than the [`Pacer`] allows) are written
//! once. The caller then admits that many entries in sequence order wherever
//! its line lives.

use super::pacer::Pacer;

/// What the line looks like at the moment of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSnapshot {
    /// Entries waiting to be admitted (departed ones excluded).
    pub waiting: u64,
    /// Admitted sessions still alive.
    pub active: u64,
    pub max_active: u64,
}

/// Takes pacer slots for as many admissions as may happen at `now_ms` and
/// returns their number. The checks run in the order that wastes no pacer
/// slot: an empty line or a full house take none.
pub fn admission_budget(pacer: &mut Pacer, now_ms: u64, line: LineSnapshot) -> u64 {
    let mut budget = 0;
    while budget < line.waiting
        && line.active.saturating_add(budget) < line.max_active
        && pacer.try_take(now_ms)
    {
        budget += 1;
    }
    budget
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(waiting: u64, active: u64, max_active: u64) -> LineSnapshot {
        LineSnapshot {
            waiting,
            active,
            max_active,
        }
    }

    #[test]
    fn the_budget_is_the_smallest_of_line_room_and_pace() {
        let now = 1_000_000;
        assert_eq!(
            admission_budget(&mut Pacer::new(1000, 20), now, line(5, 0, 100)),
            5
        );
        assert_eq!(
            admission_budget(&mut Pacer::new(1000, 20), now, line(50, 97, 100)),
            3
        );
        // 20 ms of catch-up at 1000/s: 21 slots.
        assert_eq!(
            admission_budget(&mut Pacer::new(1000, 20), now, line(500, 0, 1000)),
            21
        );
    }

    #[test]
    fn an_empty_line_or_a_full_house_takes_no_pacer_slot() {
        let now = 1_000_000;
        let mut pacer = Pacer::new(1, 20);
        assert_eq!(admission_budget(&mut pacer, now, line(0, 0, 10)), 0);
        assert_eq!(admission_budget(&mut pacer, now, line(3, 10, 10)), 0);
        // The one slot of this second is still there.
        assert_eq!(admission_budget(&mut pacer, now, line(3, 0, 10)), 1);
    }
}
