//! Admission pacing: when may the next fan be let in?
//!
//! A GCRA ("virtual scheduling") spaces admissions `1/rate` apart, so a
//! queue admitting 1,000 fans a second lets in about ten every 10 ms rather
//! than a thousand at the top of each second; that keeps the reservation-api
//! from being hit by synchronized bursts. The admission loop ticks
//! periodically, so the pacer may catch up on the slots of one tick
//! (`catch_up_ms`) but never on more: an idle queue does not bank a burst.
//!
//! The GCRA alone can exceed the rate by a slot or two at a window's edges,
//! so a 1 ms-resolution sliding window enforces the hard rule on top: never
//! more than `rate` admissions in any one-second window.

use super::rate_window::RateWindow;

const NANOS_PER_MS: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Pacer {
    rate_per_sec: u32,
    interval_ns: u64,
    catch_up_ns: u64,
    /// Theoretical arrival time of the next admission slot.
    tat_ns: u64,
    last_second: RateWindow,
}

impl Pacer {
    pub const DEFAULT_CATCH_UP_MS: u64 = 20;

    pub fn new(rate_per_sec: u32, catch_up_ms: u64) -> Self {
        let rate_per_sec = rate_per_sec.max(1);
        Pacer {
            rate_per_sec,
            interval_ns: NANOS_PER_SEC / u64::from(rate_per_sec),
            catch_up_ns: catch_up_ms * NANOS_PER_MS,
            tat_ns: 0,
            last_second: RateWindow::new(1000, 1),
        }
    }

    pub fn rate_per_sec(&self) -> u32 {
        self.rate_per_sec
    }

    /// A new rate applies from the next slot on; admissions already made in
    /// the current second still count against the new limit.
    pub fn set_rate(&mut self, rate_per_sec: u32) {
        let rate_per_sec = rate_per_sec.max(1);
        self.rate_per_sec = rate_per_sec;
        self.interval_ns = NANOS_PER_SEC / u64::from(rate_per_sec);
    }

    /// Whether one admission may happen at `now_ms`; if so the slot is taken.
    pub fn try_take(&mut self, now_ms: u64) -> bool {
        let now_ns = now_ms.saturating_mul(NANOS_PER_MS);
        let earliest = now_ns.saturating_sub(self.catch_up_ns);
        if self.tat_ns < earliest {
            self.tat_ns = earliest;
        }
        if self.tat_ns > now_ns {
            return false;
        }
        if self.last_second.count(now_ms) >= u64::from(self.rate_per_sec) {
            return false;
        }
        self.tat_ns += self.interval_ns;
        self.last_second.record(now_ms, 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(p: &mut Pacer, now_ms: u64) -> u32 {
        let mut n = 0;
        while p.try_take(now_ms) {
            n += 1;
        }
        n
    }

    #[test]
    fn an_idle_pacer_does_not_bank_a_burst() {
        let mut p = Pacer::new(1000, 20);
        // After a long idle period only the catch-up allowance is available.
        assert_eq!(take_all(&mut p, 1_000_000), 21);
    }

    #[test]
    fn steady_ticks_admit_the_rate() {
        let mut p = Pacer::new(1000, 20);
        let mut total = 0;
        for tick in 0..100 {
            total += take_all(&mut p, 1_000_000 + tick * 10);
        }
        // One second of 10 ms ticks: the rate, plus at most the first catch-up.
        assert!((990..=1000).contains(&total), "admitted {total}");
    }

    #[test]
    fn a_slow_rate_admits_one_at_a_time() {
        let mut p = Pacer::new(2, 20);
        assert_eq!(take_all(&mut p, 5_000), 1);
        assert_eq!(take_all(&mut p, 5_400), 0);
        assert_eq!(take_all(&mut p, 5_500), 1);
    }
}
