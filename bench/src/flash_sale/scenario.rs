//! The sale being simulated, as plain data: sizes, the arrival spike, and
//! what each fan will do. No IO, so that a scenario is reproducible from its
//! seed and testable on its own.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every number of a scenario (the command line fills it).
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) fans: usize,
    pub(crate) seats: u32,
    /// Priced sections the seats are split into, most expensive first.
    pub(crate) sections: u32,
    pub(crate) admission_rate_per_sec: u32,
    /// Mean time an admitted fan spends before its session ends (seat
    /// choice, hold, payment), the `W` of Little's law.
    pub(crate) checkout_secs: f64,
    pub(crate) session_ttl_sec: u32,
    pub(crate) hold_ttl_sec: u32,
    /// Share of the fans arriving within `spike_secs`; the rest arrive
    /// evenly over `tail_secs` after it.
    pub(crate) spike_share: f64,
    pub(crate) spike_secs: f64,
    pub(crate) tail_secs: f64,
    /// Shares of fans: watching by push instead of polling, leaving while
    /// waiting, opening a second tab, paying with a card that is declined,
    /// abandoning the checkout.
    pub(crate) push_share: f64,
    pub(crate) leave_share: f64,
    pub(crate) second_tab_share: f64,
    pub(crate) decline_share: f64,
    pub(crate) abandon_share: f64,
    /// Multiplies every think time (1.0: human pace; small: a fast test).
    pub(crate) think_scale: f64,
    pub(crate) seed: u64,
}

impl Scenario {
    /// `maxActive` by Little's law: the sessions alive at once when fans
    /// are admitted at the rate and each stays `checkout_secs`, with 50 %
    /// headroom for the slow ones.
    pub(crate) fn max_active(&self) -> u32 {
        let sessions = f64::from(self.admission_rate_per_sec) * self.checkout_secs * 1.5;
        (sessions.ceil() as u32).max(1)
    }

    /// (rows, seats per row) of each section: every seat placed, in rows
    /// of at most 50 (the largest divisor of the section's size).
    pub(crate) fn section_sizes(&self) -> Vec<(u32, u32)> {
        let per_section = self.seats / self.sections;
        let mut sizes = Vec::new();
        for s in 0..self.sections {
            let seats = if s + 1 == self.sections {
                self.seats - per_section * (self.sections - 1)
            } else {
                per_section
            };
            let per_row = (1..=50.min(seats.max(1)))
                .rev()
                .find(|d| seats % d == 0)
                .unwrap_or(1);
            let rows = seats / per_row;
            sizes.push((rows, per_row));
        }
        sizes
    }

    /// The price of section `index`: 150,000 KRW for the first, down by
    /// 20,000 per section, at least 30,000.
    pub(crate) fn price_krw(index: u32) -> i64 {
        (150_000 - 20_000 * i64::from(index)).max(30_000)
    }

    /// Every fan's plan, in arrival order.
    pub(crate) fn plans(&self) -> Vec<FanPlan> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let spike_fans = (self.fans as f64 * self.spike_share).round() as usize;
        let mut plans = Vec::with_capacity(self.fans);
        for i in 0..self.fans {
            let arrival_ms = if i < spike_fans {
                // Uniform within the spike: 60 % of the crowd in its first
                // seconds is already the hardest load the queue sees.
                rng.random_range(0.0..self.spike_secs.max(0.001)) * 1000.0
            } else {
                let tail = self.fans - spike_fans;
                let k = (i - spike_fans) as f64 / tail.max(1) as f64;
                (self.spike_secs + k * self.tail_secs) * 1000.0
            };
            let checkout = if rng.random_bool(self.decline_share) {
                Checkout::Declined
            } else if rng.random_bool(self.abandon_share) {
                if rng.random_bool(0.5) {
                    Checkout::Release
                } else {
                    Checkout::LetExpire
                }
            } else {
                Checkout::Pay
            };
            plans.push(FanPlan {
                arrival_ms: arrival_ms as u64,
                push: rng.random_bool(self.push_share),
                leave_after_ms: rng
                    .random_bool(self.leave_share)
                    .then(|| rng.random_range(1_000..60_000)),
                second_tab: rng.random_bool(self.second_tab_share),
                seats_wanted: rng.random_range(1..=4),
                section: rng.random_range(0..self.sections),
                think_ms: (rng.random_range(1_000.0..6_000.0) * self.think_scale) as u64,
                checkout,
            });
        }
        plans.sort_by_key(|p| p.arrival_ms);
        plans
    }
}

/// What one fan will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FanPlan {
    /// Since the start of the sale.
    pub(crate) arrival_ms: u64,
    pub(crate) push: bool,
    /// Gives up waiting this long after joining, if still waiting.
    pub(crate) leave_after_ms: Option<u64>,
    pub(crate) second_tab: bool,
    pub(crate) seats_wanted: u32,
    /// The section it looks at first.
    pub(crate) section: u32,
    /// Time spent on the seat map and again at the checkout.
    pub(crate) think_ms: u64,
    pub(crate) checkout: Checkout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checkout {
    Pay,
    /// Pays with a card the sandbox declines.
    Declined,
    /// Releases the hold instead of paying.
    Release,
    /// Closes the tab: the hold runs out.
    LetExpire,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario {
            fans: 10_000,
            seats: 1_000,
            sections: 4,
            admission_rate_per_sec: 200,
            checkout_secs: 10.0,
            session_ttl_sec: 300,
            hold_ttl_sec: 60,
            spike_share: 0.6,
            spike_secs: 10.0,
            tail_secs: 120.0,
            push_share: 0.1,
            leave_share: 0.05,
            second_tab_share: 0.05,
            decline_share: 0.05,
            abandon_share: 0.05,
            think_scale: 1.0,
            seed: 7,
        }
    }

    #[test]
    fn little_s_law_sizes_the_active_sessions() {
        assert_eq!(scenario().max_active(), 3_000);
    }

    #[test]
    fn sections_hold_every_seat() {
        let s = scenario();
        let total: u32 = s.section_sizes().iter().map(|(r, p)| r * p).sum();
        assert_eq!(total, 1_000);
        let odd = Scenario {
            seats: 500,
            sections: 3,
            ..scenario()
        };
        let total: u32 = odd.section_sizes().iter().map(|(r, p)| r * p).sum();
        assert_eq!(total, 500);
    }

    #[test]
    fn sixty_percent_arrive_in_the_spike_and_plans_repeat_per_seed() {
        let s = scenario();
        let plans = s.plans();
        assert_eq!(plans.len(), 10_000);
        let in_spike = plans.iter().filter(|p| p.arrival_ms < 10_000).count();
        assert!((5_900..=6_100).contains(&in_spike), "{in_spike}");
        assert!(plans.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
        assert!(plans.last().unwrap().arrival_ms <= 130_000);
        assert_eq!(plans, s.plans());
    }
}
