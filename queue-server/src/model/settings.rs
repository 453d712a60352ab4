//! Validated identifiers and queue settings.
//!
//! Validation lives here, not in the HTTP layer, so that every way into the
//! model (HTTP, Redis replay, tests) sees the same rules.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Why a value was refused; the message is shown to API clients as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// `[A-Za-z0-9_-]{1,64}`, one per sale.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(Box<str>);

impl QueueId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        if Self::is_valid(raw) {
            Ok(QueueId(raw.into()))
        } else {
            Err(SettingsError(format!(
                "queueId must be 1 to {} characters of A-Z, a-z, 0-9, '_' or '-'",
                Self::MAX_LEN
            )))
        }
    }

    pub fn is_valid(raw: &str) -> bool {
        !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for QueueId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fan's identity as the client states it: 1 to 128 characters, no control
/// characters (they would end up in logs and tokens). Shared (`Arc`) because
/// the same id sits in the entry list and in the one-entry-per-user index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(Arc<str>);

impl Borrow<str> for UserId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS || raw.chars().any(char::is_control) {
            return Err(SettingsError(format!(
                "userId must be 1 to {} characters without control characters",
                Self::MAX_CHARS
            )));
        }
        Ok(UserId(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// Joins accepted, admission running.
    Open,
    /// Joins accepted, nobody admitted (e.g. the sale has not started yet).
    Paused,
    /// Joins refused; admission stops, live sessions run out normally.
    Closed,
    /// A scheduled sale before it opens: joins accepted into the pre-queue,
    /// nobody admitted, no positions; at `opensAt` the pre-queue is drawn
    /// (`model::draw`) and the queue opens. Only the schedule sets it.
    Prequeue,
    /// Every seat is sold (the reservation-api says so on
    /// `ticketon.sessions`, or an operator sets it): joins refused, nobody
    /// admitted, waiting fans told so. Live sessions run out normally.
    SoldOut,
}

impl QueueStatus {
    pub fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw {
            "open" => Ok(QueueStatus::Open),
            "paused" => Ok(QueueStatus::Paused),
            "closed" => Ok(QueueStatus::Closed),
            "sold_out" => Ok(QueueStatus::SoldOut),
            "prequeue" => Ok(QueueStatus::Prequeue),
            other => Err(SettingsError(format!(
                "status must be \"open\", \"paused\", \"closed\" or \"sold_out\", not {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Open => "open",
            QueueStatus::Paused => "paused",
            QueueStatus::Closed => "closed",
            QueueStatus::SoldOut => "sold_out",
            QueueStatus::Prequeue => "prequeue",
        }
    }

    pub const ALL: [QueueStatus; 5] = [
        QueueStatus::Open,
        QueueStatus::Paused,
        QueueStatus::Closed,
        QueueStatus::SoldOut,
        QueueStatus::Prequeue,
    ];

    /// Whether a new fan may take a place in line.
    pub fn takes_joins(self) -> bool {
        matches!(
            self,
            QueueStatus::Open | QueueStatus::Paused | QueueStatus::Prequeue
        )
    }
}

/// The operator's knobs of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Admissions per second, never exceeded in any one-second window.
    pub admission_rate_per_sec: u32,
    /// Admitted sessions alive at once.
    pub max_active: u32,
    /// How long an admission lasts (and the admission token's lifetime).
    pub session_ttl_sec: u32,
    /// Joins one client address may make per minute (a burst of as many,
    /// refilled evenly); 0 for no limit.
    pub joins_per_ip_per_minute: u32,
    /// Proof of work a join needs, in tries on average; 0 for none (see
    /// `crate::proof_of_work`).
    pub pow_difficulty: u32,
    /// The difficulty grows with the line (`proof_of_work::difficulty`).
    pub pow_adaptive: bool,
    /// When a scheduled sale opens (Unix ms); 0 for a queue without a
    /// schedule. Fixed when the queue is created.
    pub opens_at_ms: u64,
    /// Whether fans who join before `opens_at_ms` wait in a pre-queue that
    /// is drawn at the opening (else they line up first come, first served
    /// in a paused queue that opens then).
    pub prequeue: bool,
}

impl QueueSettings {
    pub const MAX_RATE: u32 = 100_000;
    pub const MAX_ACTIVE: u32 = 10_000_000;
    pub const MAX_TTL_SEC: u32 = 24 * 3600;
    pub const MAX_JOINS_PER_IP_PER_MINUTE: u32 = 1_000_000;
    pub const MAX_POW_DIFFICULTY: u32 = 1_000_000;

    pub fn new(
        admission_rate_per_sec: u32,
        max_active: u32,
        session_ttl_sec: u32,
    ) -> Result<Self, SettingsError> {
        if !(1..=Self::MAX_RATE).contains(&admission_rate_per_sec) {
            return Err(SettingsError(format!(
                "admissionRatePerSec must be between 1 and {}",
                Self::MAX_RATE
            )));
        }
        if !(1..=Self::MAX_ACTIVE).contains(&max_active) {
            return Err(SettingsError(format!(
                "maxActive must be between 1 and {}",
                Self::MAX_ACTIVE
            )));
        }
        if !(1..=Self::MAX_TTL_SEC).contains(&session_ttl_sec) {
            return Err(SettingsError(format!(
                "sessionTtlSec must be between 1 and {}",
                Self::MAX_TTL_SEC
            )));
        }
        Ok(QueueSettings {
            admission_rate_per_sec,
            max_active,
            session_ttl_sec,
            joins_per_ip_per_minute: 0,
            pow_difficulty: 0,
            pow_adaptive: false,
            opens_at_ms: 0,
            prequeue: false,
        })
    }

    /// Limits the joins of one client address (0: no limit).
    pub fn with_joins_per_ip_per_minute(mut self, joins: u32) -> Result<Self, SettingsError> {
        if joins > Self::MAX_JOINS_PER_IP_PER_MINUTE {
            return Err(SettingsError(format!(
                "joinsPerIpPerMinute must be between 0 (no limit) and {}",
                Self::MAX_JOINS_PER_IP_PER_MINUTE
            )));
        }
        self.joins_per_ip_per_minute = joins;
        Ok(self)
    }

    /// Asks joins for a proof of work of about `difficulty` tries (0: none),
    /// growing with the line when `adaptive` (which does nothing without a
    /// difficulty to grow from).
    pub fn with_proof_of_work(
        mut self,
        difficulty: u32,
        adaptive: bool,
    ) -> Result<Self, SettingsError> {
        if difficulty > Self::MAX_POW_DIFFICULTY {
            return Err(SettingsError(format!(
                "powDifficulty must be between 0 (none) and {}",
                Self::MAX_POW_DIFFICULTY
            )));
        }
        self.pow_difficulty = difficulty;
        self.pow_adaptive = adaptive;
        Ok(self)
    }

    /// Schedules the sale to open at `opens_at_ms` (0: unscheduled), with or
    /// without a drawn pre-queue. Whether the time is still ahead is the
    /// caller's to check: a store reading a queue back takes it as it is.
    pub fn with_schedule(
        mut self,
        opens_at_ms: u64,
        prequeue: bool,
    ) -> Result<Self, SettingsError> {
        if prequeue && opens_at_ms == 0 {
            return Err(SettingsError(
                "prequeue needs opensAt: the pre-queue is drawn when the sale opens".into(),
            ));
        }
        self.opens_at_ms = opens_at_ms;
        self.prequeue = prequeue;
        Ok(self)
    }

    /// The status a new queue with these settings starts in, unless the
    /// operator names one: a scheduled sale waits for its opening.
    pub fn initial_status(&self) -> QueueStatus {
        match (self.opens_at_ms, self.prequeue) {
            (0, _) => QueueStatus::Open,
            (_, true) => QueueStatus::Prequeue,
            (_, false) => QueueStatus::Paused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_follow_the_documented_alphabet() {
        assert!(QueueId::parse("concert-2026_seoul").is_ok());
        assert!(QueueId::parse(&"a".repeat(64)).is_ok());
        assert!(QueueId::parse("").is_err());
        assert!(QueueId::parse(&"a".repeat(65)).is_err());
        assert!(QueueId::parse("has space").is_err());
        assert!(QueueId::parse("slash/y").is_err());
        assert!(QueueId::parse("한글").is_err());
    }

    #[test]
    fn user_ids_count_characters_not_bytes() {
        assert!(UserId::parse(&"가".repeat(128)).is_ok());
        assert!(UserId::parse(&"가".repeat(129)).is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("tab\there").is_err());
    }

    #[test]
    fn settings_are_bounded() {
        assert!(QueueSettings::new(100, 5000, 600).is_ok());
        assert!(QueueSettings::new(0, 5000, 600).is_err());
        assert!(QueueSettings::new(100, 0, 600).is_err());
        assert!(QueueSettings::new(100, 5000, 0).is_err());
        assert!(QueueSettings::new(QueueSettings::MAX_RATE + 1, 1, 1).is_err());
    }

    #[test]
    fn status_parses_only_known_words() {
        assert_eq!(QueueStatus::parse("paused").unwrap(), QueueStatus::Paused);
        assert!(QueueStatus::parse("Open").is_err());
    }
}
