//! Ticket endpoints: the holder reads and cancels; an admin marks a ticket
//! used at the gate.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{is_admin, Admin};
use super::body::RequestBody;
use super::dto::{parse_json, to_json, StatusBody};
use super::path::Id;
use super::payment_dto::TicketDto;
use super::AppState;
use crate::domain::ticket::TicketChange;
use crate::error::{Error, ErrorCode, Result};
use crate::http::error::json_response;
use crate::payments::{Holder, TicketCancel};

pub(super) async fn get_one(
    State(st): State<AppState>,
    holder: Holder,
    Id(id): Id,
) -> Result<Response> {
    let t = st.payments.ticket_for(&holder, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&TicketDto::new(&t, st.payments.keys.checkin_key()))?,
    ))
}

/// `GET /v1/api/tickets/{ticketId}/qr`: the ticket's check-in code as a QR
/// image (SVG), for the holder's page and for printing. The code never
/// changes, so a browser may keep the image; whether the ticket is still
/// valid is the gate's question, not the image's.
pub(super) async fn qr(State(st): State<AppState>, holder: Holder, Id(id): Id) -> Result<Response> {
    let t = st.payments.ticket_for(&holder, &id).await?;
    let code = crate::domain::ticket::checkin_code(
        st.payments.keys.checkin_key(),
        &t.id,
        &t.event_id,
        t.seat_id,
    );
    let svg = qr_svg(&code)?;
    let mut response = (StatusCode::OK, svg).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    // An SVG opened on its own is a document: it may run nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    Ok(response)
}

/// `text` as a QR code (error correction M, the quiet zone included),
/// drawn as SVG with a view box so that it scales to any size.
fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| Error::Internal(format!("QR code of a check-in code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

pub(super) async fn list(State(st): State<AppState>, holder: Holder) -> Result<Response> {
    let key = st.payments.keys.checkin_key();
    let tickets: Vec<TicketDto> = st
        .payments
        .tickets_for(&holder)
        .await?
        .iter()
        .map(|t| TicketDto::new(t, key))
        .collect();
    Ok(json_response(StatusCode::OK, to_json(&tickets)?))
}

/// `{"status":"cancelled"}` from the holder (200 when refunded, 202 while
/// the refund waits for Toss); `{"status":"used"}` with the admin key.
pub(super) async fn set_status(
    State(st): State<AppState>,
    caller: TicketCaller,
    Id(id): Id,
    RequestBody(body): RequestBody,
) -> Result<Response> {
    let req: StatusBody = parse_json(&body)?;
    let change = TicketChange::parse(&req.status)?;
    let key = st.payments.keys.checkin_key();
    match (change, caller) {
        (TicketChange::Use, TicketCaller::Admin) => {
            let t = st.payments.use_ticket(&id).await?;
            Ok(json_response(
                StatusCode::OK,
                to_json(&TicketDto::new(&t, key))?,
            ))
        }
        (TicketChange::Use, TicketCaller::Holder(_)) => Err(Error::rejected(
            ErrorCode::AdminOnly,
            "only a gate (the admin key) marks tickets used",
        )),
        (TicketChange::Cancel, TicketCaller::Holder(holder)) => {
            match st.payments.cancel_ticket(&holder, &id).await? {
                TicketCancel::Cancelled(t) => Ok(json_response(
                    StatusCode::OK,
                    to_json(&TicketDto::new(&t, key))?,
                )),
                TicketCancel::Pending(t) => Ok(json_response(
                    StatusCode::ACCEPTED,
                    to_json(&TicketDto::new(&t, key))?,
                )),
            }
        }
        (TicketChange::Cancel, TicketCaller::Admin) => Err(Error::rejected(
            ErrorCode::HolderOnly,
            "a ticket is cancelled by its holder (admission or access token)",
        )),
    }
}

/// The admin (by key) or a ticket holder (by token).
pub(super) enum TicketCaller {
    Admin,
    Holder(Holder),
}

impl FromRequestParts<AppState> for TicketCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Error> {
        if is_admin(&parts.headers, &st.admin_key) {
            return Ok(TicketCaller::Admin);
        }
        if parts.headers.contains_key("x-admin-key") {
            return Admin::from_request_parts(parts, st)
                .await
                .map(|_| TicketCaller::Admin);
        }
        Holder::from_request_parts(parts, st)
            .await
            .map(TicketCaller::Holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_in_code_becomes_a_scalable_svg() {
        let svg = qr_svg("TK1.0193.0194.17.abcdefghijklmnopqrstuv").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("viewBox"), "{svg}");
        assert!(svg.contains("#000000"));
    }
}
