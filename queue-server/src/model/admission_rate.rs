//! How fast a queue's line moves, for ETAs.
//!
//! Shared by the in-memory line and the Redis store's local mirror (which
//! sees admissions as batches read back from Redis), so that a fan gets the
//! same estimate whichever store holds the line.
//!
//! Two things limit admission: the configured rate, and the slots
//! (`maxActive`). The rate is known; the slots free as fast as purchase
//! sessions end, which is measured here. A measured *admission* rate is not
//! used: while the slots are full it only repeats the end rate, and after a
//! window without admissions (every slot taken) it read as a tenth of a fan
//! a second, which promised fans minutes from the front a wait of an hour.

use super::rate_window::RateWindow;

#[derive(Debug, Clone)]
pub struct AdmissionRate {
    /// Admitted sessions that ended (paid, gave up, ran out) over the last
    /// ten seconds: how fast slots free once they are all taken.
    ended: RateWindow,
    first_end_ms: Option<u64>,
    /// Admissions recorded since the last `measure`, and the active count
    /// then: together with the active count now they say how many sessions
    /// ended in between, whichever store keeps the sessions.
    admitted_since_measure: u64,
    active_at_measure: Option<u64>,
    /// The end rate in thousandths per second, its floor, and the free
    /// slots at the last `measure`, cached so that polls read them without a
    /// write lock.
    end_rate_milli: u64,
    end_floor_milli: u64,
    free_slots: u64,
}

impl Default for AdmissionRate {
    fn default() -> Self {
        AdmissionRate {
            ended: RateWindow::new(100, 100),
            first_end_ms: None,
            admitted_since_measure: 0,
            active_at_measure: None,
            end_rate_milli: 0,
            end_floor_milli: 0,
            // Until measured, nothing says the slots are taken.
            free_slots: u64::MAX,
        }
    }
}

/// How many sessions are live, how many may be, and how long one lasts at
/// most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub active: u64,
    pub max_active: u64,
    pub session_ttl_ms: u64,
}

impl AdmissionRate {
    pub fn record(&mut self, admissions: u32) {
        self.admitted_since_measure += u64::from(admissions);
    }

    /// Recomputes the cached rates at `now_ms`, with the sessions live now.
    pub fn measure(&mut self, now_ms: u64, slots: Slots) {
        if let Some(before) = self.active_at_measure {
            // active now = active before + admitted since − ended since.
            let ended = (before + self.admitted_since_measure).saturating_sub(slots.active);
            if ended > 0 {
                self.ended
                    .record(now_ms, u32::try_from(ended).unwrap_or(u32::MAX));
                self.first_end_ms.get_or_insert(now_ms);
            }
        }
        self.active_at_measure = Some(slots.active);
        self.admitted_since_measure = 0;
        self.free_slots = slots.max_active.saturating_sub(slots.active);
        // Every session ends within its TTL, so once the slots are full
        // they free at least `max_active / ttl` a second: a floor under the
        // measured rate, without which the first few ends of a sale (a rate
        // of a few a second) promised the fans further back a day's wait.
        self.end_floor_milli =
            slots.max_active.saturating_mul(1_000_000) / slots.session_ttl_ms.max(1);
        self.end_rate_milli = match self.first_end_ms {
            Some(first) => per_second_milli(self.ended.count(now_ms), first, now_ms, &self.ended)
                .max(self.end_floor_milli),
            None => 0,
        };
    }

