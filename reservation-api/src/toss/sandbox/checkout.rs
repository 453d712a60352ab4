//! The sandbox's hosted checkout: the page a buyer's browser is sent to
//! instead of Toss's payment window, and the form it posts. It plays what
//! Toss's window does for the page that opened it: a READY payment is
//! created, and the browser is redirected to `successUrl` with
//! `paymentType`, `orderId`, `paymentKey` and `amount`, or to `failUrl`
//! with `code`, `message` and `orderId`. Ticketon then confirms the
//! payment exactly as it would with Toss.
//!
//! The card number chosen decides what happens next, so that a browser
//! test can play every path (the table is on the page too).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use ticketon_runtime::page::{origin_of, ExtraSources, PageSource, ServedPage};

use super::routes::{now, App};
use super::test_code::FailMode;

const PAGE: PageSource = PageSource {
    embedded: include_str!("checkout.html"),
    path: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/toss/sandbox/checkout.html"
    ),
};

fn page() -> &'static ServedPage {
    static SERVED: OnceLock<ServedPage> = OnceLock::new();
    SERVED.get_or_init(|| {
        // The form's answer redirects to the shop's success or fail page,
        // wherever it is: form-action covers redirects after a submit.
        let extra = ExtraSources {
            form_action: vec!["http:".into(), "https:".into()],
            ..ExtraSources::default()
        };
        ServedPage::new(PAGE, extra)
    })
}

/// `GET /v1/sandbox/checkout?...`: the card form (its script reads the
/// order from the query).
pub(super) async fn show(headers: HeaderMap) -> Response {
    page().current().answer(&headers, 0).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CheckoutForm {
    order_id: String,
    amount: String,
    success_url: String,
    fail_url: String,
    #[serde(default)]
    card_number: String,
    /// `pay` or `cancel`.
    action: String,
}

/// What a test card does when the shop confirms its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CardOutcome {
    /// Any other well-formed number: the confirm succeeds.
    Approve,
    /// The confirm is answered with this failure switch.
    FailAtConfirm(&'static str),
}

/// The test cards (documented on the page and in proto-notes/toss.md).
pub(super) const TEST_CARDS: &[(&str, CardOutcome)] = &[
    ("4242424242424242", CardOutcome::Approve),
    (
        "4000000000000002",
        CardOutcome::FailAtConfirm("REJECT_CARD_PAYMENT"),
    ),
    (
        "4000000000000069",
        CardOutcome::FailAtConfirm("INVALID_CARD_EXPIRATION"),
    ),
    (
        "4000000000000119",
        CardOutcome::FailAtConfirm(FailMode::RESPONSE_LOST),
    ),
];

/// The card's digits (spaces and dashes dropped), or `None` when it is not
/// a 15 or 16 digit number.
pub(super) fn card_digits(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let valid = (15..=16).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(digits)
}

pub(super) fn outcome_of(digits: &str) -> CardOutcome {
    TEST_CARDS
        .iter()
        .find(|(card, _)| *card == digits)
        .map_or(CardOutcome::Approve, |(_, outcome)| *outcome)
}

/// `url` with `params` appended to its query, or `None` when it is not an
/// absolute http(s) URL.
fn with_query(url: &str, params: &[(&str, &str)]) -> Option<String> {
    origin_of(url)?;
    let mut url = url::Url::parse(url).ok()?;
    url.query_pairs_mut().extend_pairs(params);
    Some(url.into())
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A form the page never sends (a shop's bad URL, a hand-made request):
/// plain text, since a browser shows it as it is, unlike the sandbox's JSON
/// API errors meant for Ticketon's client.
fn bad_form(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("The sandbox checkout cannot go on: {message}\n"),
    )
        .into_response()
}

/// `POST /v1/sandbox/checkout`: pay or cancel, then back to the shop.
pub(super) async fn submit(
    State(app): State<Arc<App>>,
    Form(form): Form<CheckoutForm>,
) -> Response {
    if with_query(&form.success_url, &[]).is_none() || with_query(&form.fail_url, &[]).is_none() {
        return bad_form("successUrl and failUrl must be absolute http(s) URLs");
    }
    let to_fail = |code: &str, message: &str| match with_query(
        &form.fail_url,
        &[
            ("code", code),
            ("message", message),
            ("orderId", &form.order_id),
        ],
    ) {
        Some(location) => see_other(&location),
        None => bad_form("failUrl must be an absolute http(s) URL"),
    };
    if form.action == "cancel" {
        return to_fail("PAY_PROCESS_CANCELED", "사용자가 결제를 취소하였습니다");
    }
    if form.action != "pay" {
        return bad_form("action must be pay or cancel");
    }
    let Ok(amount) = form.amount.trim().parse::<i64>() else {
        return to_fail(
            "INVALID_REQUEST",
            "The amount is not a whole number of won.",
        );
    };
    let Some(digits) = card_digits(&form.card_number) else {
        return to_fail("INVALID_CARD_NUMBER", "카드 번호를 다시 확인해주세요");
    };
    let fail_with = match outcome_of(&digits) {
        CardOutcome::Approve => None,
        CardOutcome::FailAtConfirm(code) => FailMode::parse(code),
    };
    let payment_key = format!("tsbx_{}", uuid::Uuid::new_v4().simple());
    let created =
        app.state
            .lock()
            .ledger
            .create(payment_key, &form.order_id, amount, fail_with, now());
    match created {
        Ok(payment) => {
            let amount = payment.total_amount.to_string();
            match with_query(
                &form.success_url,
                &[
                    ("paymentType", "NORMAL"),
                    ("orderId", &payment.order_id),
                    ("paymentKey", &payment.payment_key),
                    ("amount", &amount),
                ],
            ) {
                Some(location) => see_other(&location),
                None => bad_form("successUrl must be an absolute http(s) URL"),
            }
        }
        Err(e) => to_fail(&e.code, &e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_and_malformed_numbers() {
        assert_eq!(
            card_digits("4242 4242 4242 4242").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            card_digits("3782-822463-10005").as_deref(),
            Some("378282246310005")
        );
        assert_eq!(card_digits("4242"), None);
        assert_eq!(card_digits("4242 4242 4242 424x"), None);
        assert_eq!(outcome_of("4242424242424242"), CardOutcome::Approve);
        assert_eq!(outcome_of("5555555555554444"), CardOutcome::Approve);
        assert_eq!(
            outcome_of("4000000000000002"),
            CardOutcome::FailAtConfirm("REJECT_CARD_PAYMENT")
        );
        for (_, outcome) in TEST_CARDS {
            if let CardOutcome::FailAtConfirm(code) = outcome {
                assert!(FailMode::parse(code).is_some(), "{code}");
            }
        }
    }

    #[test]
    fn redirects_keep_the_shops_query_and_refuse_other_schemes() {
        assert_eq!(
            with_query("http://shop.test/ok?x=1", &[("orderId", "o 1")]).as_deref(),
            Some("http://shop.test/ok?x=1&orderId=o+1")
        );
        assert_eq!(with_query("javascript:alert(1)", &[]), None);
        assert_eq!(with_query("/relative", &[]), None);
    }
}
