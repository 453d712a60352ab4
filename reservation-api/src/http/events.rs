//! Event endpoints: admins create events and open or close sales; anyone
//! may browse events on sale and their seat maps.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::auth::{is_admin, Admin};
use super::dto::{parse_json, to_json, CreateEventBody, EventDto, EventPage, SeatDto, StatusBody};
use super::idempotency::idempotent;
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
    body: Bytes,
) -> Response {
    idempotent(&st, "admin", &headers, &body, || async {
        let new_event = parse_json::<CreateEventBody>(&body)?.into_new_event()?;
        let event = st.svc.create_event(new_event).await?;
        let sections = st.svc.sections(&event.id).await?;
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
        next_offset: has_more.then_some(offset + limit),
    };
    Ok(json_response(StatusCode::OK, to_json(&page)?))
}

pub(super) async fn get_one(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
) -> Result<Response> {
    let admin = is_admin(&headers, &st.admin_key);
    let event = st.svc.visible_event(&event_id, admin).await?;
    event_with_sections(&st, event).await
}

/// An event with its available seats per section, as `GET /events/{id}`
/// and the status change both answer.
async fn event_with_sections(st: &AppState, event: EventRecord) -> Result<Response> {
    let sections = st.svc.sections(&event.id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&EventDto::new(event, Some(sections)))?,
    ))
}

pub(super) async fn set_status(
    State(st): State<AppState>,
    _admin: Admin,
    Path(event_id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let req: StatusBody = parse_json(&body)?;
    let status: EventStatus = EventStatus::settable_by_admin(&req.status)?;
    let event = st.svc.set_event_status(&event_id, status).await?;
    event_with_sections(&st, event).await
}

pub(super) async fn seats(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let admin = is_admin(&headers, &st.admin_key);
    let event = st.svc.visible_event(&event_id, admin).await?;
    let status = q.get("status").map(|s| SeatStatus::parse(s)).transpose()?;
    let section = q
        .get("section")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    let seats = st.svc.seats(&event.id, section, status).await?;
    let dto: Vec<SeatDto> = seats.into_iter().map(SeatDto::from).collect();
    Ok(json_response(StatusCode::OK, to_json(&dto)?))
}
