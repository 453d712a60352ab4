//! The pages the queue-server serves: the fan's waiting room,
//! `GET /queues/{queueId}` (the same bytes for every queue: its script
//! reads the queueId from the path), and the operator's console,
//! `GET /admin`. Both are static files compiled into the binary
//! (`ticketon_runtime::page`). A browser fetches a page once and then only
//! talks to the API, so a million fans waiting cost what their streams
//! cost.
//!
//! Each page's inline script and style are allowed by their hashes in the
//! Content-Security-Policy: nothing else may run on it, and it may connect
//! only back to this origin (the console also to the reservation-api).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, StatusCode};
use serde::Serialize;
use ticketon_runtime::page::{ExtraSources, PageSource, ServedPage};

use super::response::{self, HttpResponse};

const WAITING_ROOM: PageSource = PageSource {
    embedded: include_str!("pages/waiting_room.html"),
    path: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/http/pages/waiting_room.html"
    ),
};

const ADMIN: PageSource = PageSource {
    embedded: include_str!("pages/admin.html"),
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/pages/admin.html"),
};

/// What the console's script reads first (`GET /admin/config`): where the
/// reservation-api is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminConfig<'a> {
    /// Empty: the same origin (behind the deploy's nginx).
    reservation_url: &'a str,
}

#[derive(Debug)]
pub struct Pages {
    waiting_room: ServedPage,
    admin: ServedPage,
    admin_config: Bytes,
}

impl Pages {
    /// `reservation_url`: the reservation-api's origin as browsers reach
    /// it, when it is not this one.
    pub fn new(reservation_url: Option<&str>) -> Pages {
        let admin_extra = ExtraSources {
            connect: reservation_url.map(str::to_string).into_iter().collect(),
            ..ExtraSources::default()
        };
        let admin_config = AdminConfig {
            reservation_url: reservation_url.unwrap_or(""),
        };
        Pages {
            // The proof of work's solvers are Web Workers made from a
            // string of the page's own (hash-allowed) script.
            waiting_room: ServedPage::new(
                WAITING_ROOM,
                ExtraSources {
                    worker: vec!["blob:".into()],
                    ..ExtraSources::default()
                },
            ),
            admin: ServedPage::new(ADMIN, admin_extra),
            admin_config: Bytes::from(
                serde_json::to_vec(&admin_config).expect("a struct of strings serializes"),
            ),
        }
    }

    /// The waiting room, or 304 when the browser has these bytes already.
    /// Five minutes: a new release reaches waiting fans on their next load,
    /// and a reload in between costs a 304.
    pub(super) fn waiting_room(&self, request: &HeaderMap) -> HttpResponse {
        self.waiting_room
            .current()
            .answer(request, 300)
            .into_response()
    }

    /// The console: revalidated on every load, so an operator never runs
    /// yesterday's controls.
    pub(super) fn admin(&self, request: &HeaderMap) -> HttpResponse {
        self.admin.current().answer(request, 0).into_response()
    }

    pub(super) fn admin_config(&self) -> HttpResponse {
        let mut response = response::empty(StatusCode::OK);
        *response.body_mut() = Full::new(self.admin_config.clone());
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketon_runtime::page::{inline, Page};

    #[test]
    fn the_waiting_room_is_small_and_its_inline_code_is_what_the_policy_allows() {
        let html = WAITING_ROOM.embedded;
        assert!(html.len() <= 30 * 1024, "{} bytes", html.len());
        assert!(inline(html, "script").contains("EventSource"));
        assert!(inline(html, "style").contains("--accent"));
        let page = Page::new(html, &ExtraSources::default());
        assert!(page.csp().contains("connect-src 'self';"), "{}", page.csp());
    }

    #[test]
    fn the_console_may_reach_the_reservation_api() {
        let pages = Pages::new(Some("http://127.0.0.1:8080"));
        let csp = pages.admin.current().csp().to_string();
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8080;"),
            "{csp}"
        );
        let config: serde_json::Value = serde_json::from_slice(&pages.admin_config).unwrap();
        assert_eq!(config["reservationUrl"], "http://127.0.0.1:8080");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&Pages::new(None).admin_config).unwrap()
                ["reservationUrl"],
            ""
        );
    }
}
