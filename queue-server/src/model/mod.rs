//! The waiting room's domain model: plain Rust, no IO, no clock of its own.
//!
//! Every operation takes the current time as an argument (`now_ms`, Unix
//! milliseconds) so that the rules can be unit-tested and property-tested
//! deterministically, and so that a store backed by Redis can replay the same
//! rules with the fleet's notion of time.
//!
//! The central idea is the *admission frontier*: entries get consecutive
//! sequence numbers when they join, admission walks the sequence in order,
//! and the frontier is the highest sequence number admission has passed. A
//! waiting entry's position is then `seq - frontier`, O(1) whatever the length
//! of the line, and it can never increase because the frontier only moves
//! forward. Entries that left while waiting stay in the sequence and are
//! skipped when the frontier reaches them, so positions are an upper bound
//! that only shrinks.

mod admission;
mod admission_rate;
mod chunked;
pub mod draw;
mod pacer;
mod poll_hint;
mod queue;
mod rate_window;
mod settings;
mod user_index;

pub use admission::{admission_budget, LineSnapshot};
pub use admission_rate::{AdmissionRate, LineShape, Slots};
pub use draw::LineOrder;
pub use pacer::Pacer;
pub use poll_hint::{poll_after_ms, PollHintPolicy};
pub use queue::{
    Admission, EntryState, JoinOutcome, LeaveOutcome, Queue, QueueCounters, Schedule, Seq, Undrawn,
};
pub use rate_window::RateWindow;
pub use settings::{QueueId, QueueSettings, QueueStatus, SettingsError, UserId};
