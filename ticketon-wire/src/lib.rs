//! Ticketon's wire contract: what crosses a process boundary between the
//! queue-server, the reservation-api and the outside world.
//!
//! Everything here is described in prose in `proto-notes/`; this crate is the
//! single Rust definition of it, so that the two services cannot drift apart.
//! It does no IO and needs no runtime: the event bus that carries these
//! events is `ticketon-bus`.

pub mod entry_status;
pub mod error_body;
pub mod events;
pub mod readiness;
pub mod token;

pub use entry_status::{EntryStatus, QueueState};
pub use error_body::{ErrorBody, ErrorDetail};
pub use events::{AdmissionEvent, EntryEvent, SessionEvent, TicketEvent, EVENT_SCHEMA_VERSION};
pub use readiness::{DependencyCheck, Readiness};
pub use token::{AdmissionClaims, TokenError, ADMISSION_ISSUER};
