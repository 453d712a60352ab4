//! The payment flow end to end, through real sockets, against the Toss
//! sandbox, on SQLite and MariaDB: every failure switch at confirm and at
//! cancel, a payment that arrives after its seats were taken, retried and
//! concurrent identical requests, a crash between the Toss confirm and the
//! commit followed by a restart. After each step the global invariants are
//! checked against the sandbox's records and the database.

use std::sync::atomic::Ordering;

use reqwest::Method;
use reservation_api::domain::payment::PaymentState;
use reservation_api::domain::ticket::verify_checkin;
use reservation_api::payments::BuyerKeys;
use reservation_api::toss::PaymentStatus;
use reservation_api_testkit::payments::*;
use reservation_api_testkit::*;
use serde_json::{json, Value};

/// (test code given to the widget, does the payment end in tickets).
const CONFIRM_CASES: &[(Option<&str>, bool)] = &[
    (None, true),
    (Some("REJECT_CARD_PAYMENT"), false),
    (Some("INVALID_CARD_NUMBER"), false),
    (Some("NOT_FOUND_PAYMENT_SESSION"), false),
    (Some("PROVIDER_ERROR"), true),
    (Some("FAILED_INTERNAL_SYSTEM_PROCESSING"), true),
    (Some("SANDBOX_TIMEOUT"), true),
    (Some("SANDBOX_TIMEOUT_AFTER_COMMIT"), true),
    (Some("SANDBOX_RESPONSE_LOST"), true),
    (Some("SANDBOX_CONNECTION_DROPPED"), true),
];

async fn confirm_failures(db_url: &str) {
    let sb = sandbox().await;
    let rig = rig(db_url, &sb, false).await;
    let (event_id, a, _) = rig.s.create_event(4, 5, 600).await;
    let mut all = Vec::new();
    for (i, (code, ends_paid)) in CONFIRM_CASES.iter().enumerate() {
        let tok = token(&format!("buyer-{i}"));
        let (rid, amount) = rig.hold(&tok, &event_id, &[a[i]]).await;
        all.push(rid.clone());
        let key = rig.widget(&rid, amount, *code).await;
        let (st, v) = rig.pay(&tok, &rid, &key, amount).await;
        if *ends_paid {
            // A timeout may leave the answer unknown for a while (202).
            assert!(st == 201 || st == 202, "{code:?}: {st} {v}");
        } else {
            assert_eq!(st, 402, "{code:?}: {v}");
            assert_eq!(v["error"]["code"], "payment_declined");
            assert_eq!(v["error"]["providerCode"], code.unwrap());
        }
        rig.wait_settled(&rid).await;
        if !ends_paid {
            // Declined: the hold stays and the buyer may try again.
            let (st, v) = rig
                .call(
                    Method::GET,
                    &format!("/v1/api/reservations/{rid}"),
                    &tok,
                    None,
                )
                .await;
            assert_eq!((st, v["status"].as_str()), (200, Some("held")));
            let key2 = rig.widget(&rid, amount, None).await;
            let (st, v) = rig.pay(&tok, &rid, &key2, amount).await;
            assert_eq!(st, 201, "{code:?} retry: {v}");
        }
        let attempts = rig
            .s
            .handle
            .payments()
            .store
            .payments_of_reservation(&rid)
            .await
            .unwrap();
        assert!(
            attempts.iter().any(|p| p.status == PaymentState::Done),
            "{code:?}"
        );
        check_invariants(&rig, &event_id, &all).await;
    }

    // "Already processed": the payment was confirmed at Toss by another
    // request (another key), so our confirm is told ALREADY_PROCESSED.
    let tok = token("buyer-already");
    let (rid, amount) = rig.hold(&tok, &event_id, &[a[15]]).await;
    all.push(rid.clone());
    let key = rig.widget(&rid, amount, None).await;
    let direct = ticketon_runtime::test_env::http_client()
        .post(format!("{}/v1/payments/confirm", rig.toss_base))
        .header(
            "Authorization",
            reservation_api::toss::basic_auth_value(reservation_api::toss::SANDBOX_SECRET_KEY),
        )
        .json(&json!({"paymentKey": key, "orderId": rid, "amount": amount}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let (st, v) = rig.pay(&tok, &rid, &key, amount).await;
    assert_eq!(st, 201, "already processed is settled from the lookup: {v}");
    check_invariants(&rig, &event_id, &all).await;

    // The amount is checked before Toss is called: nothing is charged.
    let tok = token("buyer-amount");
    let (rid, amount) = rig.hold(&tok, &event_id, &[a[16]]).await;
    all.push(rid.clone());
    let key = rig.widget(&rid, amount, None).await;
    let (st, v) = rig.pay(&tok, &rid, &key, amount - 1).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("amount_mismatch"))
    );
    let p = client(&rig.toss_base)
        .payment_by_order(&rid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Ready);
    let (st, _) = rig.pay(&tok, &rid, "", amount).await;
    assert_eq!(st, 400);
    check_invariants(&rig, &event_id, &all).await;
    rig.s.stop().await;
    sb.shutdown().await;
}

