//! W3C trace context across process boundaries: HTTP requests in, Kafka
//! record headers out and in. One purchase is one trace, whichever service
//! and event carries it.
//!
//! Everything here is a no-op until [`crate::logging::init`] installed the
//! propagator, so services started as libraries (tests) pay nothing.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header (and Kafka record header) that carries the context.
pub const TRACEPARENT: &str = "traceparent";

struct HttpHeaders<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

struct Collect(HashMap<String, String>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

fn set_parent(span: &tracing::Span, extractor: &dyn Extractor) {
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(extractor));
    if parent.span().span_context().is_valid() {
        // Fails only when the span was already entered or is disabled: it
        // then simply starts a trace of its own.
        let _ = span.set_parent(parent);
    }
}

/// Makes the caller's trace (the request's `traceparent`) the parent of
/// `span`. Call before the span is first entered.
pub fn continue_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    set_parent(span, &HttpHeaders(headers));
}

/// Makes the trace of `traceparent` (from a record header) the parent of `span`.
pub fn continue_from(span: &tracing::Span, traceparent: &str) {
    set_parent(span, &One(traceparent));
}

/// The `traceparent` of `span`, to carry in a record header (`None` without
/// a trace, or before [`crate::logging::init`]).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut collected = Collect(HashMap::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut collected));
    collected.0.remove(TRACEPARENT)
}

/// The `traceparent` of the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}
