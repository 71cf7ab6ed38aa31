//! Spans to a collector over OTLP (HTTP with protobuf bodies), configured
//! as every OpenTelemetry SDK is: by the `OTEL_*` environment variables.
//!
//! Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, unless `OTEL_SDK_DISABLED`
//! is `true` or `OTEL_TRACES_EXPORTER` is `none`. The exporter itself reads
//! the endpoint, `OTEL_EXPORTER_OTLP_HEADERS` (a collector's key, say) and
//! the timeout; the SDK reads the sampler (`OTEL_TRACES_SAMPLER`, by default
//! the caller's decision or always on), the batching (`OTEL_BSP_*`) and the
//! resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).

use bytes::Bytes;
use host_auth::http::HostHttp;
use host_core::egress::Routes;
use host_core::outgoing::HttpTimeouts;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::Duration;

/// The service name spans carry when `OTEL_SERVICE_NAME` says none.
const SERVICE_NAME: &str = "host-harness";

/// How long a stopping host waits for its last spans to leave.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why tracing could not be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) is `{0}`: this host exports OTLP over HTTP with protobuf bodies only (`http/protobuf`)"
    )]
    Protocol(String),
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(String),
}

/// Spans leaving for a collector; dropped or [`TraceExport::shutdown`],
/// it sends what it still holds.
pub struct TraceExport {
    provider: SdkTracerProvider,
    endpoint: String,
}

impl TraceExport {
    /// The exporter the environment configures, or none when tracing is
    /// off. Must be called within a tokio runtime: the collector is
    /// reached on it.
    pub fn from_env() -> Result<Option<TraceExport>, ExportError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| signal_url(&e)));
        let Some(endpoint) = endpoint.filter(|_| !disabled) else {
            return Ok(None);
        };
        if let Some(protocol) = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .filter(|p| p != "http/protobuf")
        {
            return Err(ExportError::Protocol(protocol));
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_http_client(CollectorClient::new())
            .build()
            .map_err(|e| ExportError::Exporter(e.to_string()))?;
        let resource = match var("OTEL_SERVICE_NAME") {
            Some(_) => Resource::builder().build(),
            None => Resource::builder().with_service_name(SERVICE_NAME).build(),
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(TraceExport { provider, endpoint }))
    }

    /// Where the spans go, for the operator to read on start: the URL
    /// without any credentials written in it.
    pub fn endpoint(&self) -> String {
        match self.endpoint.parse::<http::Uri>() {
            Ok(uri) => format!(
                "{}://{}{}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.host().unwrap_or(""),
                uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default(),
                uri.path()
            ),
            Err(_) => "(an endpoint that is not a URL)".into(),
        }
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans for
    /// this exporter.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + Send + Sync + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SERVICE_NAME))
            .with_tracked_inactivity(false)
    }

    /// Sends the spans still held and stops. Blocks: called from async
    /// code, run it where blocking is allowed (`spawn_blocking`).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(error = %e, "the last spans could not be exported");
        }
    }
}

/// The traces URL of a base endpoint, as the OTLP exporter builds it.
fn signal_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// The exporter's HTTP client: the host's own, run on the tokio runtime
/// that built it (the SDK exports from a thread of its own, off any
/// runtime).
#[derive(Clone)]
struct CollectorClient {
    http: HostHttp,
    runtime: tokio::runtime::Handle,
}

impl CollectorClient {
    fn new() -> CollectorClient {
        let wait = Duration::from_secs(10);
        CollectorClient {
            http: HostHttp::new(
                Routes::default(),
                HttpTimeouts {
                    connect: wait,
                    first_byte: wait,
                    between_bytes: wait,
                },
            ),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl std::fmt::Debug for CollectorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorClient").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for CollectorClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let request = request.map(|body| body.to_vec());
        let answer = self
            .runtime
            .spawn(async move { http.send(request).await })
            .await??;
        Ok(answer.map(Bytes::from))
    }
}
