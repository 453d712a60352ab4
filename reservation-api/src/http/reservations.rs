//! Hold endpoints for admitted buyers. The buyer is the admission token's
//! `sub`; a reservation of anyone else is answered as not found.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::dto::{parse_json, to_json, HoldBody, ReservationDto};
use super::idempotency::idempotent;
use super::AppState;
use crate::error::{json_response, Result};
use crate::payments::Holder;
use crate::service::Buyer;

pub async fn create(
    State(st): State<AppState>,
    buyer: Buyer,
    headers: HeaderMap,
    body: Bytes,
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
pub async fn get_one(
    State(st): State<AppState>,
    holder: Holder,
    Path(id): Path<String>,
) -> Result<Response> {
    if !holder.may_see(&holder.user_id, &id) {
        return Err(crate::error::Error::not_found(
            "reservation_not_found",
            format!("no reservation {id:?} for this user"),
        ));
    }
    let r = st.svc.get_reservation(&holder.user_id, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&ReservationDto::from(r))?,
    ))
}

pub async fn release(
    State(st): State<AppState>,
    buyer: Buyer,
    Path(id): Path<String>,
) -> Result<Response> {
    let r = st.svc.release(&buyer.user_id, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&ReservationDto::from(r))?,
    ))
}
