//! The store's one error type. The store decides no HTTP status: the use
//! cases pass these up, and `http/error.rs` maps them with the rest.

use crate::error::{DomainError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused the statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A row holds what this version cannot read, or vanished inside the
    /// transaction that locked it.
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    /// A rule refused, found out while reading inside the transaction (the
    /// ticket does not exist, the session has ended).
    #[error(transparent)]
    Refused(#[from] DomainError),
}

impl StoreError {
    pub(crate) fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        StoreError::Refused(DomainError::new(code, message))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