    /// Estimated wait for `position`. `line` discounts the fans ahead who
    /// already left (see [`LineShape::live_places`]). Fans go in at the
    /// configured rate while slots are free; when sessions end more slowly
    /// than that, the free slots run out after `free / (rate − ended)`
    /// seconds, and from then on a fan goes in only as a session ends. A
    /// sale's first minutes are exactly that change, and an estimate that
    /// ignored it would promise the fans further back a fraction of their
    /// wait.
    pub fn eta_ms(&self, position: u64, line: LineShape, configured_rate_per_sec: u32) -> u64 {
        let places = line.live_places(position);
        let rate_milli = (u64::from(configured_rate_per_sec) * 1000).max(1);
        let ended_milli = match self.end_rate_milli {
            // Every slot taken before any session ended: they end within
            // their TTL, which is all there is to go by.
            0 if self.free_slots == 0 => self.end_floor_milli.max(1),
            measured => measured,
        };
        if ended_milli == 0 || ended_milli >= rate_milli {
            // No session has ended yet and slots are free (nothing to go
            // by), or slots free at least as fast as fans go in: the rate is
            // what limits.
            return places.saturating_mul(1_000_000) / rate_milli;
        }
        // Admissions until the slots are full: rate × free / (rate − ended).
        let until_full = u128::from(self.free_slots) * u128::from(rate_milli)
            / u128::from(rate_milli - ended_milli);
        let places = u128::from(places);
        if places <= until_full {
            return (places * 1_000_000 / u128::from(rate_milli)) as u64;
        }
        let wait = until_full * 1_000_000 / u128::from(rate_milli)
            + (places - until_full) * 1_000_000 / u128::from(ended_milli);
        u64::try_from(wait).unwrap_or(u64::MAX)
    }
}

/// `count` events in `window` per second, in thousandths, over the time
/// since `first` when that is shorter than the window: the first second of
/// a sale must not report a fraction of the real rate (a floor of a whole
/// second made the fans who joined in it expect three times their wait).
fn per_second_milli(count: u64, first_ms: u64, now_ms: u64, window: &RateWindow) -> u64 {
    let span_ms = now_ms
        .saturating_sub(first_ms)
        .clamp(YOUNGEST_SPAN_MS, window.span_ms());
    count * 1_000_000 / span_ms
}

/// The shortest history the end rate is measured over: the first session
/// to end must not read as ten a second because it ended within 100 ms of
/// the measurement.
const YOUNGEST_SPAN_MS: u64 = 1_000;

/// How much of the line past the frontier is still waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineShape {
    /// Entries past the frontier that have not left.
    pub waiting: u64,
    /// Entries past the frontier, including those who left.
    pub span: u64,
}

