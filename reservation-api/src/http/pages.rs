//! The fan's pages the reservation-api serves: the seat picker
//! (`/events/{eventId}`), the checkout and its success and fail pages
//! (`/events/{eventId}/checkout[/success|/fail]`) and the tickets
//! (`/tickets/{reservationId}`). They are one static file
//! (`pages/fan.html`, compiled in) whose script routes on the path, so a
//! fan downloads it once for the whole purchase. `GET /v1/api/site` tells
//! the page where the waiting room is and how to pay.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use ticketon_runtime::page::{ExtraSources, PageSource, ServedPage};

use super::AppState;
use crate::http::error::json_response;

const FAN: PageSource = PageSource {
    embedded: include_str!("pages/fan.html"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/pages/fan.html"),
};

/// Toss Payments' v2 browser SDK, which the checkout page loads with real
/// Toss; the widgets it renders come from Toss's own hosts.
const TOSS_SDK_URL: &str = "https://js.tosspayments.com/v2/standard";
const TOSS_HOSTS: &str = "https://*.tosspayments.com";

/// How the browser pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// Real Toss: the page renders Toss's payment widgets.
    Toss { client_key: String },
    /// The embedded sandbox: the page sends the buyer to its card form.
    Sandbox {
        client_key: String,
        widget_url: String,
    },
    /// A provider injected by a test or a library user: no browser
    /// checkout.
    None,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Site<'a> {
    queue_url: &'a str,
    payments: SitePayments<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SitePayments<'a> {
    provider: &'static str,
    client_key: Option<&'a str>,
    widget_url: Option<&'a str>,
    sdk_url: Option<&'static str>,
}

#[derive(Debug)]
pub struct FanPages {
    page: ServedPage,
    site: Bytes,
}

impl FanPages {
    /// `queue_url`: the queue-server's origin as browsers reach it, when
    /// it is not this one.
    pub fn new(queue_url: Option<&str>, checkout: &Checkout) -> FanPages {
        let payments = match checkout {
            Checkout::Toss { client_key } => SitePayments {
                provider: "toss",
                client_key: Some(client_key),
                widget_url: None,
                sdk_url: Some(TOSS_SDK_URL),
            },
            Checkout::Sandbox {
                client_key,
                widget_url,
            } => SitePayments {
                provider: "sandbox",
                client_key: Some(client_key),
                widget_url: Some(widget_url),
                sdk_url: None,
            },
            Checkout::None => SitePayments {
                provider: "none",
                client_key: None,
                widget_url: None,
                sdk_url: None,
            },
        };
        let site = Site {
            queue_url: queue_url.unwrap_or(""),
            payments,
        };
        let extra = match checkout {
            Checkout::Toss { .. } => ExtraSources {
                script: vec!["https://js.tosspayments.com".into()],
                connect: vec![TOSS_HOSTS.into()],
                frame: vec![TOSS_HOSTS.into()],
                img: vec![TOSS_HOSTS.into()],
                form_action: vec![TOSS_HOSTS.into()],
                ..ExtraSources::default()
            },
            _ => ExtraSources::default(),
        };
        FanPages {
            page: ServedPage::new(FAN, extra),
            site: Bytes::from(serde_json::to_vec(&site).expect("strings serialize")),
        }
    }

    #[cfg(test)]
    fn csp(&self) -> String {
        self.page.current().csp().to_string()
    }
}

/// Every fan page: the same bytes, revalidated after five minutes.
pub(super) async fn fan(State(st): State<AppState>, headers: HeaderMap) -> Response {
    st.pages
        .page
        .current()
        .answer(&headers, 300)
        .into_response()
}

/// `GET /v1/api/site`: where the waiting room is and how to pay.
pub(super) async fn site(State(st): State<AppState>) -> Response {
    json_response(StatusCode::OK, st.pages.site.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_toss_may_load_its_sdk_and_widgets_and_the_sandbox_nothing_else() {
        let toss = FanPages::new(
            None,
            &Checkout::Toss {
                client_key: "live_ck_x".into(),
            },
        );
        let csp = toss.csp();
        assert!(csp.contains("https://js.tosspayments.com"), "{csp}");
        assert!(
            csp.contains("frame-src https://*.tosspayments.com"),
            "{csp}"
        );
        let site: serde_json::Value = serde_json::from_slice(&toss.site).unwrap();
        assert_eq!(site["payments"]["provider"], "toss");
        assert_eq!(site["payments"]["sdkUrl"], TOSS_SDK_URL);
        assert_eq!(site["queueUrl"], "");

        let sandbox = FanPages::new(
            Some("http://127.0.0.1:8082"),
            &Checkout::Sandbox {
                client_key: "test_ck".into(),
                widget_url: "http://127.0.0.1:8090/v1/sandbox/checkout".into(),
            },
        );
        let csp = sandbox.csp();
        assert!(!csp.contains("tosspayments"), "{csp}");
        assert!(csp.contains("frame-src 'none'"), "{csp}");
        let site: serde_json::Value = serde_json::from_slice(&sandbox.site).unwrap();
        assert_eq!(site["queueUrl"], "http://127.0.0.1:8082");
        assert_eq!(
            site["payments"]["widgetUrl"],
            "http://127.0.0.1:8090/v1/sandbox/checkout"
        );
    }
}
