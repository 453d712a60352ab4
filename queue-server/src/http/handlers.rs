//! One function per endpoint: read the request, call the service, answer.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use futures_util::FutureExt as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, UPGRADE};
use hyper::{Request, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use ticketon_runtime::connections::{declared_length, drain, expects_continue, BodyDeadline};
use ticketon_runtime::trace_context::{self, TRACEPARENT};
use ticketon_wire::{DependencyCheck, Readiness};
use tracing::Instrument as _;

use super::body::{JoinBody, JoinResponseBody, PutQueueBody, QueueBody, StatusBody};
use super::response::{self, HttpResponse};
use super::stream;
use super::takeover::Client;
use super::App;
use crate::error::QueueError;
use crate::metrics::Scrape;
use crate::model::{QueueId, QueueSettings, QueueStatus};
use crate::push::StreamKind;
use crate::store::QueueStore;

/// Bodies are a few dozen bytes; anything much larger is a mistake or abuse.
pub(super) const MAX_BODY_BYTES: usize = 4096;

/// The next frame of `body`, or `BodyTimeout` when it does not come within
/// its deadline (the header read timeout per pause and three for the whole
/// body: the head's deadline does not cover the body, and a client that
/// declares a body and trickles it, or never sends it, would otherwise hold
/// its connection). A join's body nearly always
/// came with its head: then it is taken at once, without arming a timer on
/// the join path.
async fn next_frame(
    body: &mut Incoming,
    deadline: &BodyDeadline,
) -> Result<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>, QueueError> {
    if let Some(ready) = body.frame().now_or_never() {
        return Ok(ready);
    }
    tokio::time::timeout_at(deadline.next(), body.frame())
        .await
        .map_err(|_| QueueError::BodyTimeout(deadline.explain()))
}

pub(super) async fn read_body(
    req: Request<Incoming>,
    timeout: Duration,
) -> Result<Bytes, QueueError> {
    let too_large = QueueError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = declared_length(req.headers());
    let linger = !expects_continue(req.headers());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        if linger {
            drain(&mut body).await;
        }
        return Err(too_large);
    }
    let deadline = BodyDeadline::new(timeout);
    // A join body nearly always arrives as one frame: keep that frame's
    // `Bytes` as is, and only copy when a client splits its body.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = next_frame(&mut body, &deadline).await? {
        let frame =
            frame.map_err(|e| QueueError::InvalidJson(format!("could not read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let size = first.as_ref().map_or(0, Bytes::len)
            + joined.as_ref().map_or(0, BytesMut::len)
            + data.len();
        if size > MAX_BODY_BYTES {
            if linger {
                drain(&mut body).await;
            }
            return Err(too_large);
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(head), None) => {
                let mut buf = BytesMut::with_capacity(size);
                buf.extend_from_slice(head);
                buf.extend_from_slice(&data);
                first = None;
                joined = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

pub(super) fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, QueueError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => QueueError::InvalidField(e.to_string()),
        _ => QueueError::InvalidJson(format!("the body is not valid JSON: {e}")),
    })
}

fn parse_owned<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, QueueError> {
    parse_json(bytes)
}

/// Checks `Authorization: Bearer <admin key>` in constant time.
pub(super) fn require_admin<S>(app: &App<S>, req: &Request<Incoming>) -> Result<(), QueueError> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(QueueError::Unauthorized)?;
    if constant_time_eq(presented.trim().as_bytes(), app.admin_key.as_bytes()) {
        Ok(())
    } else {
        Err(QueueError::Forbidden)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn put_queue<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    req: Request<Incoming>,
) -> Result<HttpResponse, QueueError> {
    require_admin(app, &req)?;
    let body: PutQueueBody = parse_owned(&read_body(req, app.body_read_timeout).await?)?;
    let settings = QueueSettings::new(
        body.admission_rate_per_sec,
        body.max_active,
        body.session_ttl_sec,
    )?
    .with_joins_per_ip_per_minute(body.joins_per_ip_per_minute)?
    .with_proof_of_work(body.pow_difficulty, body.pow_adaptive)?
    .with_schedule(parse_opens_at(body.opens_at.as_deref())?, body.prequeue)?;
    let initial_status = body.status.as_deref().map(QueueStatus::parse).transpose()?;
    let (id, info, created) = app
        .service
        .put_queue(queue_id, settings, initial_status)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(status, &QueueBody::new(&id, &info)))
}

/// `opensAt`, RFC 3339 (an offset is required), as Unix ms; 0 when absent.
fn parse_opens_at(raw: Option<&str>) -> Result<u64, QueueError> {
    let Some(raw) = raw else {
        return Ok(0);
    };
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            QueueError::InvalidField(format!(
                "opensAt must be an RFC 3339 time such as 2026-12-24T20:00:00+09:00, not {raw:?}"
            ))
        })?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| QueueError::InvalidField("opensAt must be after 1970".into()))
}

