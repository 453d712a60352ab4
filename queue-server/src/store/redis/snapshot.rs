//! Decoding what the Lua scripts return about a queue: the refresh
//! snapshot and the admission batches of the log.
//!
//! Kept apart from the mirror so that the wire format of the scripts (field
//! order, number encodings) is in one place, next to nothing else.

use redis::Value;

use crate::model::{QueueSettings, QueueStatus, Schedule, Seq};

/// Entries `from + 1 ..= to` passed the frontier at `at_ms`; those of them
/// that had not left were admitted until `expires_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Batch {
    pub from: Seq,
    pub to: Seq,
    pub at_ms: u64,
    pub expires_ms: u64,
    pub admitted: u32,
}

impl Batch {
    /// `from:to:at_ms:expires_ms:admitted`, as `admit.lua` writes it.
    pub(super) fn parse(raw: &str) -> Option<Batch> {
        let mut parts = raw.split(':').map(|p| p.parse::<u64>().ok());
        let batch = Batch {
            from: parts.next()??,
            to: parts.next()??,
            at_ms: parts.next()??,
            expires_ms: parts.next()??,
            admitted: u32::try_from(parts.next()??).ok()?,
        };
        (batch.from < batch.to).then_some(batch)
    }
}

/// What `refresh.lua` returned, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Snapshot {
    pub epoch: u64,
    pub settings: QueueSettings,
    pub status: QueueStatus,
    pub frontier: Seq,
    pub admitted_total: u64,
    pub left_ahead: u64,
    pub line_len: u64,
    /// Seq - 1 of the first of `new_users` (the cursor the refresh used).
    pub users_from: u64,
    pub new_users: Vec<String>,
    pub first_batch_index: u64,
    pub batches: Vec<String>,
    /// (seq, score) of departures newer than the ones already seen.
    pub leaves: Vec<(String, f64)>,
    pub active: u64,
    pub schedule: Schedule,
    /// Entries of the pre-queue placed by its committed draw (0: none).
    pub drawn: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected reply from Redis: {0}")]
pub(super) struct BadReply(pub String);

fn bad(what: impl std::fmt::Display) -> BadReply {
    BadReply(what.to_string())
}

type Parts = (
    Vec<Option<String>>,
    u64,
    Vec<String>,
    u64,
    Vec<String>,
    Vec<String>,
    u64,
);

impl Snapshot {
    /// `Ok(None)`: the queue does not exist (any more).
    pub(super) fn decode(reply: Value, users_from: u64) -> Result<Option<Snapshot>, BadReply> {
        if matches!(&reply, Value::Array(items) if items.is_empty()) {
            return Ok(None);
        }
        let (meta, line_len, new_users, first_batch_index, batches, leaves, active): Parts =
            redis::from_redis_value(reply).map_err(bad)?;
        let field = |i: usize| meta.get(i).cloned().flatten().ok_or_else(|| bad(i));
        let num = |i: usize| -> Result<u64, BadReply> { field(i)?.parse().map_err(bad) };
        let small = |i: usize| -> Result<u32, BadReply> { field(i)?.parse().map_err(bad) };
        // Absent on queues written before the setting existed: none.
        let optional = |i: usize| -> Result<u64, BadReply> {
            match meta.get(i).cloned().flatten() {
                Some(raw) => raw.parse().map_err(bad),
                None => Ok(0),
            }
        };
        let optional_small =
            |i: usize| -> Result<u32, BadReply> { u32::try_from(optional(i)?).map_err(bad) };
        let (joins_per_ip, pow, pow_adaptive) =
            (optional_small(10)?, optional_small(11)?, optional(12)? == 1);
        let (opens_at_ms, prequeue) = (optional(13)?, optional(14)? == 1);
        let settings = QueueSettings::new(small(1)?, small(2)?, small(3)?)
            .and_then(|s| s.with_joins_per_ip_per_minute(joins_per_ip))
            .and_then(|s| s.with_proof_of_work(pow, pow_adaptive))
            .and_then(|s| s.with_schedule(opens_at_ms, prequeue))
            .map_err(bad)?;
        let schedule = match meta.get(15).cloned().flatten().as_deref() {
            Some("pending") => Schedule::Pending { opens_at_ms },
            Some("sealed") => Schedule::Sealed {
                block: optional(16)?,
            },
            _ => Schedule::Opened,
        };
        let leaves = leaves
            .chunks_exact(2)
            .map(|pair| Ok((pair[0].clone(), pair[1].parse::<f64>().map_err(bad)?)))
            .collect::<Result<_, BadReply>>()?;
        Ok(Some(Snapshot {
            epoch: num(0)?,
            settings,
            status: QueueStatus::parse(&field(4)?).map_err(bad)?,
            frontier: num(5)?,
            admitted_total: num(6)?,
            left_ahead: num(7)?,
            line_len,
            users_from,
            new_users,
            first_batch_index,
            batches,
            leaves,
            active,
            schedule,
            drawn: optional(17)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_parse_and_reject_garbage() {
        assert_eq!(
            Batch::parse("3:5:1000:61000:2"),
            Some(Batch {
                from: 3,
                to: 5,
                at_ms: 1000,
                expires_ms: 61000,
                admitted: 2
            })
        );
        assert_eq!(Batch::parse("5:5:1:2:0"), None);
        assert_eq!(Batch::parse("1:2:3"), None);
        assert_eq!(Batch::parse("a:b:c:d:e"), None);
    }
}
