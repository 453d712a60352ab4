//! How long a waiting client should wait before it polls again.
//!
//! Polls are the dominant load of a flash sale: half a million tabs asking
//! "am I in yet?". The hint grows with the entry's ETA, so the total poll
//! rate of N waiting clients is about `sum(1/interval)` ≈
//! `eta_fraction⁻¹ · rate · ln(N / rate) + N / max_interval` rather than
//! `N / min_interval`, while someone seconds away from the front hears the
//! news within `min_interval`. Jitter spreads clients that joined together so
//! their polls do not arrive in waves.

/// The knobs of the poll hint; the defaults suit a sale of hundreds of
/// thousands of fans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollHintPolicy {
    pub min_interval_ms: u64,
    pub max_interval_ms: u64,
    /// The interval is `eta / eta_divisor`: with 4, a client polls about four
    /// times before its turn comes.
    pub eta_divisor: u64,
    /// Spread, in percent, applied up and down.
    pub jitter_percent: u64,
}

impl Default for PollHintPolicy {
    fn default() -> Self {
        PollHintPolicy {
            min_interval_ms: 1_000,
            max_interval_ms: 30_000,
            eta_divisor: 4,
            jitter_percent: 20,
        }
    }
}

/// `eta_ms` is the entry's estimated wait; `jitter_seed` any value that
/// differs between clients and between polls (the caller mixes the entry's
/// sequence number and its position).
pub fn poll_after_ms(policy: &PollHintPolicy, eta_ms: u64, jitter_seed: u64) -> u64 {
    let base =
        (eta_ms / policy.eta_divisor.max(1)).clamp(policy.min_interval_ms, policy.max_interval_ms);
    if policy.jitter_percent == 0 {
        return base;
    }
    let spread = base * policy.jitter_percent / 100;
    // A cheap integer hash: deterministic for tests, uniform enough to spread.
    let mixed = jitter_seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let offset = mixed % (2 * spread + 1);
    let jittered = base - spread + offset;
    // Jitter never lets a client near the front wait longer than necessary
    // nor a client far back poll faster than the floor.
    jittered.clamp(policy.min_interval_ms, policy.max_interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_the_front_polls_at_the_floor() {
        let p = PollHintPolicy::default();
        for seed in 0..100 {
            let ms = poll_after_ms(&p, 2_000, seed);
            assert!((1_000..=1_200).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn far_back_polls_rarely_but_never_beyond_the_cap() {
        let p = PollHintPolicy::default();
        for seed in 0..100 {
            let ms = poll_after_ms(&p, 3_600_000, seed);
            assert!((24_000..=30_000).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn jitter_spreads_clients() {
        let p = PollHintPolicy::default();
        let distinct: std::collections::HashSet<u64> = (0..50)
            .map(|seed| poll_after_ms(&p, 40_000, seed))
            .collect();
        assert!(
            distinct.len() > 20,
            "only {} distinct hints",
            distinct.len()
        );
    }

    #[test]
    fn total_poll_rate_of_a_million_waiting_clients_is_bounded() {
        // 1,000,000 waiting, admitted at 1,000/s: positions 1..=N have ETA p ms.
        let p = PollHintPolicy::default();
        let per_sec: f64 = (1..=1_000_000u64)
            .map(|pos| 1000.0 / poll_after_ms(&p, pos, pos) as f64)
            .sum();
        // N / max_interval alone is 33k/s; the ETA-scaled part adds a few thousand.
        assert!(per_sec < 60_000.0, "{per_sec} polls/s");
        assert!(per_sec > 30_000.0, "{per_sec} polls/s");
    }
}