pub(super) async fn set_status<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    req: Request<Incoming>,
) -> Result<HttpResponse, QueueError> {
    require_admin(app, &req)?;
    let bytes = read_body(req, app.body_read_timeout).await?;
    let body: StatusBody = parse_json(&bytes)?;
    let status = QueueStatus::parse(&body.status)?;
    let info = app.service.set_status(queue_id, status).await?;
    let id = QueueId::parse(queue_id)?;
    Ok(response::json(StatusCode::OK, &QueueBody::new(&id, &info)))
}

pub(super) async fn delete_queue<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    req: Request<Incoming>,
) -> Result<HttpResponse, QueueError> {
    require_admin(app, &req)?;
    app.service.delete_queue(queue_id).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// Every queue, by id, for the operator's console.
pub(super) fn list_queues<S: QueueStore>(
    app: &App<S>,
    req: &Request<Incoming>,
) -> Result<HttpResponse, QueueError> {
    require_admin(app, req)?;
    let mut queues = app.service.queues();
    queues.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let queues: Vec<QueueBody<'_>> = queues
        .iter()
        .map(|(id, info)| QueueBody::new(id, info))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "queues": queues }),
    ))
}

pub(super) fn get_queue<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
) -> Result<HttpResponse, QueueError> {
    let info = app.service.queue_info(queue_id)?;
    let id = QueueId::parse(queue_id)?;
    Ok(response::json(StatusCode::OK, &QueueBody::new(&id, &info)))
}

/// `GET .../challenge`: an ALTCHA challenge to solve before joining a queue
/// that asks for a proof of work.
pub(super) async fn challenge<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
) -> Result<HttpResponse, QueueError> {
    match app.service.challenge(queue_id).await? {
        Some(challenge) => Ok(response::json(StatusCode::OK, &challenge)),
        None => Err(QueueError::PowNotRequired(queue_id.to_string())),
    }
}

/// `GET .../draw`: the pre-queue draw's public record, for anybody to check
/// (`proto-notes/prequeue-draw.md`).
pub(super) async fn draw<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
) -> Result<HttpResponse, QueueError> {
    let json = app.service.draw_record(queue_id).await?;
    Ok(response::json_bytes(StatusCode::OK, json))
}

/// A join that carries a `traceparent` is served in a span of the caller's
/// trace, which the entry's admission event carries on to the
/// reservation-api. Joins without one (nearly all) skip tracing entirely:
/// the join path stays as cheap as it was.
pub(super) async fn join<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    req: Request<Incoming>,
    client: &Client,
) -> Result<HttpResponse, QueueError> {
    let ip = app.trusted_proxies.client_ip(client.peer, req.headers());
    if !req.headers().contains_key(TRACEPARENT) {
        return join_untraced(app, queue_id, req, ip, None).await;
    }
    let span = tracing::info_span!(
        "queue.join",
        otel.name = "POST /v1/api/queues/{queueId}/entries",
        otel.kind = "server",
        queue = queue_id,
    );
    trace_context::continue_from_headers(&span, req.headers());
    let traceparent = trace_context::traceparent_of(&span);
    join_untraced(app, queue_id, req, ip, traceparent)
        .instrument(span)
        .await
}

