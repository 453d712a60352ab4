//! `POST /v1/api/payments`: 201 with the payment, its tickets and the
//! buyer's accessToken; 202 with the pending payment when Toss's answer is
//! not known yet (the same request, retried, reports the settled result).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Admin;
use super::body::RequestBody;
use super::dto::{parse_json, to_json};
use super::payment_dto::{AttentionDto, PaidDto, PayBody, PaymentDto, PendingDto};
use super::AppState;
use crate::error::Result;
use crate::http::error::json_response;
use crate::metrics::PaymentOutcome;
use crate::payments::{PayOutcome, PayRequest};
use crate::service::Buyer;

pub(super) async fn pay(
    State(st): State<AppState>,
    buyer: Buyer,
    RequestBody(body): RequestBody,
) -> Result<Response> {
    let body: PayBody = parse_json(&body)?;
    let req = PayRequest {
        reservation_id: body.reservation_id,
        payment_key: body.payment_key,
        amount: body.amount,
    };
    let outcome = st.payments.pay(&buyer, &req).await;
    let metrics = &st.svc.metrics;
    metrics.record_payment(match &outcome {
        Ok(PayOutcome::Paid(_)) => PaymentOutcome::Approved,
        Ok(PayOutcome::Pending(_)) => PaymentOutcome::Pending,
        Err(e) => PaymentOutcome::of_error(e),
    });
    match outcome? {
        PayOutcome::Paid(receipt) => Ok(json_response(
            StatusCode::CREATED,
            to_json(&PaidDto::new(&receipt, st.payments.keys.checkin_key()))?,
        )),
        PayOutcome::Pending(payment) => Ok(json_response(
            StatusCode::ACCEPTED,
            to_json(&PendingDto {
                payment: PaymentDto::from(&payment),
            })?,
        )),
    }
}

/// `GET /v1/api/payments/attention` (admin): charges that only an operator
/// can settle (a full refund the provider refused), oldest first.
pub(super) async fn attention(State(st): State<AppState>, _: Admin) -> Result<Response> {
    let stuck = st.svc.stuck_refunds().await?;
    let payments: Vec<AttentionDto<'_>> = stuck.iter().map(AttentionDto::new).collect();
    Ok(json_response(
        StatusCode::OK,
        to_json(&serde_json::json!({ "payments": payments }))?,
    ))
}