async fn late_payment(db_url: &str) {
    let sb = sandbox().await;
    let rig = rig(db_url, &sb, true).await;
    let clock = rig.s.clock.clone().unwrap();
    let (event_id, a, _) = rig.s.create_event(1, 4, 60).await;
    let alice = token("alice");
    let bob = token("bob");

    // Expired and taken before paying: refused before Toss, nothing charged.
    let (r1, amount) = rig.hold(&alice, &event_id, &[a[0]]).await;
    let key = rig.widget(&r1, amount, None).await;
    clock.advance_ms(60_000);
    let (r2, _) = rig.hold(&bob, &event_id, &[a[0]]).await;
    let (st, v) = rig.pay(&alice, &r1, &key, amount).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("reservation_not_payable"))
    );

    // Expired but the seat still free: the payment goes through.
    let carol = token("carol");
    let (r3, amount3) = rig.hold(&carol, &event_id, &[a[1]]).await;
    clock.advance_ms(61_000);
    let key3 = rig.widget(&r3, amount3, None).await;
    let (st, v) = rig.pay(&carol, &r3, &key3, amount3).await;
    assert_eq!(st, 201, "{v}");

    // Charged while the hold expires and another buyer takes the seat: the
    // charge is refunded in full and recorded as such.
    let dave = token("dave");
    let erin = token("erin");
    let (r4, amount4) = rig.hold(&dave, &event_id, &[a[2]]).await;
    let key4 = rig
        .widget(&r4, amount4, Some("SANDBOX_TIMEOUT_AFTER_COMMIT"))
        .await;
    let late = rig.pay(&dave, &r4, &key4, amount4);
    let thief = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        clock.advance_ms(61_000);
        rig.hold(&erin, &event_id, &[a[2]]).await
    };
    let ((st, v), (r5, _)) = tokio::join!(late, thief);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("payment_refunded")),
        "{v}"
    );
    rig.wait_settled(&r4).await;
    let attempt = rig
        .s
        .handle
        .payments()
        .store
        .find_attempt(&r4, &key4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempt.status, PaymentState::Cancelled);
    assert_eq!(attempt.failure_code.as_deref(), Some("seats_taken"));
    // Erin's hold is untouched and can be paid.
    let (_, amount5) = (r5.clone(), amount4);
    let key5 = rig.widget(&r5, amount5, None).await;
    let (st, _) = rig.pay(&erin, &r5, &key5, amount5).await;
    assert_eq!(st, 201);
    check_invariants(&rig, &event_id, &[r1, r2, r3, r4, r5]).await;
    rig.s.stop().await;
    sb.shutdown().await;
}

