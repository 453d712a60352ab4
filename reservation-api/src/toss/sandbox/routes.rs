//! The sandbox's HTTP face: Toss's v1 payment endpoints plus the widget
//! step, over axum, answering in Toss's error shape
//! (`{"code","message"}`), since the point is to exercise the real client
//! over a real socket.
//!
//! Each request goes: Basic auth → body → idempotency (replay / 409) →
//! failure switch (`TossPayments-Test-Code`, else the payment's one-shot
//! `failWith`) → the ledger. The ledger is touched under one short lock,
//! never across an await.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::macros::offset;
use time::OffsetDateTime;

use super::idempotency::{Begin, IdempotencyStore, Slot, StoredAnswer};
use super::ledger::{ApiError, Ledger};
use super::test_code::{FailMode, INTERNAL_ERROR};
use crate::toss::auth::{check_basic_auth, AuthFailure};
use crate::toss::client::{IDEMPOTENCY_KEY_HEADER, TEST_CODE_HEADER};
use crate::toss::idempotency::MAX_IDEMPOTENCY_KEY_LEN;
use crate::toss::model::{CancelRequest, ConfirmRequest, Payment, TossErrorBody};

pub(super) struct App {
    pub secret_key: String,
    pub timeout_sleep: Duration,
    /// Every payment call fails this way until the instant (`PUT
    /// /v1/sandbox/outage`): Toss down or slow for a while, for fault runs.
    pub outage: Mutex<Option<(FailMode, Instant)>>,
    pub state: Mutex<SandboxState>,
}

pub(super) struct SandboxState {
    pub ledger: Ledger,
    pub idempotency: IdempotencyStore,
}

pub(super) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/orders/{order_id}", get(by_order))
        .route("/v1/payments/{payment_key}", get(by_key))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .route("/v1/sandbox/payments", post(create))
        .route("/v1/sandbox/ledger", get(ledger_totals))
        .route("/v1/sandbox/outage", put(start_outage).delete(end_outage))
        .route(
            "/v1/sandbox/checkout",
            get(super::checkout::show).post(super::checkout::submit),
        )
        .fallback(|| async {
            fail(ApiError::new(
                404,
                "NOT_FOUND",
                "No such endpoint in the Toss sandbox.",
            ))
        })
        .method_not_allowed_fallback(|| async {
            fail(ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                "This endpoint does not take that HTTP method.",
            ))
        })
        .with_state(app)
}

/// Toss answers in Korea time, without fractions of a second.
pub(super) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc().to_offset(offset!(+9));
    t.replace_nanosecond(0).unwrap_or(t)
}

// ----- answers -----

fn error_answer(e: &ApiError) -> StoredAnswer {
    let body = TossErrorBody {
        code: e.code.clone(),
        message: e.message.clone(),
    };
    StoredAnswer {
        status: e.status,
        // Serializing two strings cannot fail.
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

fn payment_answer(p: &Payment) -> StoredAnswer {
    StoredAnswer {
        status: 200,
        // Serializing plain data (strings, integers, formatted times) cannot fail.
        body: serde_json::to_vec(p).unwrap_or_default(),
    }
}

fn respond(a: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], a.body).into_response()
}

fn fail(e: ApiError) -> Response {
    respond(error_answer(&e))
}

/// A body that fails at once: hyper then closes the connection without a
/// complete answer, which is what a client sees when a response is lost in
/// the network. The 200 status makes the point that a status alone is not
/// an answer.
struct DroppedConnection;

impl axum::body::HttpBody for DroppedConnection {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "sandbox: connection dropped on purpose",
        ))))
    }
}

fn dropped_connection() -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(DroppedConnection))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// ----- request checks -----

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    check_basic_auth(value, &app.secret_key).map_err(|f| match f {
        AuthFailure::UnauthorizedKey => ApiError::new(
            401,
            "UNAUTHORIZED_KEY",
            "Unauthorized secret key or client key.",
        ),
        AuthFailure::IncorrectFormat => ApiError::new(
            403,
            "INCORRECT_BASIC_AUTH_FORMAT",
            "Incorrect basic auth format: base64-encode \"secretKey:\" with the colon.",
        ),
    })
}

fn test_code(headers: &HeaderMap) -> Result<Option<FailMode>, ApiError> {
    let Some(value) = headers.get(TEST_CODE_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    FailMode::parse(text).map(Some).ok_or_else(|| {
        ApiError::invalid_request(format!(
            "Unknown {TEST_CODE_HEADER} {text:?}; known: {}.",
            FailMode::known_codes().join(", ")
        ))
    })
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("Malformed request body: {e}")))
}

fn path_param(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::invalid_request(format!("Bad path parameter: {e}")))
}

