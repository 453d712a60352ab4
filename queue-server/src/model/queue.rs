//! One queue: its line, its admitted sessions, and the rules between them.
//!
//! Invariants kept here (and property-tested below):
//! - one entry per user: a second join returns the first entry;
//! - admission is strictly FIFO by sequence number;
//! - never more than `admission_rate_per_sec` admissions in any one-second
//!   window, paced smoothly (see [`Pacer`]);
//! - never more than `max_active` admitted sessions alive at once;
//! - a waiting entry's position never increases.

use std::collections::BTreeSet;

use super::admission::{admission_budget, LineSnapshot};
use super::admission_rate::{AdmissionRate, LineShape, Slots};
use super::chunked::ChunkedVec;
use super::pacer::Pacer;
use super::settings::{QueueSettings, QueueStatus, UserId};
use super::user_index::UserIndex;

/// Position in join order, starting at 1.
pub type Seq = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    Waiting,
    Admitted {
        admitted_at_ms: u64,
        expires_at_ms: u64,
    },
    /// Left the line or ended its session (released, completed).
    Left,
    /// The admitted session ran out.
    Expired,
}

#[derive(Debug, Clone)]
struct Entry {
    user: UserId,
    state: EntryState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub seq: Seq,
    /// False when the user already had an entry and got it back.
    pub created: bool,
    pub state: EntryState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// Left while waiting: the frontier will skip it.
    LeftWaiting,
    /// Left while admitted: its slot is free again.
    LeftActive,
    /// Had already left or expired: nothing changed.
    AlreadyEnded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub seq: Seq,
    pub user: UserId,
    pub admitted_at_ms: u64,
    pub expires_at_ms: u64,
}

