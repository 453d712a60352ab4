//! JSON shapes of the API (camelCase), and their conversion from the
//! store's records. Times are RFC 3339 strings in UTC; money is integer KRW.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::event::{DEFAULT_HOLD_TTL_SEC, DEFAULT_MAX_SEATS_PER_ORDER};
use crate::domain::{EventStatus, NewEvent, SectionSpec};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{EventRecord, ReservationRecord, SeatView, SectionSummary};

pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339_ms(field: &str, s: &str) -> Result<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        Error::rejected(
            ErrorCode::InvalidEvent,
            format!("{field} must be an RFC 3339 time, got {s:?}"),
        )
    })?;
    // Every time this API answers is RFC 3339 in UTC: an offset that moves
    // the instant out of the years 0000-9999 could not be written back.
    let out_of_range =
        || Error::rejected(ErrorCode::InvalidEvent, format!("{field} is out of range"));
    let nanos = t.unix_timestamp_nanos();
    let in_utc = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())?;
    if !(0..=9999).contains(&in_utc.year()) {
        return Err(out_of_range());
    }
    i64::try_from(nanos / 1_000_000).map_err(|_| out_of_range())
}

/// A body that is not JSON, or lacks a field, is `invalid_json`; a field
/// the body must not have (bodies that configure something refuse unknown
/// fields, so that a misspelt setting is not silently ignored) is
/// `invalid_field`, named in the message.
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("unknown field") {
            Error::rejected(ErrorCode::InvalidField, message)
        } else {
            Error::rejected(
                ErrorCode::InvalidJson,
                format!("invalid request body: {message}"),
            )
        }
    })
}

/// Lowercase hex, for digests on the wire (ETags, request fingerprints).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(format!("serializing a response: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct SectionBody {
    pub name: String,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CreateEventBody {
    pub name: String,
    pub venue: String,
    pub starts_at: String,
    pub queue_id: String,
    pub hold_ttl_sec: Option<u32>,
    pub max_seats_per_order: Option<u32>,
    /// `draft` or `on_sale` (default).
    pub status: Option<String>,
    pub sections: Vec<SectionBody>,
}

