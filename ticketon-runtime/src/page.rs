//! The static HTML pages both services serve (the waiting room, the
//! operator's console, the fan's seat picker and checkout, the Toss
//! sandbox's card form): one file each, compiled into the binary, with
//! exactly one inline `<script>` and one inline `<style>`.
//!
//! A page's Content-Security-Policy allows its inline code by hash and
//! nothing else, so an injected script cannot run on it. Its `ETag` is a
//! digest of its bytes, so a reload costs a 304.
//!
//! Debug builds read the file from disk again on every request (when the
//! source tree is still where the crate was built), so that a page can be
//! edited and reloaded without rebuilding; release builds serve the
//! compiled-in bytes only.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

/// What a page may load beyond its own inline code and its own origin,
/// one list per CSP directive (each entry a source expression such as
/// `https://js.tosspayments.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraSources {
    pub script: Vec<String>,
    pub connect: Vec<String>,
    pub frame: Vec<String>,
    pub img: Vec<String>,
    pub form_action: Vec<String>,
    /// Where Web Workers may come from (no directive when empty).
    pub worker: Vec<String>,
}

/// A page as a binary holds it: its compiled-in text and where its source
/// file was (`concat!(env!("CARGO_MANIFEST_DIR"), "/src/…")`).
#[derive(Debug, Clone, Copy)]
pub struct PageSource {
    pub embedded: &'static str,
    pub path: &'static str,
}

/// A page ready to serve: its bytes and the headers that go with them.
#[derive(Debug)]
pub struct Page {
    body: Bytes,
    etag: HeaderValue,
    csp: HeaderValue,
}

/// What a request gets: the status (200 or 304), the headers to set, and
/// the body (empty for a 304).
#[derive(Debug)]
pub struct PageAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

fn sha256_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// The text between the page's first `<tag>` and the next `</tag>`.
pub fn inline<'a>(html: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = html.find(&open).map_or(0, |i| i + open.len());
    let end = html[start..].find(&close).map_or(start, |i| start + i);
    &html[start..end]
}

fn directive(name: &str, own: &str, extra: &[String]) -> String {
    let mut d = format!("{name} {own}");
    for source in extra {
        d.push(' ');
        d.push_str(source);
    }
    d
}

impl Page {
    pub fn new(html: &str, extra: &ExtraSources) -> Page {
        let script = format!("'sha256-{}'", sha256_base64(inline(html, "script")));
        let style = format!("'sha256-{}'", sha256_base64(inline(html, "style")));
        let csp = [
            "default-src 'none'".to_string(),
            directive("script-src", &script, &extra.script),
            format!("style-src {style}"),
            directive("connect-src", "'self'", &extra.connect),
            directive("img-src", "'self' data: blob:", &extra.img),
            if extra.frame.is_empty() {
                "frame-src 'none'".to_string()
            } else {
                format!("frame-src {}", extra.frame.join(" "))
            },
            directive("form-action", "'self'", &extra.form_action),
            "base-uri 'none'".to_string(),
            "frame-ancestors 'none'".to_string(),
        ];
        // Without the directive workers fall back to script-src, which
        // already allows what each page loads; a page that makes its own
        // workers names their source.
        let worker =
            (!extra.worker.is_empty()).then(|| format!("worker-src {}", extra.worker.join(" ")));
        let csp: Vec<String> = csp.into_iter().chain(worker).collect();
        let csp = csp.join("; ");
        let digest = sha256_base64(html);
        Page {
            body: Bytes::copy_from_slice(html.as_bytes()),
            etag: HeaderValue::from_str(&format!("\"{}\"", &digest[..22]))
                .expect("base64 is a valid header value"),
            csp: HeaderValue::from_str(&csp)
                .expect("source expressions are visible ASCII (checked by the settings)"),
        }
    }

    /// The policy, for tests and logs.
    pub fn csp(&self) -> &str {
        self.csp.to_str().unwrap_or_default()
    }