/// (test code on the cancel call, is the ticket refunded in the end).
const CANCEL_CASES: &[(Option<&str>, bool)] = &[
    (None, true),
    (Some("NOT_CANCELABLE_PAYMENT"), false),
    (Some("PROVIDER_ERROR"), true),
    (Some("FAILED_REFUND_PROCESS"), true),
    (Some("SANDBOX_TIMEOUT"), true),
    (Some("SANDBOX_TIMEOUT_AFTER_COMMIT"), true),
    (Some("SANDBOX_RESPONSE_LOST"), true),
    (Some("SANDBOX_CONNECTION_DROPPED"), true),
];

async fn tickets_and_cancels(db_url: &str) {
    let sb = sandbox().await;
    let rig = rig(db_url, &sb, false).await;
    let (event_id, a, b) = rig.s.create_event(1, 4, 600).await;
    let keys = BuyerKeys::from_token_secret(SECRET.as_bytes());
    let mut all = Vec::new();
    let mut tickets: Vec<(String, String)> = Vec::new(); // (ticketId, accessToken)
    for (user, seats) in [("fan-a", &a), ("fan-b", &b)] {
        let tok = token(user);
        let (rid, amount) = rig.hold(&tok, &event_id, seats).await;
        all.push(rid.clone());
        let key = rig.widget(&rid, amount, None).await;
        let (st, paid) = rig.pay(&tok, &rid, &key, amount).await;
        assert_eq!(st, 201, "{paid}");
        assert_eq!(paid["payment"]["status"], "done");
        assert_eq!(paid["payment"]["amount"], amount);
        let access = paid["accessToken"].as_str().unwrap().to_string();
        let issued = paid["tickets"].as_array().unwrap();
        assert_eq!(issued.len(), 4);

        // A retry returns the same payment, tickets and token, even though
        // paying ended the admission session; concurrent retries too.
        let (r1, r2) = tokio::join!(
            rig.pay(&tok, &rid, &key, amount),
            rig.pay(&tok, &rid, &key, amount)
        );
        for (st, again) in [r1, r2] {
            assert_eq!(st, 201);
            assert_eq!(again, paid, "a retried payment answers the same");
        }
        let n = rig
            .s
            .handle
            .payments()
            .store
            .tickets_of_reservation(&rid)
            .await
            .unwrap();
        assert_eq!(n.len(), 4, "tickets are issued once");
        // The admission token buys nothing more.
        let (st, v) = rig.pay(&tok, &rid, "another-key", amount).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (401, Some("session_ended"))
        );
        let (st, _) = rig.call(Method::GET, "/v1/api/tickets", &tok, None).await;
        assert_eq!(st, 401);
        // The access token opens the reservation and its tickets.
        let (st, v) = rig
            .call(
                Method::GET,
                &format!("/v1/api/reservations/{rid}"),
                &access,
                None,
            )
            .await;
        assert_eq!((st, v["status"].as_str()), (200, Some("paid")));
        let (st, v) = rig
            .call(Method::GET, "/v1/api/tickets", &access, None)
            .await;
        assert_eq!(st, 200);
        assert_eq!(v.as_array().unwrap().len(), 4);
        for t in issued {
            let id = t["ticketId"].as_str().unwrap();
            let claim = verify_checkin(keys.checkin_key(), t["checkInCode"].as_str().unwrap())
                .expect("check-in code verifies offline");
            assert_eq!(claim.ticket_id, id);
            assert_eq!(claim.event_id, event_id);
            tickets.push((id.to_string(), access.clone()));
        }
    }
    // An access token opens its own reservation only.
    let (other_ticket, _) = &tickets[4];
    let (st, _) = rig
        .call(
            Method::GET,
            &format!("/v1/api/tickets/{other_ticket}"),
            &tickets[0].1,
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = rig
        .call(
            Method::GET,
            &format!("/v1/api/reservations/{}", all[1]),
            &tickets[0].1,
            None,
        )
        .await;
    assert_eq!(st, 404);
    check_invariants(&rig, &event_id, &all).await;

    // Every seat is sold: the sweeper marks the event sold out, and holds
    // are refused with a code a buyer can act on.
    wait_event_status(&rig, &event_id, "sold_out").await;
    let (st, v) = rig
        .call(
            Method::POST,
            "/v1/api/reservations",
            &token("fan-late"),
            Some(json!({"eventId": event_id, "seatIds": [a[0]]})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("sold_out")),
        "{v}"
    );

    for (i, (code, refunded)) in CANCEL_CASES.iter().enumerate() {
        let (ticket, access) = &tickets[i];
        if let Some(c) = code {
            rig.gw.fail_next_cancel(c);
        }
        let path = format!("/v1/api/tickets/{ticket}/status");
        let body = json!({"status": "cancelled"});
        let (st, v) = rig
            .call(Method::PATCH, &path, access, Some(body.clone()))
            .await;
        if *refunded {
            assert!(st == 200 || st == 202, "{code:?}: {st} {v}");
        } else {
            assert_eq!(
                (st, v["error"]["code"].as_str()),
                (409, Some("refund_declined"))
            );
        }
        let rid = &all[i / 4];
        rig.wait_settled(rid).await;
        let (_, t) = rig
            .call(
                Method::GET,
                &format!("/v1/api/tickets/{ticket}"),
                access,
                None,
            )
            .await;
        let expected = if *refunded { "cancelled" } else { "issued" };
        assert_eq!(t["status"], expected, "{code:?}");
        check_invariants(&rig, &event_id, &all).await;
        if !refunded {
            // After a declined refund the holder may ask again.
            let (st, v) = rig.call(Method::PATCH, &path, access, Some(body)).await;
            assert_eq!(st, 200, "{v}");
            check_invariants(&rig, &event_id, &all).await;
        }
    }
    // Cancelling twice answers the cancelled ticket again.
    let (t0, access0) = &tickets[0];
    let path = format!("/v1/api/tickets/{t0}/status");
    let (st, v) = rig
        .call(
            Method::PATCH,
            &path,
            access0,
            Some(json!({"status": "cancelled"})),
        )
        .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("cancelled")));
    // The freed seat can be sold again: the event is back on sale.
    wait_event_status(&rig, &event_id, "on_sale").await;
    let fan_c = token("fan-c");
    let (rid, amount) = rig.hold(&fan_c, &event_id, &[a[0]]).await;
    all.push(rid.clone());
    let key = rig.widget(&rid, amount, None).await;
    let (st, paid) = rig.pay(&fan_c, &rid, &key, amount).await;
    assert_eq!(st, 201);
    check_invariants(&rig, &event_id, &all).await;

    // The gate: used once, a second use is 409; a used ticket is not refunded.
    let live = paid["tickets"][0]["ticketId"].as_str().unwrap().to_string();
    let access = paid["accessToken"].as_str().unwrap().to_string();
    let path = format!("/v1/api/tickets/{live}/status");
    let used = json!({"status": "used"});
    let (st, v) = rig
        .call(Method::PATCH, &path, &access, Some(used.clone()))
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("admin_only")));
    let (st, v) = rig
        .call(Method::PATCH, &path, ADMIN_KEY, Some(used.clone()))
        .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("used")), "{v}");
    let (st, v) = rig
        .call(Method::PATCH, &path, ADMIN_KEY, Some(used.clone()))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("ticket_already_used"))
    );
    let cancel = json!({"status": "cancelled"});
    let (st, v) = rig.call(Method::PATCH, &path, &access, Some(cancel)).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("ticket_used"))
    );
    let (st, _) = rig
        .call(
            Method::PATCH,
            &path,
            ADMIN_KEY,
            Some(json!({"status": "sold"})),
        )
        .await;
    assert_eq!(st, 400);
    let cancelled_path = format!("/v1/api/tickets/{t0}/status");
    let (st, v) = rig
        .call(Method::PATCH, &cancelled_path, ADMIN_KEY, Some(used))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("ticket_cancelled"))
    );
    check_invariants(&rig, &event_id, &all).await;

    // Every issue and cancel left through the outbox, with the session end.
    let outbox = rig
        .s
        .handle
        .payments()
        .store
        .unpublished(10_000)
        .await
        .unwrap();
    let count = |topic: &str, kind: &str| {
        outbox
            .iter()
            .filter(|r| r.topic == topic)
            .filter(|r| serde_json::from_slice::<Value>(&r.payload).unwrap()["type"] == kind)
            .count()
    };
    assert_eq!(count("ticketon.tickets", "issued"), 9);
    assert_eq!(count("ticketon.tickets", "cancelled"), 8);
    assert_eq!(count("ticketon.sessions", "completed"), 3);
    // Announced once, in the outbox with the sale that emptied the event;
    // the refunds gave seats back, so it is on sale again.
    assert_eq!(count("ticketon.sessions", "sold_out"), 1);
    wait_event_status(&rig, &event_id, "on_sale").await;
    rig.s.stop().await;
    sb.shutdown().await;
}