/// What one admission tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickOutcome {
    pub admitted: Vec<Admission>,
    /// Sessions that ran out at this tick.
    pub expired: Vec<(Seq, UserId)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounters {
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub joined_total: u64,
    /// The highest sequence number admission has passed.
    pub frontier: Seq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue is closed")]
pub struct QueueClosed;

#[derive(Debug, Clone)]
pub struct Queue {
    settings: QueueSettings,
    status: QueueStatus,
    /// `entries[seq - 1]`.
    entries: ChunkedVec<Entry>,
    by_user: UserIndex,
    frontier: Seq,
    /// Admitted sessions ordered by expiry, so expiring is a pop from the front.
    active: BTreeSet<(u64, Seq)>,
    waiting: u64,
    admitted_total: u64,
    pacer: Pacer,
    /// Measured at each tick, for ETAs.
    rate: AdmissionRate,
}

impl Queue {
    pub fn new(settings: QueueSettings, status: QueueStatus) -> Self {
        Queue {
            settings,
            status,
            entries: ChunkedVec::default(),
            by_user: UserIndex::default(),
            frontier: 0,
            active: BTreeSet::new(),
            waiting: 0,
            admitted_total: 0,
            pacer: Pacer::new(settings.admission_rate_per_sec, Pacer::DEFAULT_CATCH_UP_MS),
            rate: AdmissionRate::default(),
        }
    }

    pub fn settings(&self) -> QueueSettings {
        self.settings
    }

    pub fn status(&self) -> QueueStatus {
        self.status
    }

    pub fn update_settings(&mut self, settings: QueueSettings) {
        self.settings = settings;
        self.pacer.set_rate(settings.admission_rate_per_sec);
    }

    pub fn set_status(&mut self, status: QueueStatus) {
        self.status = status;
    }

    pub fn counters(&self) -> QueueCounters {
        QueueCounters {
            waiting: self.waiting,
            active: self.active.len() as u64,
            admitted_total: self.admitted_total,
            joined_total: self.entries.len() as u64,
            frontier: self.frontier,
        }
    }

    /// Joins `user`, or returns the entry they already have. A closed or sold
    /// out queue refuses new entries but still returns existing ones, so that a client
    /// retrying a join that was accepted before the close gets its entry.
    pub fn join(&mut self, user: UserId) -> Result<JoinOutcome, QueueClosed> {
        if let Some(seq) = self.by_user.get(user.as_str()) {
            return Ok(JoinOutcome {
                seq,
                created: false,
                state: self.entries[(seq - 1) as usize].state,
            });
        }
        if !self.status.takes_joins() {
            return Err(QueueClosed);
        }
        self.entries.push(Entry {
            user: user.clone(),
            state: EntryState::Waiting,
        });
        let seq = self.entries.len() as Seq;
        self.by_user.insert(user, seq);
        self.waiting += 1;
        Ok(JoinOutcome {
            seq,
            created: true,
            state: EntryState::Waiting,
        })
    }

    pub fn entry(&self, seq: Seq) -> Option<(&UserId, EntryState)> {
        let entry = self.entries.get(seq.checked_sub(1)? as usize)?;
        Some((&entry.user, entry.state))
    }

    pub fn seq_of(&self, user: &str) -> Option<Seq> {
        self.by_user.get(user)
    }

    /// Places ahead of a waiting entry, counting itself (the next one in is 1).
    /// Entries ahead that left are still counted until the frontier passes
    /// them: the figure is an upper bound that only shrinks.
    pub fn position(&self, seq: Seq) -> u64 {
        seq.saturating_sub(self.frontier)
    }

    /// Estimated wait for `position`: the configured rate while slots are
    /// free, the measured end of sessions once they are not.
    pub fn eta_ms(&self, position: u64) -> u64 {
        let line = LineShape {
            waiting: self.waiting,
            span: (self.entries.len() as u64).saturating_sub(self.frontier),
        };
        self.rate
            .eta_ms(position, line, self.settings.admission_rate_per_sec)
    }

    /// The fan leaves (or its purchase session ended): a waiting entry will be
    /// skipped, an admitted one frees its slot. `None` for an unknown seq.
    pub fn leave(&mut self, seq: Seq) -> Option<LeaveOutcome> {
        let index = seq.checked_sub(1)? as usize;
        let entry = self.entries.get_mut(index)?;
        let outcome = match entry.state {
            EntryState::Waiting => {
                self.waiting -= 1;
                LeaveOutcome::LeftWaiting
            }
            EntryState::Admitted { expires_at_ms, .. } => {
                self.active.remove(&(expires_at_ms, seq));
                LeaveOutcome::LeftActive
            }
            EntryState::Left | EntryState::Expired => return Some(LeaveOutcome::AlreadyEnded),
        };
        entry.state = EntryState::Left;
        Some(outcome)
    }

    /// Runs admission at `now_ms`: expires sessions that ran out, then admits
    /// waiting entries in order as far as the pacer and `max_active` allow.
    pub fn tick(&mut self, now_ms: u64) -> TickOutcome {
        let mut outcome = TickOutcome::default();
        self.expire_sessions(now_ms, &mut outcome.expired);
        if self.status == QueueStatus::Open {
            self.admit(now_ms, &mut outcome.admitted);
        }
        self.rate.measure(
            now_ms,
            Slots {
                active: self.active.len() as u64,
                max_active: u64::from(self.settings.max_active),
                session_ttl_ms: u64::from(self.settings.session_ttl_sec) * 1000,
            },
        );
        outcome
    }

    fn expire_sessions(&mut self, now_ms: u64, expired: &mut Vec<(Seq, UserId)>) {
        while let Some(&(expires_at_ms, seq)) = self.active.first() {
            if expires_at_ms > now_ms {
                break;
            }
            self.active.pop_first();
            let entry = &mut self.entries[(seq - 1) as usize];
            entry.state = EntryState::Expired;
            expired.push((seq, entry.user.clone()));
        }
    }

    fn admit(&mut self, now_ms: u64, admitted: &mut Vec<Admission>) {
        let budget = admission_budget(
            &mut self.pacer,
            now_ms,
            LineSnapshot {
                waiting: self.waiting,
                active: self.active.len() as u64,
                max_active: u64::from(self.settings.max_active),
            },
        );
        for _ in 0..budget {
            self.skip_departed();
            // `waiting` counts exactly the entries past the frontier that did
            // not leave, so the budget never runs past the end of the line.
            let Some(next) = self.entries.get_mut(self.frontier as usize) else {
                return;
            };
            let expires_at_ms = now_ms + u64::from(self.settings.session_ttl_sec) * 1000;
            next.state = EntryState::Admitted {
                admitted_at_ms: now_ms,
                expires_at_ms,
            };
            self.frontier += 1;
            self.waiting -= 1;
            self.admitted_total += 1;
            self.active.insert((expires_at_ms, self.frontier));
            self.rate.record(1);
            admitted.push(Admission {
                seq: self.frontier,
                user: next.user.clone(),
                admitted_at_ms: now_ms,
                expires_at_ms,
            });
        }
    }

    /// Moves the frontier over entries that left while waiting; they take no
    /// admission slot.
    fn skip_departed(&mut self) {
        while let Some(entry) = self.entries.get(self.frontier as usize) {
            if entry.state != EntryState::Left {
                break;
            }
            self.frontier += 1;
        }
    }
}

#[cfg(test)]
mod tests;
