//! One queue: its line, its admitted sessions, and the rules between them.
//!
//! Invariants kept here (and property-tested below):
//! - one entry per user: a second join returns the first entry;
//! - admission is strictly FIFO by sequence number;
//! - never more than `admission_rate_per_sec` admissions in any one-second
//!   window, paced smoothly (see [`Pacer`]);
//! - never more than `max_active` admitted sessions alive at once;
//! - a waiting entry's position never increases;
//! - a scheduled sale admits nobody before it opens; with a pre-queue, the
//!   fans who joined before the opening go in by the draw (a permutation of
//!   the block, [`LineOrder`]) and everyone after them in join order.
//!
//! Admission walks *places*, not seqs: the place of an entry is its seq,
//! except in a drawn block, where the draw gives it. The frontier is the
//! highest place admission has passed.

use std::collections::BTreeSet;

use super::admission::{admission_budget, LineSnapshot};
use super::admission_rate::{AdmissionRate, LineShape, Slots};
use super::chunked::ChunkedVec;
use super::draw::LineOrder;
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

/// Where a scheduled sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Not scheduled, or already open.
    Opened,
    /// Opens at this time.
    Pending { opens_at_ms: u64 },
    /// The pre-queue closed at the opening with the first `block` seqs in
    /// it, and waits for its draw ([`Queue::commit_draw`]).
    Sealed { block: u64 },
}

/// A pre-queue entry whose place is not drawn yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undrawn {
    pub opens_at_ms: u64,
    /// Fans in the pre-queue so far (all of it once sealed).
    pub participants: u64,
    /// The wait from the opening at the 25th and 75th percentile of the
    /// places the draw may give: every place is as likely.
    pub eta_p25_ms: u64,
    pub eta_p75_ms: u64,
}

impl Undrawn {
    /// Where entry `seq` stands while its pre-queue is not drawn (`None`
    /// once it has a place), with `joined` entries in the line so far and
    /// the line's estimate of the wait at a position.
    pub fn of(
        schedule: Schedule,
        settings: &QueueSettings,
        joined: u64,
        seq: Seq,
        eta_ms: impl Fn(u64) -> u64,
    ) -> Option<Undrawn> {
        let participants = match schedule {
            Schedule::Pending { .. } if settings.prequeue => joined,
            Schedule::Sealed { block } if seq <= block => block,
            _ => return None,
        };
        Some(Undrawn {
            opens_at_ms: settings.opens_at_ms,
            participants,
            eta_p25_ms: eta_ms(participants.div_ceil(4)),
            eta_p75_ms: eta_ms((participants * 3).div_ceil(4)),
        })
    }
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
    schedule: Schedule,
    order: LineOrder,
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
            schedule: match settings.opens_at_ms {
                0 => Schedule::Opened,
                opens_at_ms => Schedule::Pending { opens_at_ms },
            },
            order: LineOrder::default(),
        }
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The drawn order (empty before a draw, or without one).
    pub fn order(&self) -> &LineOrder {
        &self.order
    }

    /// Opens a scheduled sale whose time has come. A paused queue opens
    /// (an operator's other choice stands); a pre-queue is sealed, and the
    /// size of the block to draw is returned for as long as it is not
    /// drawn. Called before every join and every tick, so that no join
    /// after the opening enters the block.
    pub fn open_if_due(&mut self, now_ms: u64) -> Option<u64> {
        match self.schedule {
            Schedule::Opened => None,
            Schedule::Sealed { block } => Some(block),
            Schedule::Pending { opens_at_ms } if now_ms < opens_at_ms => None,
            Schedule::Pending { .. } if self.settings.prequeue => {
                let block = self.entries.len() as u64;
                self.schedule = Schedule::Sealed { block };
                Some(block)
            }
            Schedule::Pending { .. } => {
                self.schedule = Schedule::Opened;
                if self.status == QueueStatus::Paused {
                    self.status = QueueStatus::Open;
                }
                None
            }
        }
    }

    /// Puts the sealed block in its drawn order and opens the queue (if the
    /// operator did not close it meanwhile). False, and nothing changes,
    /// when the order is not for the block sealed (or it was drawn already).
    pub fn commit_draw(&mut self, order: LineOrder) -> bool {
        if self.schedule
            != (Schedule::Sealed {
                block: order.block(),
            })
        {
            return false;
        }
        self.order = order;
        self.schedule = Schedule::Opened;
        if self.status == QueueStatus::Prequeue {
            self.status = QueueStatus::Open;
        }
        true
    }

    /// Whether a pre-queue has yet to be drawn: until it is, nobody is
    /// admitted, whatever the status says.
    fn awaits_draw(&self) -> bool {
        match self.schedule {
            Schedule::Sealed { .. } => true,
            Schedule::Pending { .. } => self.settings.prequeue,
            Schedule::Opened => false,
        }
    }

    /// The entry's place in admission order.
    pub fn place_of(&self, seq: Seq) -> u64 {
        self.order.place_of(seq)
    }

    /// `Some` while the entry waits in a pre-queue not drawn yet: it has no
    /// position, only the spread of its likely waits.
    pub fn undrawn(&self, seq: Seq) -> Option<Undrawn> {
        Undrawn::of(
            self.schedule,
            &self.settings,
            self.entries.len() as u64,
            seq,
            |position| self.eta_ms(position),
        )
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

    /// The operator's choice. A pre-queue is left to its draw: the status
    /// of a queue in it is only changed by the draw or to close the sale.
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
        self.place_of(seq).saturating_sub(self.frontier)
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
        if self.status == QueueStatus::Open && !self.awaits_draw() {
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
            let seq = self.order.seq_at(self.frontier + 1);
            let Some(next) = self.entries.get_mut((seq - 1) as usize) else {
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
            self.active.insert((expires_at_ms, seq));
            self.rate.record(1);
            admitted.push(Admission {
                seq,
                user: next.user.clone(),
                admitted_at_ms: now_ms,
                expires_at_ms,
            });
        }
    }

    /// Moves the frontier over entries that left while waiting; they take no
    /// admission slot.
    fn skip_departed(&mut self) {
        while let Some(entry) = self
            .entries
            .get((self.order.seq_at(self.frontier + 1) - 1) as usize)
        {
            if entry.state != EntryState::Left {
                break;
            }
            self.frontier += 1;
        }
    }
}

#[cfg(test)]
mod tests;