/// Holds an idempotency key while its first request runs; forgets the key
/// if the request ends (or its connection goes away) without a final answer.
struct KeyGuard<'a> {
    app: &'a App,
    slot: Option<Slot>,
}

impl KeyGuard<'_> {
    fn finish(mut self, answer: &StoredAnswer) {
        if let Some(slot) = self.slot.take() {
            self.app.state.lock().idempotency.finish(&slot, answer);
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.app.state.lock().idempotency.abandon(&slot);
        }
    }
}

/// Starts an idempotent request, or gives the answer to send at once
/// (replay, 409, bad key).
fn begin<'a>(
    app: &'a App,
    headers: &HeaderMap,
    scope: String,
) -> Result<KeyGuard<'a>, StoredAnswer> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(KeyGuard { app, slot: None });
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(error_answer(&ApiError::invalid_request(format!(
            "Idempotency-Key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters."
        ))));
    }
    let slot = Slot {
        scope,
        key: key.to_string(),
    };
    match app.state.lock().idempotency.begin(&slot) {
        Begin::Fresh => Ok(KeyGuard {
            app,
            slot: Some(slot),
        }),
        Begin::Replay(answer) => Err(answer),
        Begin::InFlight => Err(error_answer(&ApiError::new(
            409,
            "IDEMPOTENT_REQUEST_PROCESSING",
            "A request with the same Idempotency-Key is being processed.",
        ))),
    }
}

// ----- state-changing endpoints -----

enum Mutation {
    Confirm(ConfirmRequest),
    Cancel {
        payment_key: String,
        req: CancelRequest,
    },
}

impl Mutation {
    fn commit(&self, app: &App) -> StoredAnswer {
        let mut state = app.state.lock();
        let result = match self {
            Mutation::Confirm(req) => state.ledger.confirm(req, now()),
            Mutation::Cancel { payment_key, req } => state.ledger.cancel(payment_key, req, now()),
        };
        match result {
            Ok(p) => payment_answer(&p),
            Err(e) => error_answer(&e),
        }
    }
}

/// Runs a confirm or cancel under the failure switch.
async fn execute(app: &App, guard: KeyGuard<'_>, mode: Option<FailMode>, m: Mutation) -> Response {
    match mode {
        None => {
            let answer = m.commit(app);
            guard.finish(&answer);
            respond(answer)
        }
        Some(FailMode::Error(injected)) => {
            if let Mutation::Confirm(req) = &m {
                app.state
                    .lock()
                    .ledger
                    .fail_confirm(&req.payment_key, &injected);
            }
            let answer = error_answer(&injected.into());
            guard.finish(&answer);
            respond(answer)
        }
        Some(FailMode::Timeout) => {
            tokio::time::sleep(app.timeout_sleep).await;
            drop(guard);
            fail(INTERNAL_ERROR.into())
        }
        Some(FailMode::TimeoutAfterCommit) => {
            let answer = m.commit(app);
            guard.finish(&answer);
            tokio::time::sleep(app.timeout_sleep).await;
            respond(answer)
        }
        Some(FailMode::ResponseLost) => {
            let answer = m.commit(app);
            guard.finish(&answer);
            fail(INTERNAL_ERROR.into())
        }
        Some(FailMode::ConnectionDropped) => {
            let answer = m.commit(app);
            guard.finish(&answer);
            dropped_connection()
        }
    }
}

async fn confirm(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return fail(e);
    }
    let req: ConfirmRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let guard = match begin(&app, &headers, "POST /v1/payments/confirm".into()) {
        Ok(g) => g,
        Err(answer) => return respond(answer),
    };
    let mode = match test_code(&headers) {
        Ok(Some(m)) => Some(m),
        Ok(None) => app
            .outage()
            .or_else(|| app.state.lock().ledger.take_fail_with(&req.payment_key)),
        Err(e) => return fail(e),
    };
    execute(&app, guard, mode, Mutation::Confirm(req)).await
}

async fn cancel(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return fail(e);
    }
    let (payment_key, req) = match path_param(path).and_then(|k| Ok((k, parse_json(&body)?))) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let scope = format!("POST /v1/payments/{payment_key}/cancel");
    let guard = match begin(&app, &headers, scope) {
        Ok(g) => g,
        Err(answer) => return respond(answer),
    };
    let mode = match test_code(&headers) {
        Ok(m) => m.or_else(|| app.outage()),
        Err(e) => return fail(e),
    };
    execute(&app, guard, mode, Mutation::Cancel { payment_key, req }).await
}

// ----- lookups -----

