//! When a watcher is sent a position update: the push counterpart of the
//! poll hint (`model::poll_hint`), plain arithmetic with no IO.
//!
//! A watcher is sent a message when something it would see changed, but
//! position updates are rate-shaped by the entry's ETA:
//!
//! `interval(eta) = clamp(eta / 4, 250 ms, 30 s)`
//!
//! so a fan near the front hears of every move within 250 ms and a fan far
//! back hears about four times before their turn, and at least every 30 s.
//! Admissions and queue status changes are not shaped: they go out at once.
//!
//! **The total rate is bounded.** With N watchers spread over the line and
//! an admission rate of r per second, the watcher at position i has an ETA
//! of about i/r seconds, so it receives at most 1/interval messages a second:
//! 4 for i ≤ r, 4r/i for r < i ≤ 120r, and 1/30 beyond. Summed over the line:
//!
//! `rate ≤ 4r + 4r·ln(120) + max(0, N − 120r)/30 + r ≈ 24·r + N/30` messages/s
//!
//! (the last r for the admissions themselves), plus one heartbeat per idle
//! stream every 15-25 s. For r = 1,000/s and N = 100,000 that is at most
//! about 27,000 messages a second on the whole fleet, whatever N does to
//! the first term. A watcher is also only ever sent a position when its
//! position changed, so a paused queue sends nothing but heartbeats.
//!
//! **The bound holds second by second, not only on average.** While the
//! line stands, watchers are parked (nothing to tell them). When it moves
//! again, a parked watcher is due at a moment spread by its id over its
//! update interval ([`unpark_delay_ms`]), not at once: otherwise a line that
//! stood still and then moves (a sale opening its slots, a wave after a
//! pause) would send a position to every one of its N watchers in the same
//! instant, and the admissions of that moment would wait behind them.

/// The shortest time between two position messages to one watcher.
pub const MIN_UPDATE_INTERVAL_MS: u64 = 250;
/// The longest time a waiting watcher goes without a position message while
/// the line moves.
pub const MAX_UPDATE_INTERVAL_MS: u64 = 30_000;
/// A watcher gets about four updates before its turn.
pub const ETA_DIVISOR: u64 = 4;

/// Idle streams get a heartbeat (an SSE comment, a WebSocket ping) after
/// 15 to 25 s without a message by default: proxies cut idle streams at 30
/// to 60 s. The window is `[min, min · 5/3]`.
pub const HEARTBEAT_MIN_MS: u64 = 15_000;
pub const DEFAULT_HEARTBEAT: std::time::Duration =
    std::time::Duration::from_millis(HEARTBEAT_MIN_MS);

/// How long after a position message the next one may be sent.
pub fn update_interval_ms(eta_ms: u64) -> u64 {
    (eta_ms / ETA_DIVISOR).clamp(MIN_UPDATE_INTERVAL_MS, MAX_UPDATE_INTERVAL_MS)
}

/// A watcher's heartbeat period, spread by its id over `[min, min · 5/3]`
/// so that streams opened together do not beat together.
pub fn heartbeat_ms(watcher_id: u64, min_ms: u64) -> u64 {
    min_ms + spread(watcher_id) % (min_ms * 2 / 3 + 1)
}

/// How long after the line moves again a parked watcher is due its next
/// position: spread by its id over `[0, interval)`, so a fan near the front
/// (250 ms) still hears within 250 ms and the far back is spread over 30 s.
pub fn unpark_delay_ms(watcher_id: u64, interval_ms: u64) -> u64 {
    spread(watcher_id) % interval_ms.max(1)
}

/// Watcher ids are consecutive; this scatters them (Fibonacci hashing).
fn spread(watcher_id: u64) -> u64 {
    watcher_id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(31)
}

/// The bound of the module docs, in messages a second, for `watchers`
/// watchers waiting on a line that admits `rate_per_sec` (heartbeats apart).
pub fn message_rate_bound(watchers: u64, rate_per_sec: u64) -> f64 {
    let r = rate_per_sec as f64;
    let n = watchers as f64;
    let near = r.min(n);
    let far_end = (r * (MAX_UPDATE_INTERVAL_MS / MIN_UPDATE_INTERVAL_MS) as f64).min(n);
    let middle = if far_end > near {
        4.0 * r * (far_end / near.max(1.0)).ln()
    } else {
        0.0
    };
    let tail = (n - far_end).max(0.0) / (MAX_UPDATE_INTERVAL_MS as f64 / 1000.0);
    4.0 * near + middle + tail + r.min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_the_front_every_quarter_second_far_back_every_thirty() {
        assert_eq!(update_interval_ms(0), 250);
        assert_eq!(update_interval_ms(800), 250);
        assert_eq!(update_interval_ms(8_000), 2_000);
        assert_eq!(update_interval_ms(60_000), 15_000);
        assert_eq!(update_interval_ms(3_600_000), 30_000);
    }

    #[test]
    fn heartbeats_stay_in_their_window_and_spread() {
        let beats: Vec<u64> = (0..1000)
            .map(|id| heartbeat_ms(id, HEARTBEAT_MIN_MS))
            .collect();
        assert!(beats.iter().all(|&b| (15_000..=25_000).contains(&b)));
        let early = beats.iter().filter(|&&b| b < 20_000).count();
        assert!((300..700).contains(&early), "{early} of 1000 below 20 s");
    }

    #[test]
    fn unparked_watchers_spread_over_their_interval() {
        let delays: Vec<u64> = (0..10_000).map(|id| unpark_delay_ms(id, 30_000)).collect();
        assert!(delays.iter().all(|&d| d < 30_000));
        // About a thirtieth of them in any one second.
        for second in 0..30 {
            let in_second = delays.iter().filter(|&&d| d / 1000 == second).count();
            assert!(
                (200..470).contains(&in_second),
                "{in_second} in second {second}"
            );
        }
        assert!((0..100).all(|id| unpark_delay_ms(id, 250) < 250));
    }

    #[test]
    fn the_bound_grows_with_the_rate_not_the_line() {
        // The closed form of the module docs: about 24·r + N/30.
        for (watchers, rate) in [(100_000, 1_000), (1_000_000, 1_000), (500_000, 200)] {
            let bound = message_rate_bound(watchers, rate);
            let closed_form = 24.0 * rate as f64 + watchers as f64 / 30.0;
            assert!(
                bound <= closed_form,
                "{watchers} at {rate}/s: {bound} > {closed_form}"
            );
        }
        assert!(message_rate_bound(10, 1_000) <= 50.0);
    }
}
