//! The Toss client: Toss's v1 REST API over reqwest (rustls), in Toss's own
//! types; `provider.rs` adapts it to the payment port.
//!
//! It sends every state-changing call with an `Idempotency-Key`, bounds
//! every call with the configured connect and request timeouts, reads the
//! whole answer before judging it (a 200 status whose body never arrives is
//! not a success), and turns each answer into a [`PaymentOutcome`] with the
//! one table in `outcome.rs`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};

use super::auth::basic_auth_value;
use super::config::TossConfig;
use super::error::TossError;
use super::idempotency::IdempotencyKey;
use super::model::{CancelRequest, ConfirmRequest, Payment, PaymentStatus, TossErrorBody};
use super::outcome::{classify_error, ErrorClass, PaymentOutcome, UnknownReason};

pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Toss's test-mode header asking for a simulated failure.
pub const TEST_CODE_HEADER: &str = "TossPayments-Test-Code";

/// The HTTP client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct TossClient {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    /// Sent as `TossPayments-Test-Code` on every request when set.
    test_code: Option<HeaderValue>,
}

impl fmt::Debug for TossClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// An answer that arrived in full.
struct Answer {
    status: StatusCode,
    body: bytes::Bytes,
}

impl TossClient {
    /// A client for the Toss API at `base_url` (origin, optionally with a
    /// path prefix; `/v1/...` is appended).
    pub fn new(
        base_url: &str,
        secret_key: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, TossError> {
        let base = Url::parse(base_url)
            .map_err(|e| TossError::Config(format!("Toss base URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(TossError::Config(format!(
                "Toss base URL {base_url:?} must be an http(s) URL"
            )));
        }
        if secret_key.is_empty() {
            return Err(TossError::Config("the Toss secret key is empty".into()));
        }
        let mut auth = HeaderValue::from_str(&basic_auth_value(secret_key))
            .map_err(|_| TossError::Config("the Toss secret key is not header-safe".into()))?;
        auth.set_sensitive(true);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout);
        // A system proxy must not capture calls to the loopback sandbox.
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| TossError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(TossClient {
            http,
            base,
            auth,
            test_code: None,
        })
    }

    /// A client for `config.api_base`; `None` there is a configuration error
    /// (use [`super::start`] to get the embedded sandbox instead).
    pub fn from_config(config: &TossConfig) -> Result<Self, TossError> {
        let base = config.api_base.as_deref().ok_or_else(|| {
            TossError::Config("TOSS_API_BASE is unset: start the sandbox instead".into())
        })?;
        Self::new(
            base,
            &config.secret_key,
            config.connect_timeout,
            config.request_timeout,
        )
    }

    /// A copy of this client that asks for a simulated failure on every
    /// request, through Toss's test-mode header `TossPayments-Test-Code`
    /// (the sandbox understands it too; see `sandbox::FailMode`). For tests
    /// only: with live keys Toss ignores it.
    pub fn with_test_code(&self, code: &str) -> Result<TossClient, TossError> {
        let value = HeaderValue::from_str(code).map_err(|_| {
            TossError::InvalidInput(format!("test code {code:?} is not header-safe"))
        })?;
        Ok(TossClient {
            test_code: Some(value),
            ..self.clone()
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `POST /v1/payments/confirm`.
    pub async fn confirm_payment(&self, req: &ConfirmRequest) -> Result<PaymentOutcome, TossError> {
        let key = IdempotencyKey::confirm(&req.order_id, &req.payment_key);
        key.validate()?;
        let url = self.url(&["payments", "confirm"])?;
        let call = self
            .http
            .post(url)
            .header(IDEMPOTENCY_KEY_HEADER, key.as_str())
            .json(req);
        let outcome = self
            .mutate(call, |p| {
                if p.status != PaymentStatus::Done {
                    Some(format!("confirm answered status {:?}", p.status))
                } else if p.order_id != req.order_id || p.total_amount != req.amount {
                    Some(format!(
                        "confirm of {}/{} answered payment of {}/{}",
                        req.order_id, req.amount, p.order_id, p.total_amount
                    ))
                } else {
                    None
                }
            })
            .await?;
        log_outcome("confirm", &req.order_id, &outcome);
        Ok(outcome)
    }

    /// `POST /v1/payments/{paymentKey}/cancel`.
    pub async fn cancel_payment(
        &self,
        payment_key: &str,
        req: &CancelRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<PaymentOutcome, TossError> {
        idempotency_key.validate()?;
        let url = self.url(&["payments", payment_key, "cancel"])?;
        let call = self
            .http
            .post(url)
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key.as_str())
            .json(req);
        let outcome = self
            .mutate(call, |p| {
                let refunded = matches!(
                    p.status,
                    PaymentStatus::Canceled | PaymentStatus::PartialCanceled
                );
                if !refunded || p.payment_key != payment_key {
                    Some(format!(
                        "cancel of {payment_key} answered payment {} with status {:?}",
                        p.payment_key, p.status
                    ))
                } else {
                    None
                }
            })
            .await?;
        log_outcome("cancel", payment_key, &outcome);
        Ok(outcome)
    }

    /// `GET /v1/payments/{paymentKey}`.
    pub async fn payment_by_key(&self, payment_key: &str) -> Result<Option<Payment>, TossError> {
        let url = self.url(&["payments", payment_key])?;
        let found = self.lookup(url).await?;
        Self::check_lookup(found, |p| p.payment_key == payment_key)
    }

    /// `GET /v1/payments/orders/{orderId}`.
    pub async fn payment_by_order(&self, order_id: &str) -> Result<Option<Payment>, TossError> {
        let url = self.url(&["payments", "orders", order_id])?;
        let found = self.lookup(url).await?;
        Self::check_lookup(found, |p| p.order_id == order_id)
    }

    /// `base` + `/v1/` + segments, each percent-encoded so that an id can
    /// never change the path it is sent to.
    fn url(&self, segments: &[&str]) -> Result<Url, TossError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| TossError::Config("the Toss base URL cannot take a path".into()))?;
            path.pop_if_empty().push("v1");
            path.extend(segments);
        }
        if segments.iter().any(|s| s.is_empty()) {
            return Err(TossError::InvalidInput(
                "empty paymentKey or orderId".into(),
            ));
        }
        Ok(url)
    }

    /// Sends and reads the whole answer; transport trouble becomes the
    /// matching [`UnknownReason`].
    async fn send(&self, call: reqwest::RequestBuilder) -> Result<Answer, UnknownReason> {
        let mut call = call.header(AUTHORIZATION, self.auth.clone());
        if let Some(code) = &self.test_code {
            call = call.header(TEST_CODE_HEADER, code.clone());
        }
        let response = call.send().await.map_err(transport_reason)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_reason)?;
        Ok(Answer { status, body })
    }

    /// Runs a confirm or cancel. `mismatch` inspects a 2xx payment and says
    /// why it is not the answer that was asked for.
    async fn mutate(
        &self,
        call: reqwest::RequestBuilder,
        mismatch: impl FnOnce(&Payment) -> Option<String>,
    ) -> Result<PaymentOutcome, TossError> {
        let answer = match self.send(call).await {
            Ok(a) => a,
            Err(reason) => return Ok(PaymentOutcome::Unknown(reason)),
        };
        if answer.status.is_success() {
            return Ok(match serde_json::from_slice::<Payment>(&answer.body) {
                Ok(p) => match mismatch(&p) {
                    None => PaymentOutcome::Done(p),
                    Some(why) => PaymentOutcome::Unknown(UnknownReason::BadResponse(why)),
                },
                Err(e) => PaymentOutcome::Unknown(UnknownReason::BadResponse(format!(
                    "HTTP {} with an unreadable payment: {e}",
                    answer.status
                ))),
            });
        }
        let body = serde_json::from_slice::<TossErrorBody>(&answer.body).ok();
        match classify_error(answer.status.as_u16(), body) {
            ErrorClass::Declined { code, message } => {
                Ok(PaymentOutcome::Declined { code, message })
            }
            ErrorClass::Unknown(reason) => Ok(PaymentOutcome::Unknown(reason)),
            ErrorClass::Rejected {
                status,
                code,
                message,
            } => Err(TossError::Rejected {
                status,
                code,
                message,
            }),
        }
    }

    /// Runs a GET. A lookup changes nothing, so every doubt is just
    /// `Unavailable`, and "no such payment" is `None`.
    async fn lookup(&self, url: Url) -> Result<Option<Payment>, TossError> {
        let answer = self
            .send(self.http.get(url))
            .await
            .map_err(TossError::Unavailable)?;
        if answer.status.is_success() {
            return serde_json::from_slice::<Payment>(&answer.body)
                .map(Some)
                .map_err(|e| {
                    TossError::Unavailable(UnknownReason::BadResponse(format!(
                        "unreadable payment: {e}"
                    )))
                });
        }
        let body = serde_json::from_slice::<TossErrorBody>(&answer.body).ok();
        let status = answer.status.as_u16();
        if status == 404
            && body
                .as_ref()
                .is_some_and(|b| b.code == "NOT_FOUND_PAYMENT" || b.code == "NOT_FOUND")
        {
            return Ok(None);
        }
        match classify_error(status, body) {
            ErrorClass::Unknown(reason) => Err(TossError::Unavailable(reason)),
            // A "decline" makes no sense for a read: it is a refusal.
            ErrorClass::Declined { code, message } => Err(TossError::Rejected {
                status,
                code,
                message,
            }),
            ErrorClass::Rejected {
                status,
                code,
                message,
            } => Err(TossError::Rejected {
                status,
                code,
                message,
            }),
        }
    }

    fn check_lookup(
        found: Option<Payment>,
        matches: impl FnOnce(&Payment) -> bool,
    ) -> Result<Option<Payment>, TossError> {
        match found {
            Some(p) if !matches(&p) => {
                Err(TossError::Unavailable(UnknownReason::BadResponse(format!(
                    "lookup answered another payment ({}/{})",
                    p.payment_key, p.order_id
                ))))
            }
            other => Ok(other),
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// reqwest's own message is terse ("error sending request"); the cause
/// chain says what actually happened.
fn transport_reason(err: reqwest::Error) -> UnknownReason {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if err.is_timeout() {
        UnknownReason::Timeout
    } else if err.is_connect() {
        UnknownReason::Connect(text)
    } else {
        UnknownReason::ConnectionLost(text)
    }
}

fn log_outcome(op: &str, id: &str, outcome: &PaymentOutcome) {
    match outcome {
        PaymentOutcome::Done(p) => {
            tracing::info!(op, id, status = ?p.status, "toss call done")
        }
        PaymentOutcome::Declined { code, .. } => {
            tracing::info!(op, id, code = %code, "toss call declined")
        }
        PaymentOutcome::Unknown(reason) => {
            tracing::warn!(op, id, %reason, "toss outcome unknown: reconcile by orderId")
        }
    }
}
