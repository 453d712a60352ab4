//! Whether Redis answers, and the one way every call reaches it.
//!
//! Every call goes through [`call`]: a deadline on top of the client's own
//! timeouts (so nothing waits on Redis past it), failures mapped to
//! `StoreError::Unavailable` (503 with Retry-After), and the outcome
//! recorded for `/healthz`. Only connectivity failures mark Redis down; a
//! script error is a bug to log, not an outage.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::RedisError;

use crate::store::StoreError;

/// Whether Redis answered the last call.
pub(super) struct Health {
    up: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            up: AtomicBool::new(true),
        }
    }
}

impl Health {
    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn record<T>(&self, result: &Result<T, RedisError>) {
        match result {
            Ok(_) => self.up.store(true, Ordering::Relaxed),
            Err(e) if is_connectivity(e) => {
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "Redis is unreachable; serving polls from the last known state");
                }
            }
            Err(e) => tracing::error!(error = %e, "Redis refused a call"),
        }
    }
}

fn is_connectivity(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

fn unavailable(e: RedisError) -> StoreError {
    StoreError::Unavailable(format!("Redis: {e}"))
}

/// Runs one Redis call under `deadline`, recording the outcome in `health`.
pub(super) async fn call<T>(
    health: &Health,
    deadline: Duration,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    let result = match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from((
            redis::ErrorKind::Io,
            "no answer before the deadline",
        ))),
    };
    health.record(&result);
    result.map_err(unavailable)
}

pub(super) fn bad_reply(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unexpected reply from Redis: {e}"))
}