impl LineShape {
    /// The admissions it takes to reach `position`. A position counts the
    /// fans ahead who left until the frontier skips them (it is an upper
    /// bound that only shrinks), and the one-in-twenty who give up would
    /// otherwise make every wait look that much longer than it turns out.
    /// Departures are spread evenly over the line: the fan's own place is
    /// kept, so the result is at least 1 for a waiting fan.
    pub fn live_places(self, position: u64) -> u64 {
        if self.span == 0 || self.waiting >= self.span || position == 0 {
            return position;
        }
        let scaled = u128::from(position) * u128::from(self.waiting) / u128::from(self.span);
        (scaled as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_rate_paces_while_slots_are_free() {
        let mut rate = AdmissionRate::default();
        assert_eq!(rate.eta_ms(10, FULL, 5), 2000);
        for t in 0..20 {
            rate.record(10);
            rate.measure(1_000_000 + t * 100, ROOMY);
        }
        assert_eq!(rate.eta_ms(100, FULL, 400), 250);
    }

    #[test]
    fn with_every_slot_taken_fans_go_in_as_sessions_end() {
        // The 20,000-fan sale: 3,000 slots of 300 s, taken within 20 s;
        // sessions then end at 12 a second. Before, the estimate took the
        // admission rate of the last ten seconds (almost nobody: the slots
        // were full) and told a fan 900 places back 480 s; it went in 40 s
        // later.
        let slots = |active| Slots {
            active,
            max_active: 3_000,
            session_ttl_ms: 300_000,
        };
        let mut rate = AdmissionRate::default();
        rate.measure(1_000_000, slots(3_000));
        for t in 1..=100u64 {
            // 1.2 sessions end a tenth of a second, and as many fans go in.
            let ended = 1 + u32::from(t % 5 == 0);
            rate.record(ended);
            rate.measure(1_000_000 + t * 100, slots(3_000));
        }
        about(rate.eta_ms(900, FULL, 200), 75_000);
        // Full before any session ended: the TTL is what there is to go by
        // (3,000 per 300 s, 10 a second).
        let mut young = AdmissionRate::default();
        young.measure(1_000_000, slots(2_000));
        young.record(1_000);
        young.measure(1_005_000, slots(3_000));
        assert_eq!(young.eta_ms(900, FULL, 200), 90_000);
    }

    const ROOMY: Slots = Slots {
        active: 0,
        max_active: 1_000_000,
        session_ttl_ms: 600_000,
    };

    #[test]
    fn when_sessions_end_slower_than_fans_go_in_the_slots_run_out() {
        let mut rate = AdmissionRate::default();
        let mut active = 0;
        rate.measure(
            1_000_000,
            Slots {
                active,
                max_active: 300,
                session_ttl_ms: 600_000,
            },
        );
        // Ten seconds at 20 admissions per second, while 10 sessions per
        // second end: the active count grows by 10 a second.
        for t in 1..=100u64 {
            let now = 1_000_000 + t * 100;
            rate.record(2);
            active += 1;
            rate.measure(
                now,
                Slots {
                    active,
                    max_active: 300,
                    session_ttl_ms: 600_000,
                },
            );
        }
        assert_eq!(active, 100);
        // 200 slots free, filling at 10/s: full in 20 s, after 400 more
        // admissions at 20/s. A fan 100 places back is rate-limited...
        about(rate.eta_ms(100, FULL, 20), 5_000);
        // ...and one 600 back goes in 20 s later, plus 200 at 10/s.
        about(rate.eta_ms(600, FULL, 20), 40_000);
        // With every slot taken, only ended sessions let anybody in.
        rate.measure(
            1_010_000,
            Slots {
                active: 300,
                max_active: 300,
                session_ttl_ms: 600_000,
            },
        );
        about(rate.eta_ms(50, FULL, 20), 5_000);
    }

    #[test]
    fn slots_that_free_faster_than_admissions_do_not_limit() {
        let mut rate = AdmissionRate::default();
        rate.measure(
            1_000_000,
            Slots {
                active: 50,
                max_active: 60,
                session_ttl_ms: 600_000,
            },
        );
        for t in 1..=100u64 {
            let now = 1_000_000 + t * 100;
            rate.record(1);
            // Every admission is matched by an end, and more.
            rate.measure(
                now,
                Slots {
                    active: 40,
                    max_active: 60,
                    session_ttl_ms: 600_000,
                },
            );
        }
        about(rate.eta_ms(100, FULL, 10), 10_000);
    }

    #[test]
    fn a_trickle_of_ended_sessions_is_floored_by_the_session_ttl() {
        let mut rate = AdmissionRate::default();
        let slots = |active| Slots {
            active,
            max_active: 400,
            session_ttl_ms: 60_000,
        };
        rate.measure(1_000_000, slots(100));
        // 20 admissions a second for ten seconds, and a single session ended.
        let mut active = 99;
        for t in 1..=100u64 {
            let now = 1_000_000 + t * 100;
            rate.record(2);
            active += 2;
            rate.measure(now, slots(active));
        }
        assert_eq!(active, 299);
        // Measured, sessions end at 0.1/s; the TTL says at least 400 a
        // minute once full. The 101 free slots fill at 13.3/s, after 151
        // more admissions (7.6 s), then 849 places go in at 6.7/s.
        about(rate.eta_ms(1_000, FULL, 20), 134_850);
    }

    /// Within 2 %: the window's edges shift a measured rate by a bucket.
    #[track_caller]
    fn about(actual: u64, expected: u64) {
        let tolerance = expected / 50;
        assert!(
            actual.abs_diff(expected) <= tolerance,
            "{actual} is not within 2 % of {expected}"
        );
    }

    const FULL: LineShape = LineShape {
        waiting: 1000,
        span: 1000,
    };

    #[test]
    fn fans_ahead_who_left_do_not_count() {
        let rate = AdmissionRate::default();
        // A fifth of the line left: 100 places ahead are 80 admissions.
        let line = LineShape {
            waiting: 800,
            span: 1000,
        };
        assert_eq!(rate.eta_ms(100, line, 10), 8000);
        assert_eq!(line.live_places(1), 1, "the fan's own place stays");
        assert_eq!(line.live_places(0), 0);
        let empty = LineShape {
            waiting: 0,
            span: 0,
        };
        assert_eq!(empty.live_places(5), 5);
    }
}
