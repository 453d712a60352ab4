//! The fan's pages as HTTP sees them (issue 18; the browser tests are in
//! the workspace's tests/pages): the page and its policy, what the site
//! tells it, the sandbox's hosted checkout from card form to tickets, the
//! tickets' QR images, and which origins may call the API.

use reqwest::redirect::Policy;
use reservation_api::SeatLockKind;
use reservation_api_testkit::*;
use serde_json::{json, Value};

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn site(s: &TestServer) -> Value {
    s.http
        .get(s.url("/v1/api/site"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Posts the sandbox's card form; returns where it sends the browser.
async fn checkout(widget_url: &str, fields: &[(&str, &str)]) -> url::Url {
    let resp = no_redirects()
        .post(widget_url)
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    url::Url::parse(&location).unwrap()
}

fn query(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fan_page_is_the_one_static_page_with_its_policy() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let mut etag = None;
    for path in [
        "/events/e1",
        "/events/e1/checkout",
        "/events/e1/checkout/success",
        "/events/e1/checkout/fail",
        "/tickets/r1",
    ] {
        let resp = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(
            !csp.contains("tosspayments"),
            "the sandbox needs no Toss host: {csp}"
        );
        let this = h["etag"].to_str().unwrap().to_string();
        assert_eq!(
            etag.get_or_insert(this.clone()),
            &this,
            "one page for every path"
        );
    }
    let resp = s
        .http
        .get(s.url("/events/e1"))
        .header("if-none-match", etag.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    let v = site(&s).await;
    assert_eq!(v["queueUrl"], "");
    assert_eq!(v["payments"]["provider"], "sandbox");
    assert!(
        v["payments"]["widgetUrl"]
            .as_str()
            .unwrap()
            .ends_with("/v1/sandbox/checkout"),
        "{v}"
    );
    s.stop().await;
    db.cleanup().await;
}

/// The sandbox's card form: the card decides, the browser is sent back
/// the way Toss sends it, and Ticketon confirms what the form created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_checkout_plays_tosss_window() {
    let db = TestDb::sqlite();
    let s = start(db.url(), SeatLockKind::Pessimistic, None, false).await;
    let widget = site(&s).await["payments"]["widgetUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let page = s.http.get(&widget).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("form-action 'self' http: https:"), "{csp}");

    let (event_id, a, _) = s.create_event(1, 6, 300).await;
    let tok = token("fan-1");
    let (st, hold) = s.hold(&tok, &event_id, &a[..2]).await;
    assert_eq!(st, 201, "{hold}");
    let rid = hold["reservationId"].as_str().unwrap();
    let amount = hold["amount"].as_i64().unwrap().to_string();
    let success = format!("{}/events/{event_id}/checkout/success?lang=ko", s.base);
    let fail = format!("{}/events/{event_id}/checkout/fail", s.base);
    let form = |card: &'static str, action: &'static str| {
        vec![
            ("orderId", rid.to_string()),
            ("amount", amount.clone()),
            ("orderName", "Test Concert".to_string()),
            ("successUrl", success.clone()),
            ("failUrl", fail.clone()),
            ("cardNumber", card.to_string()),
            ("action", action.to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let widget = widget.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            checkout(&widget, &fields).await
        }
    };
    let pay = |key: String| {
        let http = s.http.clone();
        let url = s.url("/v1/api/payments");
        let tok = tok.clone();
        let body = json!({"reservationId": rid, "paymentKey": key, "amount": hold["amount"]});
        async move {
            let resp = http
                .post(url)
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };

    // Cancelled in the window, then a malformed card: back to failUrl.
    let back = post(form("4242 4242 4242 4242", "cancel")).await;
    assert!(back.as_str().starts_with(&fail), "{back}");
    assert_eq!(query(&back, "code"), "PAY_PROCESS_CANCELED");
    assert_eq!(query(&back, "orderId"), rid);
    let back = post(form("4242", "pay")).await;
    assert_eq!(query(&back, "code"), "INVALID_CARD_NUMBER");

    // The decline card passes the window and is declined at confirm.
    let back = post(form("4000 0000 0000 0002", "pay")).await;
    assert!(back.as_str().starts_with(&success), "{back}");
    assert_eq!(query(&back, "lang"), "ko", "the shop's own query is kept");
    assert_eq!(query(&back, "paymentType"), "NORMAL");
    assert_eq!(query(&back, "amount"), amount);
    let (st, v) = pay(query(&back, "paymentKey")).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (402, Some("payment_declined")),
        "{v}"
    );

    // A good card: tickets, each with its QR image.
    let back = post(form("4242-4242-4242-4242", "pay")).await;
    let (st, paid) = pay(query(&back, "paymentKey")).await;
    assert_eq!(st, 201, "{paid}");
    let access = paid["accessToken"].as_str().unwrap();
    for ticket in paid["tickets"].as_array().unwrap() {
        let id = ticket["ticketId"].as_str().unwrap();
        let resp = s
            .http
            .get(s.url(&format!("/v1/api/tickets/{id}/qr")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "image/svg+xml");
        assert!(resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        let svg = resp.text().await.unwrap();
        assert!(svg.contains("<svg") && svg.contains("viewBox"), "{svg}");
    }
    let first = paid["tickets"][0]["ticketId"].as_str().unwrap();
    let resp = s
        .http
        .get(s.url(&format!("/v1/api/tickets/{first}/qr")))
        .bearer_auth(token("someone-else"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "another buyer's ticket is not revealed");
    let resp = s
        .http
        .get(s.url(&format!("/v1/api/tickets/{first}/qr")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The window refuses to send a browser anywhere but http(s).
    let resp = no_redirects()
        .post(&widget)
        .form(&[
            ("orderId", rid),
            ("amount", "1"),
            ("successUrl", "javascript:alert(1)"),
            ("failUrl", &fail),
            ("cardNumber", "4242424242424242"),
            ("action", "pay"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    s.stop().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_origins_may_call_the_api_from_a_browser() {
    let db = TestDb::sqlite();
    let config = reservation_api::Config {
        listen: "127.0.0.1:0".into(),
        database_url: db.url().into(),
        admin_key: Some(ADMIN_KEY.into()),
        token_secret: Some(SECRET.into()),
        queue_public_url: Some("http://queue.test:8082".into()),
        cors_origins: vec!["http://queue.test:8082".into()],
        payments: reservation_api::config::PaymentsConfig {
            toss: reservation_api::toss::TossConfig::sandbox(([127, 0, 0, 1], 0).into()),
            ..Default::default()
        },
        ..reservation_api::Config::default()
    };
    let s = reservation_api_testkit::server::serve(config, false).await;
    assert_eq!(site(&s).await["queueUrl"], "http://queue.test:8082");
    let preflight = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, s.url("/v1/api/events"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("http://queue.test:8082").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://queue.test:8082"
    );
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(allowed.contains("authorization"), "{allowed}");
    let other = preflight("http://evil.test").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
    db.cleanup().await;
}
