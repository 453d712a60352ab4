//! A sliding-window event counter in fixed memory: a ring of time buckets.
//!
//! Used twice: with 1 ms buckets over one second it is the hard guarantee
//! that admissions never exceed the configured rate in any one-second window
//! (whatever the pacer's arithmetic does at the edges), and with 100 ms
//! buckets over ten seconds it measures the admission rate actually achieved,
//! which is what ETAs are based on. Memory is constant whatever the rate.

#[derive(Debug, Clone)]
pub struct RateWindow {
    buckets: Box<[u32]>,
    bucket_ms: u64,
    /// Absolute index (`time / bucket_ms`) of the newest bucket.
    head: u64,
    sum: u64,
}

impl RateWindow {
    /// A window of `bucket_count` buckets of `bucket_ms` each.
    pub fn new(bucket_count: usize, bucket_ms: u64) -> Self {
        assert!(bucket_count > 0 && bucket_ms > 0);
        RateWindow {
            buckets: vec![0; bucket_count].into_boxed_slice(),
            bucket_ms,
            head: 0,
            sum: 0,
        }
    }

    pub fn span_ms(&self) -> u64 {
        self.buckets.len() as u64 * self.bucket_ms
    }

    /// Moves the window so that its newest bucket holds `now_ms`. Time that
    /// goes backwards is treated as "still the newest bucket".
    fn advance(&mut self, now_ms: u64) {
        let target = now_ms / self.bucket_ms;
        if target <= self.head {
            return;
        }
        let len = self.buckets.len() as u64;
        let steps = (target - self.head).min(len);
        for i in 1..=steps {
            let idx = ((self.head + i) % len) as usize;
            self.sum -= u64::from(self.buckets[idx]);
            self.buckets[idx] = 0;
        }
        self.head = target;
    }

    /// Events recorded in the window ending at `now_ms` (inclusive).
    pub fn count(&mut self, now_ms: u64) -> u64 {
        self.advance(now_ms);
        self.sum
    }

    pub fn record(&mut self, now_ms: u64, events: u32) {
        self.advance(now_ms);
        let idx = (self.head % self.buckets.len() as u64) as usize;
        self.buckets[idx] = self.buckets[idx].saturating_add(events);
        self.sum += u64::from(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_events_inside_the_window() {
        let mut w = RateWindow::new(1000, 1);
        w.record(10_000, 3);
        w.record(10_500, 2);
        assert_eq!(w.count(10_999), 5);
        assert_eq!(w.count(11_000), 2, "the event at 10_000 left the window");
        assert_eq!(w.count(11_500), 0);
    }

    #[test]
    fn a_long_gap_clears_everything() {
        let mut w = RateWindow::new(100, 100);
        w.record(0, 7);
        assert_eq!(w.count(1_000_000), 0);
        w.record(1_000_000, 1);
        assert_eq!(w.count(1_000_001), 1);
    }

    #[test]
    fn time_going_backwards_does_not_lose_counts() {
        let mut w = RateWindow::new(10, 1);
        w.record(100, 1);
        w.record(90, 1);
        assert_eq!(w.count(100), 2);
    }
}
