//! Hold endpoints for admitted buyers. The buyer is the admission token's
//! `sub`; a reservation of anyone else is answered as not found.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::body::RequestBody;
use super::dto::{parse_json, to_json, HoldBody, ReservationDto, SessionDto, StatusBody};
use super::idempotency::idempotent;
use super::path::Id;
use super::AppState;
use crate::domain::ReservationStatus;
use crate::error::{ErrorCode, Result};
use crate::http::error::json_response;
use crate::payments::Holder;
use crate::service::Buyer;

pub(super) async fn create(
    State(st): State<AppState>,
    buyer: Buyer,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Response {
    let scope = format!("user:{}", buyer.user_id);
    idempotent(&st, &scope, &headers, &body, || async {
        let req: HoldBody = parse_json(&body)?;
        let held = st.svc.hold(&buyer, &req.event_id, &req.seat_ids).await?;
        Ok((StatusCode::CREATED, to_json(&ReservationDto::from(held))?))
    })
    .await
}

/// With the admission token (while its session lives) or the accessToken
/// of this reservation.
pub(super) async fn get_one(
    State(st): State<AppState>,
    holder: Holder,
    Id(id): Id,
) -> Result<Response> {
    if !holder.may_see(&holder.user_id, &id) {
        return Err(crate::error::Error::rejected(
            ErrorCode::ReservationNotFound,
            format!("no reservation {id:?} for this user"),
        ));
    }
    let r = st.svc.get_reservation(&holder.user_id, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&ReservationDto::from(r))?,
    ))
}

pub(super) async fn release(
    State(st): State<AppState>,
    buyer: Buyer,
    Id(id): Id,
) -> Result<Response> {
    let r = st.svc.release(&buyer.user_id, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&ReservationDto::from(r))?,
    ))
}

/// `DELETE /v1/api/session`: the buyer leaves the sale. Its holds are
/// released and the slot goes to the next fan in line; the page calls it when
/// the fan gives up or closes the tab, so a slot is not kept for nobody until
/// the admission runs out. Leaving twice answers the same.
pub(super) async fn leave(State(st): State<AppState>, buyer: Buyer) -> Result<Response> {
    let status = st.svc.leave(&buyer).await?;
    let session = SessionDto {
        queue_id: buyer.queue_id,
        entry_id: buyer.entry_id,
        status: status.as_str(),
    };
    Ok(json_response(StatusCode::OK, to_json(&session)?))
}

/// `PATCH /{id}/status` with `{"status":"released"}`: the REST spelling of
/// [`release`], which stays as `DELETE /{id}`.
pub(super) async fn set_status(
    State(st): State<AppState>,
    buyer: Buyer,
    Id(id): Id,
    RequestBody(body): RequestBody,
) -> Result<Response> {
    let req: StatusBody = parse_json(&body)?;
    ReservationStatus::settable_by_buyer(&req.status)?;
    release(State(st), buyer, Id(id)).await
}