    /// The page, or 304 when the browser holds these bytes already.
    /// `max_age` is how long a browser may use its copy without asking.
    pub fn answer(&self, request: &HeaderMap, max_age_secs: u32) -> PageAnswer {
        let cached = request
            .get(IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == self.etag.as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, self.etag.clone());
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age_secs}"))
                .expect("digits are a valid header value"),
        );
        headers.insert(CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if cached {
            return PageAnswer {
                status: StatusCode::NOT_MODIFIED,
                headers,
                body: Bytes::new(),
            };
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        PageAnswer {
            status: StatusCode::OK,
            headers,
            body: self.body.clone(),
        }
    }
}

impl PageAnswer {
    /// The answer as an `http` response with any body type made of bytes
    /// (hyper's `Full<Bytes>`, axum's `Body`).
    pub fn into_response<B: From<Bytes>>(self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// A page and its policy, built once (release) or from the file on disk
/// at each request (debug builds with the source tree present).
#[derive(Debug)]
pub struct ServedPage {
    source: PageSource,
    extra: ExtraSources,
    built: OnceLock<Arc<Page>>,
}

impl ServedPage {
    pub fn new(source: PageSource, extra: ExtraSources) -> ServedPage {
        ServedPage {
            source,
            extra,
            built: OnceLock::new(),
        }
    }

    pub fn current(&self) -> Arc<Page> {
        if cfg!(debug_assertions) {
            if let Ok(html) = std::fs::read_to_string(self.source.path) {
                return Arc::new(Page::new(&html, &self.extra));
            }
        }
        self.built
            .get_or_init(|| Arc::new(Page::new(self.source.embedded, &self.extra)))
            .clone()
    }
}

/// The origin of an absolute http(s) URL as a browser writes it in an
/// `Origin` header (`scheme://host[:port]`, the host lowercased, a default
/// port dropped), for a CSP source or a CORS origin; `None` for anything
/// else.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// A setting that names an origin: `http(s)://host[:port]`, nothing after
/// it (clap's value parser for the public-URL settings).
pub fn parse_origin(value: &str) -> Result<String, String> {
    let refused =
        || format!("'{value}' is not an origin: expected http(s)://host[:port] with no path");
    let url = url::Url::parse(value).map_err(|_| refused())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let plain = url.username().is_empty() && url.password().is_none();
    match origin_of(value) {
        Some(origin) if bare && plain => Ok(origin),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: &str = "<!doctype html><style>p{}</style><p>x</p><script>go()</script>";

    #[test]
    fn the_policy_allows_the_inline_code_by_hash_and_the_extras() {
        let extra = ExtraSources {
            script: vec!["https://js.example".into()],
            frame: vec!["https://*.example".into()],
            ..ExtraSources::default()
        };
        let page = Page::new(HTML, &extra);
        let csp = page.csp();
        assert!(
            csp.contains(&format!(
                "script-src 'sha256-{}' https://js.example",
                sha256_base64("go()")
            )),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("style-src 'sha256-{}'", sha256_base64("p{}"))),
            "{csp}"
        );
        assert!(csp.contains("frame-src https://*.example;"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(!Page::new(HTML, &ExtraSources::default())
            .csp()
            .contains("frame-src https"));
    }

    #[test]
    fn a_known_etag_gets_304_without_a_body() {
        let page = Page::new(HTML, &ExtraSources::default());
        let first = page.answer(&HeaderMap::new(), 60);
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.body.len(), HTML.len());
        let mut again = HeaderMap::new();
        again.insert(IF_NONE_MATCH, first.headers[ETAG].clone());
        let second = page.answer(&again, 60);
        assert_eq!(second.status, StatusCode::NOT_MODIFIED);
        assert!(second.body.is_empty());
        assert_eq!(second.headers[CACHE_CONTROL], "public, max-age=60");
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x?y").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("https://tickets.example").as_deref(),
            Some("https://tickets.example")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("http://a b/"), None);
        assert_eq!(origin_of(""), None);
        assert_eq!(
            origin_of("https://Tickets.Example:443/").as_deref(),
            Some("https://tickets.example")
        );
        assert_eq!(origin_of("http://:80"), None);
        assert_eq!(origin_of("http://a:b:c"), None);
        assert_eq!(parse_origin("http://a:1/").as_deref(), Ok("http://a:1"));
        assert!(parse_origin("http://a:1/x").is_err());
        assert!(parse_origin("http://user@a:1").is_err());
        assert!(parse_origin("http://[").is_err());
    }
}