async fn join_untraced<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    req: Request<Incoming>,
    ip: Option<std::net::IpAddr>,
    traceparent: Option<String>,
) -> Result<HttpResponse, QueueError> {
    let bytes = read_body(req, app.body_read_timeout).await?;
    let body: JoinBody = parse_json(&bytes)?;
    let user_id: Cow<str> = body.user_id;
    let joined = app
        .service
        .join(queue_id, &user_id, ip, body.altcha.as_deref())
        .await?;
    if let (Some(traceparent), Some(events)) = (traceparent, app.service.events()) {
        events.remember_join_trace(&joined.entry_id, traceparent);
    }
    let status = if joined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(response::json(
        status,
        &JoinResponseBody {
            entry_id: joined.entry_id,
            queue_id,
            user_id: joined.user.as_str(),
            entry: joined.status,
        },
    ))
}

/// `GET` on an entry: a poll, or a stream when the request asks for one
/// (`Upgrade: websocket`, `Accept: text/event-stream`).
pub(super) fn get_entry<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    entry_id: &str,
    mut req: Request<Incoming>,
    client: &Client,
) -> Result<HttpResponse, QueueError> {
    let ip = || app.trusted_proxies.client_ip(client.peer, req.headers());
    if req.headers().contains_key(UPGRADE) {
        let accept = stream::websocket_accept(req.headers())?;
        let watch = app
            .service
            .watch(queue_id, entry_id, StreamKind::WebSocket, ip())?;
        return Ok(stream::upgrade_to_websocket(&mut req, accept, watch));
    }
    if stream::wants_event_stream(req.headers()) {
        let watch = app
            .service
            .watch(queue_id, entry_id, StreamKind::Sse, ip())?;
        client.take_over(watch);
        return Ok(response::taken_over());
    }
    poll(app, queue_id, entry_id)
}

fn poll<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    entry_id: &str,
) -> Result<HttpResponse, QueueError> {
    let polled = app.service.poll(queue_id, entry_id)?;
    let mut response = response::json(StatusCode::OK, &polled.status);
    if let Some(age_ms) = polled.stale_ms {
        response
            .headers_mut()
            .insert(STALE_HEADER, hyper::header::HeaderValue::from(age_ms));
    }
    Ok(response)
}

/// On a poll answered while the queue store is unreachable: the age, in
/// ms, of the state the answer comes from.
pub(super) const STALE_HEADER: &str = "x-ticketon-stale-ms";

pub(super) async fn leave<S: QueueStore>(
    app: &App<S>,
    queue_id: &str,
    entry_id: &str,
) -> Result<HttpResponse, QueueError> {
    app.service.leave(queue_id, entry_id).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// Alive: the process answers. Dependencies are `/readyz`'s.
pub(super) fn healthz<S: QueueStore>(_app: &App<S>) -> HttpResponse {
    response::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for the bus's broker.
const READY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready: the queue store answers and the bus takes records.
pub(super) async fn readyz<S: QueueStore>(app: &App<S>) -> HttpResponse {
    let service = &app.service;
    let store = service.store_name();
    let mut checks = vec![if service.store_healthy() {
        DependencyCheck::up(store)
    } else {
        DependencyCheck::down(store, "not answering")
    }];
    if let Some(events) = service.events() {
        let bus = events.publisher();
        checks.push(match bus.check(READY_CHECK_TIMEOUT).await {
            Ok(()) => DependencyCheck::up(bus.name()),
            Err(e) => DependencyCheck::down(bus.name(), e.to_string()),
        });
    }
    let readiness = Readiness::from_checks(checks);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    response::json(status, &readiness)
}

pub(super) fn metrics<S: QueueStore>(app: &App<S>) -> HttpResponse {
    let queues = app.service.queues();
    let text = app.service.metrics().render(Scrape {
        queues: &queues,
        store_up: app.service.store_healthy(),
        events: app.service.events(),
        push: app.service.watchers().stats(),
        join_limit_addresses: app.service.join_limit_addresses(),
        admission_leases: app.service.admission_leases(),
    });
    response::text(
        StatusCode::OK,
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        text,
    )
}
