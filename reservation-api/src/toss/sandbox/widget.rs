//! The browser's part of a payment, for tests and local runs: what the
//! Toss widget does before Ticketon ever sees a paymentKey. Against the
//! sandbox this is `POST /v1/sandbox/payments`; real Toss has no such call
//! (a buyer does it in the widget), so this only works with the sandbox.

use std::time::Duration;

use serde::Deserialize;

use super::FailMode;
use crate::toss::error::TossError;
use crate::toss::model::TossErrorBody;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    payment_key: String,
}

/// Creates a READY payment of `amount` KRW for `order_id` in the sandbox at
/// `base_url` and returns its paymentKey. `fail_with` arms a one-shot
/// failure for its first confirm.
pub async fn create_payment(
    base_url: &str,
    order_id: &str,
    amount: i64,
    fail_with: Option<FailMode>,
) -> Result<String, TossError> {
    let mut body = serde_json::json!({ "orderId": order_id, "amount": amount });
    if let Some(mode) = fail_with {
        body["failWith"] = mode.to_string().into();
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TossError::Config(format!("cannot build the HTTP client: {e}")))?;
    let url = format!("{}/v1/sandbox/payments", base_url.trim_end_matches('/'));
    let unavailable = |e: reqwest::Error| {
        TossError::Unavailable(crate::toss::outcome::UnknownReason::ConnectionLost(
            e.to_string(),
        ))
    };
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(unavailable)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(unavailable)?;
    if status == 200 {
        if let Ok(created) = serde_json::from_slice::<Created>(&bytes) {
            return Ok(created.payment_key);
        }
    }
    let err: TossErrorBody = serde_json::from_slice(&bytes).unwrap_or(TossErrorBody {
        code: "UNREADABLE".into(),
        message: String::from_utf8_lossy(&bytes).into_owned(),
    });
    Err(TossError::Rejected {
        status,
        code: err.code,
        message: err.message,
    })
}
