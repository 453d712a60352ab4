//! The fan's waiting room, `GET /queues/{queueId}`: one static page, the
//! same bytes for every queue (its script reads the queueId from the path),
//! compiled into the binary. A browser fetches it once and then only talks
//! to the API, so a million fans waiting cost what their streams cost.
//!
//! The page's inline script and style are allowed by their hashes in the
//! Content-Security-Policy: nothing else may run on it, and it may connect
//! only back to this origin.

use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use hyper::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::response::{empty, HttpResponse};

const WAITING_ROOM: &str = include_str!("pages/waiting_room.html");

struct Page {
    body: Bytes,
    etag: HeaderValue,
    csp: HeaderValue,
}

fn sha256_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// The text between the page's first `<tag>` and `</tag>`.
fn inline(tag: &str) -> &'static str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = WAITING_ROOM.find(&open).map_or(0, |i| i + open.len());
    let end = WAITING_ROOM[start..]
        .find(&close)
        .map_or(start, |i| start + i);
    &WAITING_ROOM[start..end]
}

fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let digest = sha256_base64(WAITING_ROOM);
        let csp = format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
            sha256_base64(inline("script")),
            sha256_base64(inline("style")),
        );
        Page {
            body: Bytes::from_static(WAITING_ROOM.as_bytes()),
            etag: HeaderValue::from_str(&format!("\"{}\"", &digest[..22]))
                .expect("base64 is a valid header value"),
            csp: HeaderValue::from_str(&csp).expect("the policy is ASCII"),
        }
    })
}

/// The waiting room, or 304 when the browser has these bytes already.
pub(super) fn waiting_room(headers: &HeaderMap) -> HttpResponse {
    let page = page();
    let cached = headers
        .get(IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == page.etag.as_bytes());
    let mut response = if cached {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let mut response = empty(StatusCode::OK);
        *response.body_mut() = http_body_util::Full::new(page.body.clone());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    };
    let h = response.headers_mut();
    h.insert(ETAG, page.etag.clone());
    // Five minutes: a new release reaches waiting fans on their next load,
    // and a reload in between costs a 304.
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert("content-security-policy", page.csp.clone());
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_its_inline_code_is_what_the_policy_allows() {
        assert!(
            WAITING_ROOM.len() <= 30 * 1024,
            "{} bytes",
            WAITING_ROOM.len()
        );
        assert!(inline("script").contains("EventSource"));
        assert!(inline("style").contains("--accent"));
        let csp = page().csp.to_str().unwrap();
        assert!(csp.contains(&sha256_base64(inline("script"))), "{csp}");
    }
}
