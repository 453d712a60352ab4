//! The payment rig: a Toss sandbox owned by the test (so it
//! outlives a restart of the service), a provider that can inject a failure
//! into the next cancel or "crash" right after a confirm, a server wired to
//! it, and the global money/ticket invariants checked against the
//! sandbox's records and the database.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reservation_api::config::PaymentsConfig;
use reservation_api::domain::payment::PaymentState;
use reservation_api::domain::ticket::TicketStatus;
use reservation_api::domain::ReservationStatus;
use reservation_api::payments::provider::{
    BoxFuture, Charge, ChargeRequest, Outcome, PaymentProvider, ProviderError, RefundRequest,
};
use reservation_api::toss::sandbox::{
    self, create_payment, FailMode, SandboxConfig, SandboxHandle,
};
use reservation_api::toss::{PaymentStatus, TossClient, SANDBOX_SECRET_KEY};
use reservation_api::Config;
use serde_json::{json, Value};

use crate::server::{serve, TestServer};
use crate::tokens::{ADMIN_KEY, SECRET};

/// The client gives up after this long; the sandbox's timeout switches stay
/// silent for longer.
pub const TOSS_TIMEOUT: Duration = Duration::from_millis(700);

pub async fn sandbox() -> SandboxHandle {
    sandbox::spawn(
        "127.0.0.1:0".parse().unwrap(),
        SandboxConfig {
            timeout_sleep: Duration::from_millis(1_500),
            ..SandboxConfig::default()
        },
    )
    .await
    .expect("sandbox")
}

pub fn client(base: &str) -> TossClient {
    TossClient::new(
        base,
        SANDBOX_SECRET_KEY,
        Duration::from_secs(1),
        TOSS_TIMEOUT,
    )
    .unwrap()
}

/// The real Toss provider, plus failures on demand.
#[derive(Debug)]
pub struct FaultyProvider {
    pub inner: TossClient,
    next_cancel_code: Mutex<Option<String>>,
    pub crash_after_confirm: AtomicBool,
}

impl FaultyProvider {
    pub fn new(inner: TossClient) -> Self {
        FaultyProvider {
            inner,
            next_cancel_code: Mutex::new(None),
            crash_after_confirm: AtomicBool::new(false),
        }
    }

    /// The next refund carries `TossPayments-Test-Code: code`.
    pub fn fail_next_cancel(&self, code: &str) {
        *self.next_cancel_code.lock() = Some(code.to_string());
    }
}

impl PaymentProvider for FaultyProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn confirm<'a>(
        &'a self,
        req: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>> {
        Box::pin(async move {
            let outcome = PaymentProvider::confirm(&self.inner, req).await;
            if self.crash_after_confirm.load(Ordering::SeqCst) {
                // The process dies here: Toss has answered, nothing after
                // the pending row was committed.
                panic!("simulated crash between the Toss confirm and the database commit");
            }
            outcome
        })
    }

    fn refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<Outcome, ProviderError>> {
        let code = self.next_cancel_code.lock().take();
        Box::pin(async move {
            match code {
                Some(code) => {
                    let c = self.inner.with_test_code(&code)?;
                    PaymentProvider::refund(&c, req).await
                }
                None => PaymentProvider::refund(&self.inner, req).await,
            }
        })
    }

    fn charge_by_key<'a>(
        &'a self,
        payment_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>> {
        self.inner.charge_by_key(payment_key)
    }

    fn charge_of_order<'a>(
        &'a self,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Charge>, ProviderError>> {
        self.inner.charge_of_order(order_id)
    }
}

#[derive(Debug)]
pub struct Rig {
    pub s: TestServer,
    pub gw: Arc<FaultyProvider>,
    pub toss_base: String,
}

/// A server on `db_url` talking to `sandbox` through a [`FaultyProvider`].
pub async fn rig(db_url: &str, sandbox: &SandboxHandle, manual_clock: bool) -> Rig {
    let gw = Arc::new(FaultyProvider::new(client(&sandbox.base_url())));
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: db_url.into(),
        admin_key: Some(ADMIN_KEY.into()),
        token_secret: Some(SECRET.into()),
        sweep_interval_ms: 50,
        payments: PaymentsConfig {
            provider: Some(gw.clone()),
            reconcile_interval_ms: 100,
            reconcile_grace_ms: 1_500,
            ..PaymentsConfig::default()
        },
        ..Config::default()
    };
    Rig {
        s: serve(config, manual_clock).await,
        gw,
        toss_base: sandbox.base_url(),
    }
}

impl Rig {
    /// The widget step: a READY Toss payment for the reservation.
    pub async fn widget(&self, rid: &str, amount: i64, fail: Option<&str>) -> String {
        let mode = fail.map(|c| FailMode::parse(c).expect("known test code"));
        create_payment(&self.toss_base, rid, amount, mode)
            .await
            .expect("widget")
    }

