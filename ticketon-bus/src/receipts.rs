//! Delivery receipts: how a publisher learns that a record it must never
//! lose has reached the broker, so that it can move a durable cursor past it
//! (the queue-server's announced-admissions cursor in Redis).
//!
//! Records are numbered as they are accepted. Deliveries come back out of
//! order (records of different partitions travel separately), so what a
//! caller can act on is the low watermark: every receipted record numbered
//! at or below [`ReceiptStatus::delivered_through`] is delivered. A record
//! that failed for good holds the watermark below itself until the caller
//! has seen the failure and cleared it ([`Receipts::clear_failed`]), having
//! arranged to publish the lost records again: a watermark that simply
//! skipped it would let the cursor pass a record that never arrived.

use std::collections::BTreeSet;

use parking_lot::Mutex;

/// A receipted record's number, from 1 in acceptance order.
pub type Receipt = u64;

/// Where the receipted records stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptStatus {
    /// Every receipted record numbered up to here is delivered.
    pub delivered_through: Receipt,
    /// Receipted records that failed for good and were not cleared yet.
    pub failed: u64,
}

impl ReceiptStatus {
    /// A bus whose acceptance is its delivery (the in-process bus).
    pub const ALL_DELIVERED: ReceiptStatus = ReceiptStatus {
        delivered_through: Receipt::MAX,
        failed: 0,
    };
}

/// The bookkeeping of a publisher whose deliveries are confirmed later.
#[derive(Debug, Default)]
pub struct Receipts {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Receipt,
    outstanding: BTreeSet<Receipt>,
    failed: BTreeSet<Receipt>,
}

impl Receipts {
    /// Numbers a record about to be handed to the bus.
    pub fn issue(&self) -> Receipt {
        let mut state = self.state.lock();
        state.last += 1;
        let receipt = state.last;
        state.outstanding.insert(receipt);
        receipt
    }

    /// The bus refused the record: it will never be delivered, and was
    /// never accepted.
    pub fn withdraw(&self, receipt: Receipt) {
        self.state.lock().outstanding.remove(&receipt);
    }

    pub fn delivered(&self, receipt: Receipt) {
        self.state.lock().outstanding.remove(&receipt);
    }

    pub fn failed(&self, receipt: Receipt) {
        let mut state = self.state.lock();
        if state.outstanding.remove(&receipt) {
            state.failed.insert(receipt);
        }
    }

    pub fn status(&self) -> ReceiptStatus {
        let state = self.state.lock();
        let first_open = [state.outstanding.first(), state.failed.first()]
            .into_iter()
            .flatten()
            .min()
            .copied();
        ReceiptStatus {
            delivered_through: first_open.map_or(state.last, |open| open - 1),
            failed: state.failed.len() as u64,
        }
    }

    /// Lets the watermark pass the failed records: the caller publishes
    /// what they carried again, under new receipts.
    pub fn clear_failed(&self) {
        self.state.lock().failed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_waits_for_the_oldest_record_in_flight() {
        let receipts = Receipts::default();
        let [a, b, c] = [(); 3].map(|_| receipts.issue());
        assert_eq!(receipts.status().delivered_through, 0);
        receipts.delivered(b);
        receipts.delivered(c);
        assert_eq!(
            receipts.status().delivered_through,
            0,
            "a is still in flight"
        );
        receipts.delivered(a);
        assert_eq!(receipts.status().delivered_through, c);
    }

    #[test]
    fn a_refused_record_does_not_hold_the_watermark() {
        let receipts = Receipts::default();
        let a = receipts.issue();
        let b = receipts.issue();
        receipts.withdraw(b);
        receipts.delivered(a);
        assert_eq!(receipts.status().delivered_through, b);
    }

    #[test]
    fn a_failed_record_holds_the_watermark_until_it_is_cleared() {
        let receipts = Receipts::default();
        let [a, b] = [(); 2].map(|_| receipts.issue());
        receipts.failed(a);
        receipts.delivered(b);
        let status = receipts.status();
        assert_eq!(status.delivered_through, 0);
        assert_eq!(status.failed, 1);
        receipts.clear_failed();
        assert_eq!(
            receipts.status(),
            ReceiptStatus {
                delivered_through: b,
                failed: 0
            }
        );
    }
}
