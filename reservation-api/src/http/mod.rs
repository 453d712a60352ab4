//! The HTTP API (axum), documented in `proto-notes/reservation-api.md`.
//!
//! Handlers are thin: authenticate (extractors in [`auth`]), parse JSON into
//! the DTOs of [`dto`], call the service, serialize. Every failure is a
//! `crate::Error`, turned into a response in `error.rs` only.

pub mod auth;
pub mod dto;
pub mod error;
mod events;
mod holder;
mod idempotency;
mod ops;
pub mod payment_dto;
mod payments;
mod reservations;
mod tickets;

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::routing::{get, patch};
use axum::Router;

use crate::error::{Error, ErrorCode};
use crate::service::Reservations;

#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Reservations>,
    pub admin_key: Arc<str>,
    pub token_secret: Arc<[u8]>,
    /// The bus the outbox goes to (for its counters in /metrics).
    pub bus: Option<Arc<dyn ticketon_bus::Publisher>>,
    pub admissions_consumed: Arc<ticketon_bus::ConsumerStats>,
    pub payments: Arc<crate::payments::Payments>,
}

// Hand-written so that the admin key and the token secret never reach a
// log line.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("svc", &self.svc)
            .finish_non_exhaustive()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/api/events", get(events::list).post(events::create))
        .route("/v1/api/events/{event_id}", get(events::get_one))
        .route(
            "/v1/api/events/{event_id}/status",
            patch(events::set_status),
        )
        .route("/v1/api/events/{event_id}/seats", get(events::seats))
        .route(
            "/v1/api/reservations",
            axum::routing::post(reservations::create),
        )
        .route(
            "/v1/api/reservations/{reservation_id}",
            get(reservations::get_one).delete(reservations::release),
        )
        .route(
            "/v1/api/reservations/{reservation_id}/status",
            patch(reservations::set_status),
        )
        .route("/v1/api/payments", axum::routing::post(payments::pay))
        .route("/v1/api/tickets", get(tickets::list))
        .route("/v1/api/tickets/{ticket_id}", get(tickets::get_one))
        .route(
            "/v1/api/tickets/{ticket_id}/status",
            patch(tickets::set_status),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: Uri) -> Error {
    Error::rejected(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> axum::response::Response {
    let body =
        ticketon_wire::ErrorBody::new("method_not_allowed", "method not allowed on this path")
            .to_json();
    crate::http::error::json_response(StatusCode::METHOD_NOT_ALLOWED, body)
}
