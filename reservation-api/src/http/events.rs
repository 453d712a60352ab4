//! Event endpoints: admins create events and open or close sales; anyone
//! may browse events on sale and their seat maps.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::{is_admin, Admin};
use super::body::RequestBody;
use super::dto::{
    hex, parse_json, to_json, CreateEventBody, EventDto, EventPage, SeatDto, SeatMapDto, StatusBody,
};
use super::idempotency::idempotent;
use super::path::Id;
use super::seat_map_cache::Rendered;
use super::AppState;
use crate::domain::{EventStatus, SeatStatus};
use crate::error::{Error, ErrorCode, Result};
use crate::http::error::json_response;
use crate::store::EventRecord;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

fn int_param(q: &HashMap<String, String>, name: &str, default: i64, max: i64) -> Result<i64> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(Error::rejected(
                ErrorCode::InvalidQuery,
                format!("{name} must be an integer in 0..={max}"),
            )),
        },
    }
}

pub(super) async fn create(
    State(st): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Response {
    idempotent(&st, "admin", &headers, &body, || async {
        let new_event = parse_json::<CreateEventBody>(&body)?.into_new_event()?;
        let event = st.svc.create_event(new_event).await?;
        let sections = rendered_map(&st, &event.id).await?.sections.clone();
        Ok((
            StatusCode::CREATED,
            to_json(&EventDto::new(event, Some(sections)))?,
        ))
    })
    .await
}

pub(super) async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let limit = int_param(&q, "limit", DEFAULT_PAGE, MAX_PAGE)?.max(1);
    let offset = int_param(&q, "offset", 0, i64::MAX)?;
    let admin = is_admin(&headers, &st.admin_key);
    let events = st.svc.list_events(limit + 1, offset, admin).await?;
    let has_more = events.len() as i64 > limit;
    let page = EventPage {
        events: events
            .into_iter()
            .take(limit as usize)
            .map(|e| EventDto::new(e, None))
            .collect(),
        limit,
        offset,
        next_offset: has_more.then(|| offset.saturating_add(limit)),
    };
    Ok(json_response(StatusCode::OK, to_json(&page)?))
}

pub(super) async fn get_one(
    State(st): State<AppState>,
    headers: HeaderMap,
    Id(event_id): Id,
) -> Result<Response> {
    let admin = is_admin(&headers, &st.admin_key);
    let event = st.svc.visible_event(&event_id, admin).await?;
    event_with_sections(&st, event).await
}

/// The event's seat map rendered, and its sections summarized, from the
/// shared rows snapshot: once per snapshot for all readers.
async fn rendered_map(st: &AppState, event_id: &str) -> Result<Arc<Rendered>> {
    let rows = st.svc.seat_rows(event_id).await?;
    st.seat_maps
        .get_or_render(event_id, &rows, st.svc.now_ms(), |seats| {
            let map = crate::domain::seat_map::compact(seats);
            let body = to_json(&SeatMapDto::new(event_id, &map))?;
            let digest = Sha256::digest(&body);
            Ok(Rendered {
                etag: format!("W/\"{}\"", hex(&digest[..12])),
                body: body.into(),
                sections: crate::domain::seat_map::section_summaries(seats),
            })
        })
}

/// An event with its available seats per section, as `GET /events/{id}`
/// and the status change both answer.
async fn event_with_sections(st: &AppState, event: EventRecord) -> Result<Response> {
    let sections = rendered_map(st, &event.id).await?.sections.clone();
    Ok(json_response(
        StatusCode::OK,
        to_json(&EventDto::new(event, Some(sections)))?,
    ))
}

pub(super) async fn set_status(
    State(st): State<AppState>,
    _admin: Admin,
    Id(event_id): Id,
    RequestBody(body): RequestBody,
) -> Result<Response> {
    let req: StatusBody = parse_json(&body)?;
    let status: EventStatus = EventStatus::settable_by_admin(&req.status)?;
    let event = st.svc.set_event_status(&event_id, status).await?;
    event_with_sections(&st, event).await
}

/// The most seats one page of the seat list holds.
const MAX_SEAT_PAGE: i64 = 10_000;

/// The seat list. Without `limit` it is every seat (what API clients have
/// always had); with `limit` (and `cursor`, the last seatId of the page
/// before) one page, ordered by seatId, and a `Link: <…>; rel="next"`
/// header while seats remain.
pub(super) async fn seats(
    State(st): State<AppState>,
    headers: HeaderMap,
    Id(event_id): Id,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let admin = is_admin(&headers, &st.admin_key);
    let event = st.svc.visible_event(&event_id, admin).await?;
    let status = q.get("status").map(|s| SeatStatus::parse(s)).transpose()?;
    let section = q
        .get("section")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    let page = match q.get("limit") {
        Some(_) => Some((
            int_param(&q, "limit", MAX_SEAT_PAGE, MAX_SEAT_PAGE)?.max(1),
            int_param(&q, "cursor", 0, i64::MAX)?,
        )),
        None if q.contains_key("cursor") => {
            return Err(Error::rejected(
                ErrorCode::InvalidQuery,
                "cursor needs limit",
            ))
        }
        None => None,
    };
    let seats = st.svc.seats(&event.id, section, status).await?;
    let Some((limit, cursor)) = page else {
        let dto: Vec<SeatDto> = seats.into_iter().map(SeatDto::from).collect();
        return Ok(json_response(StatusCode::OK, to_json(&dto)?));
    };
    let mut rest = seats.into_iter().filter(|s| s.id > cursor).peekable();
    let dto: Vec<SeatDto> = rest
        .by_ref()
        .take(limit as usize)
        .map(SeatDto::from)
        .collect();
    let mut response = json_response(StatusCode::OK, to_json(&dto)?);
    if let (Some(_), Some(last)) = (rest.peek(), dto.last()) {
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (name, value) in q.iter().filter(|(n, _)| *n != "cursor") {
            next.append_pair(name, value);
        }
        next.append_pair("cursor", &last.seat_id.to_string());
        let link = format!(
            "</v1/api/events/{}/seats?{}>; rel=\"next\"",
            event.id,
            next.finish()
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The compact seat map (`domain::seat_map`) for pages: weak ETag on its
/// bytes, so that a page polls it with `If-None-Match` and gets a 304
/// without a body while nothing changed; a second of freshness for caches.
pub(super) async fn seat_map(
    State(st): State<AppState>,
    headers: HeaderMap,
    Id(event_id): Id,
) -> Result<Response> {
    let admin = is_admin(&headers, &st.admin_key);
    let event = st.svc.visible_event(&event_id, admin).await?;
    let rendered = rendered_map(&st, &event.id).await?;
    let etag = rendered.etag.as_str();
    // Drafts are for admins only: never in a shared cache.
    let cache_control = if event.status == EventStatus::Draft {
        "private, no-store"
    } else {
        "public, max-age=1"
    };
    let mut response = if matches_etag(&headers, etag) {
        (StatusCode::NOT_MODIFIED, ()).into_response()
    } else {
        let mut response = (StatusCode::OK, rendered.body.clone()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(response)
}

/// `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

/// `GET /v1/api/events/{eventId}/sales` (admin): seats by status per
/// section, and the revenue of the tickets that stand.
pub(super) async fn sales(
    State(st): State<AppState>,
    _: Admin,
    Id(event_id): Id,
) -> Result<Response> {
    let event = st.svc.visible_event(&event_id, true).await?;
    let sales = st.svc.sales(&event.id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&super::dto::SalesDto::new(&event.id, &sales))?,
    ))
}
