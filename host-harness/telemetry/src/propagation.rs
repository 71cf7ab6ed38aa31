//! The W3C trace context, read from a caller's headers, written to a
//! receiver's, and kept as text in the store.
//!
//! Only `traceparent` and `tracestate` are read or written: baggage is not
//! propagated, since a caller's baggage is not a receiver's business.

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header a trace context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// Makes `span` a child of the trace context in `headers`, if they carry a
/// valid one. A malformed `traceparent` is ignored, as the W3C
/// recommendation asks: the span then starts a trace of its own.
pub fn continue_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed.
        let _ = span.set_parent(parent);
    }
}

/// Writes `span`'s trace context into `headers`; writes nothing when the
/// span has none (no exporter is configured).
pub fn inject_into_headers(span: &tracing::Span, headers: &mut HeaderMap) {
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

/// `span`'s trace context as a `traceparent` value, to keep with work that
/// continues later or elsewhere; none when the span has no context.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    inject_into_headers(span, &mut headers);
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Makes `span` a child of a kept `traceparent` value.
pub fn continue_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(traceparent) {
        headers.insert(TRACEPARENT, value);
        continue_from_headers(span, &headers);
    }
}
