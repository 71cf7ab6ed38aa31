//! Traces of the host's work, in OpenTelemetry's terms.
//!
//! The host's crates describe their work with `tracing` spans: an API
//! request, the action it runs, each request the action sends, a poll and
//! each delivery of what it found. This crate gives those spans what they
//! need to become one distributed trace:
//!
//! - [`propagation`] continues the W3C trace context (`traceparent`) a
//!   caller sent, passes it on to the receivers of deliveries, and turns it
//!   into text the store keeps between a poll and the deliveries of its
//!   events, which another node may send;
//! - [`export`] sends the spans to a collector over OTLP when the operator
//!   configured one (`OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! Without an exporter no span has an OpenTelemetry context: propagation
//! then reads and writes nothing, and the host behaves as it did.

pub mod export;
pub mod propagation;

pub use export::{ExportError, TraceExport};
