//! The HTTP surface: a hand-rolled hyper 1.x server (see `server`), a
//! regex-free router, and one handler per endpoint. Dispatch happens here:
//! route, then method, then handler; errors become responses in
//! `response::error` only.

pub mod body;
pub mod client_ip;
mod handlers;
mod pages;
mod response;
pub mod router;
mod server;
mod stream;
mod takeover;

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request};

pub use pages::Pages;
pub use response::HttpResponse;
pub use server::{serve, ConnectionLimits};
pub use stream::{MAX_CLIENT_FRAME_BYTES, SSE_RETRY_MS};
pub use takeover::Client;

use crate::error::QueueError;
use crate::metrics::RouteLabel;
use crate::service::QueueService;
use crate::store::QueueStore;
use client_ip::TrustedProxies;
use router::Route;

/// Everything a request handler needs.
pub struct App<S> {
    pub service: Arc<QueueService<S>>,
    pub admin_key: String,
    pub pages: Pages,
    /// How long a request's body may pause (the header read timeout).
    pub body_read_timeout: std::time::Duration,
    /// Whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: TrustedProxies,
}

// Hand-written so that the admin key never reaches a log line.
impl<S> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// Answers one request that came on `client`'s connection.
pub async fn handle<S: QueueStore>(
    app: &App<S>,
    req: Request<Incoming>,
    client: &Client,
) -> HttpResponse {
    let started = Instant::now();
    // A `Uri` clone bumps reference counts; it lets the route borrow the
    // path while the handler consumes the request body.
    let uri = req.uri().clone();
    let (label, result) = dispatch(app, uri.path(), req, client).await;
    let response = result.unwrap_or_else(|e| response::error(&e));
    app.service
        .metrics()
        .record_request(label, response.status().as_u16(), started.elapsed());
    response
}

async fn dispatch<S: QueueStore>(
    app: &App<S>,
    path: &str,
    req: Request<Incoming>,
    client: &Client,
) -> (RouteLabel, Result<HttpResponse, QueueError>) {
    let Some(route) = router::route(path) else {
        return (
            RouteLabel::Unknown,
            Err(QueueError::RouteNotFound(path.to_string())),
        );
    };
    let method = req.method().clone();
    let not_allowed = |allow: &'static str| {
        Err(QueueError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        })
    };
    match route {
        Route::Healthz => (
            RouteLabel::Healthz,
            match method {
                Method::GET => Ok(handlers::healthz(app)),
                _ => not_allowed("GET"),
            },
        ),
        Route::Readyz => (
            RouteLabel::Readyz,
            match method {
                Method::GET => Ok(handlers::readyz(app).await),
                _ => not_allowed("GET"),
            },
        ),
        Route::Metrics => (
            RouteLabel::Metrics,
            match method {
                Method::GET => Ok(handlers::metrics(app)),
                _ => not_allowed("GET"),
            },
        ),
        Route::Queues => (
            RouteLabel::Queue,
            match method {
                Method::GET => handlers::list_queues(app, &req),
                _ => not_allowed("GET"),
            },
        ),
        Route::AdminConfig => (
            RouteLabel::Page,
            match method {
                Method::GET => Ok(app.pages.admin_config()),
                _ => not_allowed("GET"),
            },
        ),
        Route::Admin => (
            RouteLabel::Page,
            match method {
                Method::GET => Ok(app.pages.admin(req.headers())),
                _ => not_allowed("GET"),
            },
        ),
        Route::Queue(q) => (
            RouteLabel::Queue,
            match method {
                Method::GET => handlers::get_queue(app, q),
                Method::PUT => handlers::put_queue(app, q, req).await,
                Method::DELETE => handlers::delete_queue(app, q, req).await,
                _ => not_allowed("GET, PUT, DELETE"),
            },
        ),
        Route::QueueStatus(q) => (
            RouteLabel::QueueStatus,
            match method {
                Method::PATCH => handlers::set_status(app, q, req).await,
                _ => not_allowed("PATCH"),
            },
        ),
        Route::Entries(q) => (
            RouteLabel::Entries,
            match method {
                Method::POST => handlers::join(app, q, req, client).await,
                _ => not_allowed("POST"),
            },
        ),
        Route::Challenge(q) => (
            RouteLabel::Challenge,
            match method {
                Method::GET => handlers::challenge(app, q).await,
                _ => not_allowed("GET"),
            },
        ),
        Route::Draw(q) => (
            RouteLabel::Draw,
            match method {
                Method::GET => handlers::draw(app, q).await,
                _ => not_allowed("GET"),
            },
        ),
        Route::WaitingRoom(_) => (
            RouteLabel::Page,
            match method {
                Method::GET => Ok(app.pages.waiting_room(req.headers())),
                _ => not_allowed("GET"),
            },
        ),
        Route::Entry(q, e) => (
            RouteLabel::Entry,
            match method {
                Method::GET => handlers::get_entry(app, q, e, req, client),
                Method::DELETE => handlers::leave(app, q, e).await,
                _ => not_allowed("GET, DELETE"),
            },
        ),
    }
}
