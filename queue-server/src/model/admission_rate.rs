//! The admission rate a queue actually achieves, for ETAs.
//!
//! Shared by the in-memory line and the Redis store's local mirror (which
//! sees admissions as batches read back from Redis), so that a fan gets the
//! same estimate whichever store holds the line.

use super::rate_window::RateWindow;

#[derive(Debug, Clone)]
pub struct AdmissionRate {
    /// Admissions over the last ten seconds.
    recent: RateWindow,
    first_admission_ms: Option<u64>,
    /// Admissions per second at the last `measure`, in thousandths; cached
    /// so that polls read it without a write lock.
    observed_rate_milli: u64,
}

impl Default for AdmissionRate {
    fn default() -> Self {
        AdmissionRate {
            recent: RateWindow::new(100, 100),
            first_admission_ms: None,
            observed_rate_milli: 0,
        }
    }
}

impl AdmissionRate {
    pub fn record(&mut self, now_ms: u64, admissions: u32) {
        if admissions == 0 {
            return;
        }
        self.recent.record(now_ms, admissions);
        self.first_admission_ms.get_or_insert(now_ms);
    }

    /// Recomputes the cached rate at `now_ms`.
    pub fn measure(&mut self, now_ms: u64) {
        let count = self.recent.count(now_ms);
        let Some(first) = self.first_admission_ms else {
            self.observed_rate_milli = 0;
            return;
        };
        // A queue that has admitted before but nobody in the last window is
        // stalled (all slots busy): report a tiny rate, not the configured
        // one, so ETAs grow instead of promising what is not happening.
        let count = count.max(1);
        // Over a young queue's short history, not the full window, so the
        // first seconds of a sale do not report a tenth of the real rate.
        let span_ms = now_ms
            .saturating_sub(first)
            .clamp(1000, self.recent.span_ms());
        self.observed_rate_milli = count * 1_000_000 / span_ms;
    }

    /// Estimated wait for `position`, from the measured rate, or the
    /// configured one when nothing was admitted yet.
    pub fn eta_ms(&self, position: u64, configured_rate_per_sec: u32) -> u64 {
        let rate_milli = if self.observed_rate_milli > 0 {
            self.observed_rate_milli
        } else {
            u64::from(configured_rate_per_sec) * 1000
        };
        position.saturating_mul(1_000_000) / rate_milli.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_rate_is_used_until_admissions_are_seen() {
        let rate = AdmissionRate::default();
        assert_eq!(rate.eta_ms(10, 5), 2000);
    }

    #[test]
    fn the_measured_rate_takes_over() {
        let mut rate = AdmissionRate::default();
        for t in 0..20 {
            rate.record(1_000_000 + t * 100, 10);
        }
        rate.measure(1_002_000);
        // 200 admissions over two seconds: 100/s.
        assert_eq!(rate.eta_ms(100, 5), 1000);
    }
}