    pub async fn pay(&self, token: &str, rid: &str, key: &str, amount: i64) -> (u16, Value) {
        let resp = self
            .s
            .http
            .post(self.s.url("/v1/api/payments"))
            .bearer_auth(token)
            .json(&json!({"reservationId": rid, "paymentKey": key, "amount": amount}))
            .send()
            .await
            .expect("pay request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .s
            .http
            .request(method, self.s.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Holds `seats` for `user` and returns (reservationId, amount).
    pub async fn hold(&self, token: &str, event_id: &str, seats: &[i64]) -> (String, i64) {
        let (st, v) = self.s.hold(token, event_id, seats).await;
        assert_eq!(st, 201, "hold: {v}");
        (
            v["reservationId"].as_str().unwrap().to_string(),
            v["amount"].as_i64().unwrap(),
        )
    }

    /// Waits until no payment attempt or refund of `rid` is pending.
    pub async fn wait_settled(&self, rid: &str) {
        let store = &self.s.handle.payments().store;
        for _ in 0..300 {
            let attempts = store.payments_of_reservation(rid).await.unwrap();
            let mut pending = attempts.iter().any(|a| a.status == PaymentState::Pending);
            for a in &attempts {
                for r in store.refunds_of_payment(&a.id).await.unwrap() {
                    pending |=
                        r.refund.status == reservation_api::domain::payment::RefundState::Pending;
                }
            }
            if !pending {
                return;
            }
            // The reconciler waits for a grace period on the service's clock.
            if let Some(clock) = &self.s.clock {
                clock.advance_ms(100);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("reservation {rid} still has pending payments or refunds after 15 s");
    }
}

/// The global invariants over every reservation of an event:
/// every charged Toss payment has exactly its tickets (less the refunded
/// ones) or a full refund; no ticket without a `done` payment; no seat
/// sold twice, and every sold seat has its one live ticket.
pub async fn check_invariants(rig: &Rig, event_id: &str, reservations: &[String]) {
    let store = &rig.s.handle.payments().store;
    let toss = client(&rig.toss_base);
    let mut live_seats = HashSet::new();
    for rid in reservations {
        let resv = store
            .get_reservation(rid)
            .await
            .unwrap()
            .expect("reservation");
        let attempts = store.payments_of_reservation(rid).await.unwrap();
        let tickets = store.tickets_of_reservation(rid).await.unwrap();
        assert!(
            attempts.iter().all(|a| a.status != PaymentState::Pending),
            "{rid}: an attempt is still pending"
        );
        for t in &tickets {
            let p = attempts
                .iter()
                .find(|a| a.id == t.payment_id)
                .expect("a ticket's payment exists");
            assert_eq!(
                p.status,
                PaymentState::Done,
                "{rid}: ticket without a done payment"
            );
        }
        let charged = toss.payment_by_order(rid).await.unwrap().filter(|p| {
            matches!(
                p.status,
                PaymentStatus::Done | PaymentStatus::PartialCanceled | PaymentStatus::Canceled
            )
        });
        let done = attempts
            .iter()
            .filter(|a| a.status == PaymentState::Done)
            .count();
        match charged {
            Some(tp) => {
                let ours = attempts
                    .iter()
                    .find(|a| a.payment_key == tp.payment_key)
                    .unwrap_or_else(|| panic!("{rid}: Toss charged an attempt we have no row of"));
                assert_eq!(ours.amount_krw, tp.total_amount);
                match ours.status {
                    PaymentState::Done => {
                        assert_eq!(done, 1);
                        assert_eq!(resv.status, ReservationStatus::Paid);
                        let mut seats: Vec<i64> = tickets.iter().map(|t| t.seat_id).collect();
                        seats.sort_unstable();
                        assert_eq!(seats, resv.seat_ids, "{rid}: one ticket per seat");
                        let refunded: i64 = tickets
                            .iter()
                            .filter(|t| t.status == TicketStatus::Cancelled)
                            .map(|t| t.price_krw)
                            .sum();
                        assert_eq!(
                            tp.total_amount - tp.balance_amount,
                            refunded,
                            "{rid}: refunds"
                        );
                        let total: i64 = tickets.iter().map(|t| t.price_krw).sum();
                        assert_eq!(total, tp.total_amount);
                    }
                    PaymentState::Cancelled => {
                        assert_eq!(done, 0);
                        assert!(tickets.is_empty(), "{rid}: refunded payment with tickets");
                        assert_eq!(tp.status, PaymentStatus::Canceled);
                        assert_eq!(tp.balance_amount, 0);
                    }
                    other => panic!("{rid}: Toss charged but our attempt is {other:?}"),
                }
            }
            None => {
                assert!(tickets.is_empty(), "{rid}: tickets without a charge");
                assert_eq!(done, 0);
                assert_ne!(resv.status, ReservationStatus::Paid);
            }
        }
        for t in tickets
            .iter()
            .filter(|t| t.status != TicketStatus::Cancelled)
        {
            assert!(
                live_seats.insert(t.seat_id),
                "seat {} sold twice",
                t.seat_id
            );
        }
    }
    let sold: Vec<Value> = rig
        .s
        .http
        .get(
            rig.s
                .url(&format!("/v1/api/events/{event_id}/seats?status=sold")),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sold: HashSet<i64> = sold.iter().map(|s| s["seatId"].as_i64().unwrap()).collect();
    assert_eq!(
        sold, live_seats,
        "sold seats are exactly the live tickets' seats"
    );
}
