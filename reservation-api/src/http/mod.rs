//! The HTTP API (axum), documented in `proto-notes/reservation-api.md`.
//!
//! Handlers are thin: authenticate (extractors in [`auth`]), parse JSON into
//! the DTOs of [`dto`], call the service, serialize. Every failure is a
//! `crate::Error`, turned into a response in `error.rs` only.

pub mod auth;
mod body;
pub mod dto;
pub mod error;
mod events;
mod holder;
mod idempotency;
mod ops;
mod pages;
mod path;
pub use pages::{Checkout, FanPages};
pub mod payment_dto;
pub use seat_map_cache::SeatMapRenders;
mod payments;
mod reservations;
mod seat_map_cache;
mod serve;
pub(crate) use serve::serve;
mod tickets;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{get, patch};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;

use crate::error::{Error, ErrorCode};
use crate::http::error::status_of;
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
    /// Seat maps rendered for pages, reused while unchanged.
    pub seat_maps: Arc<seat_map_cache::SeatMapRenders>,
    /// The fan's pages and what they are told about the site.
    pub pages: Arc<FanPages>,
    /// Origins whose pages may call the API from a browser.
    pub cors_origins: Arc<[String]>,
    /// How long a request body may pause (the header read timeout).
    pub body_read_timeout: Duration,
    /// Whether the database answers: the API refuses at once while it does not.
    pub database: Arc<crate::database_watch::DatabaseWatch>,
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
        .route("/v1/api/events/{event_id}/seat-map", get(events::seat_map))
        .route("/v1/api/events/{event_id}/sales", get(events::sales))
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
        .route(
            "/v1/api/session",
            axum::routing::delete(reservations::leave),
        )
        .route("/v1/api/payments", axum::routing::post(payments::pay))
        .route("/v1/api/payments/attention", get(payments::attention))
        .route("/v1/api/tickets", get(tickets::list))
        .route("/v1/api/tickets/{ticket_id}", get(tickets::get_one))
        .route("/v1/api/tickets/{ticket_id}/qr", get(tickets::qr))
        .route(
            "/v1/api/tickets/{ticket_id}/status",
            patch(tickets::set_status),
        )
        .route("/v1/api/site", get(pages::site))
        .route("/events/{event_id}", get(pages::fan))
        .route("/events/{event_id}/checkout", get(pages::fan))
        .route("/events/{event_id}/checkout/success", get(pages::fan))
        .route("/events/{event_id}/checkout/fail", get(pages::fan))
        .route("/tickets/{reservation_id}", get(pages::fan))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // gzip or brotli when the client accepts it; tiny answers stay as
        // they are (the layer's default predicate).
        .layer(CompressionLayer::new())
        .layer(cors(&state.cors_origins))
        .with_state(state)
}

/// Browsers may call the API from `origins` (the operator's console on
/// the queue-server's origin), with the headers the pages send; every
/// other origin gets no CORS headers, so its browser refuses the answer.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::LINK,
            header::LOCATION,
        ])
        .max_age(Duration::from_secs(600))
}

/// Counts and times every request to a route, by its template, in a span
/// that continues the caller's trace (its `traceparent`).
async fn record_request(
    State(state): State<AppState>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http.request",
        otel.name = format!("{method} {}", route.as_str()),
        otel.kind = "server",
        http.route = route.as_str(),
        http.request.method = %method,
    );
    ticketon_runtime::trace_context::continue_from_headers(&span, request.headers());
    // Every API route reads or writes the database; the pages and the
    // operator's endpoints answer without it (`/readyz` says why).
    let database_away = || {
        Error::rejected(
            ErrorCode::DatabaseUnavailable,
            "the database is unreachable; retry shortly",
        )
        .into_response()
    };
    let response = if !route.as_str().starts_with("/v1/api/") {
        next.run(request).instrument(span).await
    } else if !state.database.is_up() {
        database_away()
    } else {
        tokio::select! {
            biased;
            response = next.run(request).instrument(span) => response,
            () = state.database.gone() => database_away(),
        }
    };
    state.svc.metrics.record_request(
        route.as_str(),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found(State(state): State<AppState>, method: Method, uri: Uri) -> Error {
    // Unmatched paths share one series: their raw paths are unbounded.
    let status = status_of(ErrorCode::NotFound).as_u16();
    let metrics = &state.svc.metrics;
    metrics.record_request("unmatched", method.as_str(), status, Duration::ZERO);
    Error::rejected(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> axum::response::Response {
    let body =
        ticketon_wire::ErrorBody::new("method_not_allowed", "method not allowed on this path")
            .to_json();
    crate::http::error::json_response(StatusCode::METHOD_NOT_ALLOWED, body)
}
