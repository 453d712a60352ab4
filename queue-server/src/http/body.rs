//! Request and response bodies of the HTTP API (documented in
//! proto-notes/queue-server.md). Field names are camelCase on the wire.

use serde::{Deserialize, Serialize};

use crate::model::{QueueId, QueueStatus};
use crate::store::QueueInfo;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PutQueueBody {
    pub admission_rate_per_sec: u32,
    pub max_active: u32,
    pub session_ttl_sec: u32,
    /// Joins per client address and minute; absent or 0 for no limit.
    #[serde(default)]
    pub joins_per_ip_per_minute: u32,
    /// Proof of work per join, in tries on average; absent or 0 for none.
    #[serde(default)]
    pub pow_difficulty: u32,
    #[serde(default)]
    pub pow_adaptive: bool,
    /// RFC 3339: a scheduled sale, opening then. Only when the queue is
    /// created (later `PUT`s may repeat it or leave it out).
    pub opens_at: Option<String>,
    /// With `opensAt`: fans who join before it are drawn at random.
    #[serde(default)]
    pub prequeue: bool,
    /// Only used when the queue is created; `open` if absent (a scheduled
    /// queue takes none: it waits for its opening).
    pub status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody<'a> {
    #[serde(borrow)]
    pub status: std::borrow::Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinBody<'a> {
    #[serde(borrow)]
    pub user_id: std::borrow::Cow<'a, str>,
    /// The solved proof of work, as the ALTCHA widget sends it (base64 of
    /// its payload JSON); only for queues that ask for one.
    #[serde(borrow, default)]
    pub altcha: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueBody<'a> {
    pub queue_id: &'a str,
    pub status: &'static str,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub admission_rate_per_sec: u32,
    pub max_active: u32,
    pub session_ttl_sec: u32,
    pub joins_per_ip_per_minute: u32,
    pub pow_difficulty: u32,
    pub pow_adaptive: bool,
    /// RFC 3339, for a scheduled sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    pub prequeue: bool,
    /// Entries the pre-queue draw placed.
    pub drawn: u64,
}

impl<'a> QueueBody<'a> {
    pub fn new(queue_id: &'a QueueId, info: &QueueInfo) -> Self {
        QueueBody {
            queue_id: queue_id.as_str(),
            status: info.status.as_str(),
            waiting: info.counters.waiting,
            active: info.counters.active,
            admitted_total: info.counters.admitted_total,
            admission_rate_per_sec: info.settings.admission_rate_per_sec,
            max_active: info.settings.max_active,
            session_ttl_sec: info.settings.session_ttl_sec,
            joins_per_ip_per_minute: info.settings.joins_per_ip_per_minute,
            pow_difficulty: info.settings.pow_difficulty,
            pow_adaptive: info.settings.pow_adaptive,
            opens_at: (info.settings.opens_at_ms > 0)
                .then(|| crate::service::rfc3339(info.settings.opens_at_ms)),
            prequeue: info.settings.prequeue,
            drawn: info.drawn,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponseBody<'a> {
    pub entry_id: String,
    pub queue_id: &'a str,
    pub user_id: &'a str,
    #[serde(flatten)]
    pub entry: ticketon_wire::EntryStatus,
}

pub fn queue_status_word(status: QueueStatus) -> &'static str {
    status.as_str()
}