async fn wait_event_status(rig: &Rig, event_id: &str, status: &str) {
    let path = format!("/v1/api/events/{event_id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, event) = rig.call(Method::GET, &path, ADMIN_KEY, None).await;
        if event["status"] == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event never became {status}: {event}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The service dies after Toss charged and before the settlement commit;
/// a restarted service on the same database settles it in the background.
async fn crash_and_restart(db_url: &str) {
    let sb = sandbox().await;
    let first = rig(db_url, &sb, false).await;
    let (event_id, a, _) = first.s.create_event(1, 4, 600).await;
    let tok = token("crash-buyer");
    let (rid, amount) = first.hold(&tok, &event_id, &[a[0], a[1]]).await;
    let key = first.widget(&rid, amount, None).await;
    // A second buyer whose card is declined, with the same crash.
    let tok2 = token("crash-declined");
    let (rid2, amount2) = first.hold(&tok2, &event_id, &[a[2]]).await;
    let key2 = first
        .widget(&rid2, amount2, Some("REJECT_CARD_PAYMENT"))
        .await;
    first.gw.crash_after_confirm.store(true, Ordering::SeqCst);
    for (t, r, k, amt) in [(&tok, &rid, &key, amount), (&tok2, &rid2, &key2, amount2)] {
        let sent = first
            .s
            .http
            .post(first.s.url("/v1/api/payments"))
            .bearer_auth(t)
            .json(&json!({"reservationId": r, "paymentKey": k, "amount": amt}))
            .send()
            .await;
        assert!(sent.is_err(), "the request dies with the service");
    }
    first.s.stop().await;
    let toss = client(&first.toss_base);
    assert_eq!(
        toss.payment_by_order(&rid).await.unwrap().unwrap().status,
        PaymentStatus::Done
    );

    let second = rig(db_url, &sb, false).await;
    let store = &second.s.handle.payments().store;
    for r in [&rid, &rid2] {
        let p = store.payments_of_reservation(r).await.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].status,
            PaymentState::Pending,
            "left pending by the crash"
        );
    }
    second.wait_settled(&rid).await;
    second.wait_settled(&rid2).await;
    assert_eq!(store.tickets_of_reservation(&rid).await.unwrap().len(), 2);
    let failed = store.payments_of_reservation(&rid2).await.unwrap();
    assert_eq!(failed[0].status, PaymentState::Failed);
    assert_eq!(
        failed[0].failure_code.as_deref(),
        Some("REJECT_CARD_PAYMENT")
    );
    check_invariants(&second, &event_id, &[rid.clone(), rid2]).await;
    // The buyer's retry now gets the tickets.
    let (st, v) = second.pay(&tok, &rid, &key, amount).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["tickets"].as_array().unwrap().len(), 2);
    second.s.stop().await;
    sb.shutdown().await;
}

macro_rules! on_both_databases {
    ($($name:ident),+) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = TestDb::sqlite();
                    super::$name(db.url()).await;
                    db.cleanup().await;
                }
            )+
        }
        mod mariadb {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = TestDb::mysql().await else { return };
                    super::$name(db.url()).await;
                    db.cleanup().await;
                }
            )+
        }
    };
}

on_both_databases!(
    confirm_failures,
    late_payment,
    tickets_and_cancels,
    crash_and_restart
);
