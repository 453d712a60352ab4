//! JSON shapes of the payment and ticket endpoints (camelCase; money is
//! integer KRW; times are RFC 3339 in UTC).

use serde::{Deserialize, Serialize};

use super::dto::rfc3339;
use crate::payments::Receipt;
use crate::store::{PaymentRecord, TicketRecord};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayBody {
    pub reservation_id: String,
    pub payment_key: String,
    pub amount: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDto {
    pub payment_id: String,
    pub reservation_id: String,
    pub payment_key: String,
    pub amount: i64,
    pub currency: &'static str,
    /// `pending`, `done`, `failed` or `cancelled`.
    pub status: &'static str,
    /// The payment provider that holds the charge (`toss`).
    pub provider: String,
    /// The provider's last known status in its own spelling (Toss: `DONE`,
    /// `PARTIAL_CANCELED`, ...).
    pub provider_status: Option<String>,
    pub approved_at: Option<String>,
    pub created_at: String,
}

impl From<&PaymentRecord> for PaymentDto {
    fn from(p: &PaymentRecord) -> Self {
        PaymentDto {
            payment_id: p.id.clone(),
            reservation_id: p.reservation_id.clone(),
            payment_key: p.payment_key.clone(),
            amount: p.amount_krw,
            currency: "KRW",
            status: p.status.as_str(),
            provider: p.provider.clone(),
            provider_status: p.provider_status.clone(),
            approved_at: p.approved_at_ms.map(rfc3339),
            created_at: rfc3339(p.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketDto {
    pub ticket_id: String,
    pub reservation_id: String,
    pub event_id: String,
    pub seat_id: i64,
    pub section: String,
    pub row: i64,
    pub number: i64,
    pub price: i64,
    pub currency: &'static str,
    /// `issued`, `used` or `cancelled`; `cancelling` while a refund of it
    /// waits for Toss.
    pub status: &'static str,
    pub issued_at: String,
    pub used_at: Option<String>,
    pub cancelled_at: Option<String>,
    /// Signed; a gate verifies it offline (see `domain::ticket`).
    pub check_in_code: String,
}

impl TicketDto {
    pub fn new(t: &TicketRecord, checkin_key: &[u8]) -> Self {
        let status = if t.refund_pending && t.status == crate::domain::ticket::TicketStatus::Issued
        {
            "cancelling"
        } else {
            t.status.as_str()
        };
        TicketDto {
            ticket_id: t.id.clone(),
            reservation_id: t.reservation_id.clone(),
            event_id: t.event_id.clone(),
            seat_id: t.seat_id,
            section: t.section.clone(),
            row: t.row,
            number: t.number,
            price: t.price_krw,
            currency: "KRW",
            status,
            issued_at: rfc3339(t.issued_at_ms),
            used_at: t.used_at_ms.map(rfc3339),
            cancelled_at: t.cancelled_at_ms.map(rfc3339),
            check_in_code: crate::domain::ticket::checkin_code(
                checkin_key,
                &t.id,
                &t.event_id,
                t.seat_id,
            ),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidDto {
    pub payment: PaymentDto,
    pub tickets: Vec<TicketDto>,
    pub access_token: String,
}

impl PaidDto {
    pub fn new(r: &Receipt, checkin_key: &[u8]) -> Self {
        PaidDto {
            payment: PaymentDto::from(&r.payment),
            tickets: r
                .tickets
                .iter()
                .map(|t| TicketDto::new(t, checkin_key))
                .collect(),
            access_token: r.access_token.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PendingDto {
    pub payment: PaymentDto,
}

/// One entry of `GET /v1/api/payments/attention` (admin): a charge whose
/// full refund the provider refused.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttentionDto<'a> {
    pub payment_id: &'a str,
    pub reservation_id: &'a str,
    pub event_id: &'a str,
    pub payment_key: &'a str,
    pub amount: i64,
    pub currency: &'static str,
    pub status: &'a str,
    pub failure_code: Option<&'a str>,
    pub refund_id: &'a str,
    pub refund_amount: i64,
    pub refund_status: &'static str,
    pub refund_failure_code: Option<&'a str>,
    pub created_at: String,
    pub updated_at: String,
}

impl<'a> AttentionDto<'a> {
    pub fn new(s: &'a crate::store::StuckRefund) -> Self {
        let r = &s.target.refund;
        AttentionDto {
            payment_id: &r.payment_id,
            reservation_id: &s.target.reservation_id,
            event_id: &s.event_id,
            payment_key: &s.target.payment_key,
            amount: s.payment_amount_krw,
            currency: "KRW",
            status: &s.payment_status,
            failure_code: s.payment_failure_code.as_deref(),
            refund_id: &r.id,
            refund_amount: r.amount_krw,
            refund_status: r.status.as_str(),
            refund_failure_code: r.failure_code.as_deref(),
            created_at: rfc3339(s.payment_created_at_ms),
            updated_at: rfc3339(s.refund_updated_at_ms),
        }
    }
}
