//! The queue-server's one error type. Every failure a client can see is a
//! variant here; `http::response` maps each to a status and an error code in
//! one place.

use crate::model::SettingsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("missing Authorization: Bearer <admin key>")]
    Unauthorized,
    #[error("the admin key is not valid")]
    Forbidden,
    #[error("no queue {0:?}")]
    QueueNotFound(String),
    #[error("no such entry in queue {0:?}")]
    EntryNotFound(String),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    BodyTimeout(String),
    #[error("the queue {0:?} is closed")]
    QueueClosed(String),
    #[error("every seat of the sale behind queue {0:?} is sold")]
    SoldOut(String),
    #[error("this address joined this queue {limit} times in the last minute; try again later")]
    TooManyJoins { limit: u32, retry_after_sec: u32 },
    #[error("this address already holds {limit} open streams")]
    TooManyStreams { limit: u32 },
    #[error("{0}")]
    BadUpgrade(String),
    #[error(transparent)]
    ProofOfWork(#[from] crate::proof_of_work::PowRefusal),
    #[error("queue {0:?} asks for no proof of work: join directly")]
    PowNotRequired(String),
    #[error("{0}")]
    ScheduleFixed(String),
    #[error("queue {0:?} has no pre-queue draw")]
    NoDraw(String),
    #[error("the service is temporarily unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after_sec: u32,
    },
}

impl From<SettingsError> for QueueError {
    fn from(e: SettingsError) -> Self {
        QueueError::InvalidField(e.0)
    }
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::QueueNotFound(id) => QueueError::QueueNotFound(id),
            StoreError::QueueClosed(id) => QueueError::QueueClosed(id),
            StoreError::Unavailable(reason) => QueueError::Unavailable {
                reason,
                retry_after_sec: 1,
            },
        }
    }
}