impl CreateEventBody {
    pub fn into_new_event(self) -> Result<NewEvent> {
        Ok(NewEvent {
            starts_at_ms: parse_rfc3339_ms("startsAt", &self.starts_at)?,
            name: self.name,
            venue: self.venue,
            queue_id: self.queue_id,
            hold_ttl_sec: self.hold_ttl_sec.unwrap_or(DEFAULT_HOLD_TTL_SEC),
            max_seats_per_order: self
                .max_seats_per_order
                .unwrap_or(DEFAULT_MAX_SEATS_PER_ORDER),
            status: match self.status.as_deref() {
                None => EventStatus::OnSale,
                Some(s) => EventStatus::parse(s)?,
            },
            sections: self
                .sections
                .into_iter()
                .map(|s| SectionSpec {
                    name: s.name,
                    rows: s.rows,
                    seats_per_row: s.seats_per_row,
                    price_krw: s.price,
                })
                .collect(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldBody {
    pub event_id: String,
    pub seat_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SectionDto {
    pub name: String,
    pub rows: i64,
    pub seats_per_row: i64,
    pub price: i64,
    pub total_seats: i64,
    pub available_seats: i64,
}

impl From<SectionSummary> for SectionDto {
    fn from(s: SectionSummary) -> Self {
        SectionDto {
            name: s.name,
            rows: s.rows,
            seats_per_row: s.seats_per_row,
            price: s.price_krw,
            total_seats: s.total_seats,
            available_seats: s.available_seats,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    pub event_id: String,
    pub name: String,
    pub venue: String,
    pub starts_at: String,
    pub queue_id: String,
    pub hold_ttl_sec: u32,
    pub max_seats_per_order: u32,
    pub status: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<SectionDto>>,
}

impl EventDto {
    pub fn new(e: EventRecord, sections: Option<Vec<SectionSummary>>) -> Self {
        EventDto {
            event_id: e.id,
            name: e.name,
            venue: e.venue,
            starts_at: rfc3339(e.starts_at_ms),
            queue_id: e.queue_id,
            hold_ttl_sec: e.hold_ttl_sec,
            max_seats_per_order: e.max_seats_per_order,
            status: e.status.as_str(),
            created_at: rfc3339(e.created_at_ms),
            sections: sections.map(|s| s.into_iter().map(SectionDto::from).collect()),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub events: Vec<EventDto>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatDto {
    pub seat_id: i64,
    pub section: String,
    pub row: i64,
    pub number: i64,
    pub price: i64,
    pub status: &'static str,
}

impl From<SeatView> for SeatDto {
    fn from(s: SeatView) -> Self {
        SeatDto {
            seat_id: s.id,
            section: s.section,
            row: s.row,
            number: s.number,
            price: s.price_krw,
            status: s.status.as_str(),
        }
    }
}

/// A purchase session as its buyer sees it (the answer to leaving the sale).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDto {
    pub queue_id: String,
    pub entry_id: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDto {
    pub reservation_id: String,
    pub status: &'static str,
    pub event_id: String,
    pub seat_ids: Vec<i64>,
    pub amount: i64,
    pub currency: &'static str,
    pub created_at: String,
    pub expires_at: String,
}

impl From<ReservationRecord> for ReservationDto {
    fn from(r: ReservationRecord) -> Self {
        ReservationDto {
            reservation_id: r.id,
            status: r.status.as_str(),
            event_id: r.event_id,
            seat_ids: r.seat_ids,
            amount: r.amount_krw,
            currency: "KRW",
            created_at: rfc3339(r.created_at_ms),
            expires_at: rfc3339(r.expires_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339() {
        let ms = parse_rfc3339_ms("t", "2026-05-01T19:00:00+09:00").unwrap();
        assert_eq!(rfc3339(ms), "2026-05-01T10:00:00Z");
        assert!(parse_rfc3339_ms("t", "tomorrow").is_err());
    }

    #[test]
    fn a_time_that_could_not_be_written_back_in_utc_is_refused() {
        for far in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+01:00"] {
            let e = parse_rfc3339_ms("startsAt", far).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidEvent, "{far}");
        }
        let last = parse_rfc3339_ms("t", "9999-12-31T23:59:59Z").unwrap();
        assert_eq!(rfc3339(last), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn create_body_defaults_ttl_limit_and_status() {
        let body: CreateEventBody = parse_json(
            br#"{"name":"n","venue":"v","startsAt":"2026-01-01T00:00:00Z","queueId":"q",
                "sections":[{"name":"A","rows":1,"seatsPerRow":2,"price":1000}]}"#,
        )
        .unwrap();
        let e = body.into_new_event().unwrap();
        assert_eq!(
            (e.hold_ttl_sec, e.max_seats_per_order, e.status),
            (300, 4, EventStatus::OnSale)
        );
        assert!(parse_json::<HoldBody>(b"{").is_err());
    }
}

/// `GET /v1/api/events/{eventId}/seat-map` (proto-notes/reservation-api.md).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapDto<'a> {
    pub event_id: &'a str,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub sections: Vec<SectionMapDto<'a>>,
}

#[derive(Debug, Serialize)]
pub struct SectionMapDto<'a> {
    pub name: &'a str,
    pub runs: Vec<SeatRunDto<'a>>,
}

#[derive(Debug, Serialize)]
pub struct SeatRunDto<'a> {
    pub row: i64,
    /// The first seat's number; the others follow one by one.
    pub from: i64,
    pub price: i64,
    /// `[firstSeatId, count]` ranges, in seat-number order.
    pub ids: &'a [(i64, u32)],
    /// Run-length encoded: `a` available, `h` held, `s` sold (`a48h2`).
    pub status: &'a str,
}

impl<'a> SeatMapDto<'a> {
    pub fn new(event_id: &'a str, map: &'a crate::domain::SeatMap) -> Self {
        SeatMapDto {
            event_id,
            available: map.available,
            held: map.held,
            sold: map.sold,
            sections: map
                .sections
                .iter()
                .map(|section| SectionMapDto {
                    name: &section.name,
                    runs: section
                        .runs
                        .iter()
                        .map(|run| SeatRunDto {
                            row: run.row,
                            from: run.first_number,
                            price: run.price_krw,
                            ids: &run.ids,
                            status: &run.statuses,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `GET /v1/api/events/{eventId}/sales` (admin).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesDto<'a> {
    pub event_id: &'a str,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub revenue: i64,
    pub currency: &'static str,
    pub tickets_issued: u32,
    pub tickets_used: u32,
    pub tickets_cancelled: u32,
    pub sections: Vec<SectionSalesDto<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SectionSalesDto<'a> {
    pub name: &'a str,
    pub price: i64,
    pub total: u32,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    pub revenue: i64,
}

impl<'a> SalesDto<'a> {
    pub fn new(event_id: &'a str, s: &'a crate::domain::sales::Sales) -> Self {
        SalesDto {
            event_id,
            available: s.available,
            held: s.held,
            sold: s.sold,
            revenue: s.revenue_krw,
            currency: "KRW",
            tickets_issued: s.tickets_issued,
            tickets_used: s.tickets_used,
            tickets_cancelled: s.tickets_cancelled,
            sections: s
                .sections
                .iter()
                .map(|x| SectionSalesDto {
                    name: &x.name,
                    price: x.price_krw,
                    total: x.total,
                    available: x.available,
                    held: x.held,
                    sold: x.sold,
                    revenue: x.revenue_krw,
                })
                .collect(),
        }
    }
}