/// Runs a lookup under the failure switch; "after commit" variants have
/// nothing to commit and just answer late.
async fn read(
    app: &App,
    headers: &HeaderMap,
    look: impl FnOnce(&Ledger) -> StoredAnswer,
) -> Response {
    if let Err(e) = authorize(app, headers) {
        return fail(e);
    }
    let mode = test_code(headers).map(|m| m.or_else(|| app.outage()));
    match mode {
        Err(e) => fail(e),
        Ok(None) => respond(look(&app.state.lock().ledger)),
        Ok(Some(FailMode::Error(injected))) => fail(injected.into()),
        Ok(Some(FailMode::Timeout | FailMode::TimeoutAfterCommit)) => {
            tokio::time::sleep(app.timeout_sleep).await;
            respond(look(&app.state.lock().ledger))
        }
        Ok(Some(FailMode::ResponseLost)) => fail(INTERNAL_ERROR.into()),
        Ok(Some(FailMode::ConnectionDropped)) => dropped_connection(),
    }
}

fn found(p: Option<&Payment>) -> StoredAnswer {
    match p {
        Some(p) => payment_answer(p),
        None => error_answer(&ApiError::new(
            404,
            "NOT_FOUND_PAYMENT",
            "The payment does not exist.",
        )),
    }
}

async fn by_key(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    match path_param(path) {
        Ok(key) => read(&app, &headers, |l| found(l.get(&key))).await,
        Err(e) => fail(e),
    }
}

/// `GET /v1/sandbox/ledger` (secret key): the totals a sale's money check
/// compares with the tickets sold.
/// Not under an outage: it is the money check's view, not a payment call.
async fn ledger_totals(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return fail(e);
    }
    let totals = app.state.lock().ledger.totals();
    // Serializing four integers cannot fail.
    respond(StoredAnswer {
        status: 200,
        body: serde_json::to_vec(&totals).unwrap_or_default(),
    })
}

/// `PUT /v1/sandbox/outage` (secret key) `{"failWith": "<code>", "seconds": n}`:
/// for `n` seconds every confirm, cancel and lookup fails as the code says
/// (`SANDBOX_TIMEOUT` for a Toss that is slow past the client's timeout, a
/// 5xx code for one that answers errors), as if the header carried it.
async fn start_outage(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Outage {
        fail_with: String,
        seconds: f64,
    }
    if let Err(e) = authorize(&app, &headers) {
        return fail(e);
    }
    let outage: Outage = match parse_json(&body) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let Some(mode) = FailMode::parse(&outage.fail_with) else {
        return fail(ApiError::new(
            400,
            "INVALID_REQUEST",
            format!(
                "Unknown failWith {:?}; known: {}.",
                outage.fail_with,
                FailMode::known_codes().join(", ")
            ),
        ));
    };
    if !(outage.seconds > 0.0 && outage.seconds <= 3600.0) {
        return fail(ApiError::new(
            400,
            "INVALID_REQUEST",
            "seconds must be over 0 and at most 3600.",
        ));
    }
    let until = Instant::now() + Duration::from_secs_f64(outage.seconds);
    *app.outage.lock() = Some((mode, until));
    tracing::warn!(%mode, seconds = outage.seconds, "sandbox outage begins");
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /v1/sandbox/outage` (secret key): the outage ends now.
async fn end_outage(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return fail(e);
    }
    *app.outage.lock() = None;
    StatusCode::NO_CONTENT.into_response()
}

impl App {
    /// The outage's failure while it lasts.
    fn outage(&self) -> Option<FailMode> {
        let mut outage = self.outage.lock();
        match *outage {
            Some((mode, until)) if Instant::now() < until => Some(mode),
            Some(_) => {
                *outage = None;
                None
            }
            None => None,
        }
    }
}

async fn by_order(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    match path_param(path) {
        Ok(order_id) => read(&app, &headers, |l| found(l.get_by_order(&order_id))).await,
        Err(e) => fail(e),
    }
}

// ----- the widget step -----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    order_id: String,
    amount: i64,
    #[serde(default)]
    fail_with: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    payment_key: String,
    order_id: String,
    amount: i64,
}

/// `POST /v1/sandbox/payments`: what the buyer's browser and the Toss
/// widget do before Ticketon sees a paymentKey. Unauthenticated, like the
/// widget (which only carries the public client key).
async fn create(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let req: CreateBody = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let fail_with = match req.fail_with.as_deref().map(|c| (c, FailMode::parse(c))) {
        None => None,
        Some((_, Some(mode))) => Some(mode),
        Some((code, None)) => {
            return fail(ApiError::invalid_request(format!(
                "Unknown failWith {code:?}; known: {}.",
                FailMode::known_codes().join(", ")
            )))
        }
    };
    let payment_key = format!("tsbx_{}", uuid::Uuid::new_v4().simple());
    let created =
        app.state
            .lock()
            .ledger
            .create(payment_key, &req.order_id, req.amount, fail_with, now());
    match created {
        Ok(p) => {
            let body = Created {
                payment_key: p.payment_key,
                order_id: p.order_id,
                amount: p.total_amount,
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => fail(e),
    }
}
