//! An operator points `serve` at an OpenTelemetry collector with
//! `OTEL_EXPORTER_OTLP_ENDPOINT`: a workflow engine's request, the action
//! it runs and the requests the action sends to X arrive as one trace under
//! the span the engine sent in `traceparent`; a poll and the delivery of
//! what it found are one trace too, which the engine receiving the event
//! continues. The collector is a real OTLP/HTTP receiver decoding the
//! protobuf bodies the host sends.

mod support;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::nodes::{Node, free_port, sqlite_platform};

const API_KEY: &str = "engine-key-for-the-trace-tests";
const SCOPES: &str = "tweet.read tweet.write users.read offline.access";

/// The engine's own span, as its `traceparent` names it.
const ENGINE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ENGINE_SPAN: &str = "00f067aa0ba902b7";

/// A span as the collector received it, with its service's name.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    fn attribute(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                AnyValue::BoolValue(b) => b.to_string(),
                other => format!("{other:?}"),
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP collector on loopback: `POST /v1/traces` with protobuf
/// bodies, as the OTLP specification has it.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    content_types: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(Collector::export))
            .with_state(collector.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, endpoint)
    }

    async fn export(
        State(collector): State<Collector>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> (StatusCode, [(&'static str, &'static str); 1], Vec<u8>) {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        collector.content_types.lock().unwrap().push(content_type);
        let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "text/plain")],
                Vec::new(),
            );
        };
        let mut spans = collector.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        // An empty ExportTraceServiceResponse: everything was taken.
        (
            StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            Vec::new(),
        )
    }

    fn all(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until a span `matching` has arrived, and gives it.
    async fn span(&self, what: &str, matching: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(span) = self.all().into_iter().find(|s| matching(s)) {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no span {what} came; the collector has: {:#?}",
                self.all()
                    .iter()
                    .map(|s| (
                        s.span.name.clone(),
                        s.trace_id(),
                        s.span_id(),
                        s.parent_id()
                    ))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A workflow engine's webhook endpoint, recording the headers of each
/// delivery.
#[derive(Clone, Default)]
struct Engine {
    received: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Engine {
    async fn start() -> (Engine, String) {
        let engine = Engine::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/x", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route(
                "/hooks/x",
                axum::routing::post(|State(e): State<Engine>, headers: HeaderMap| async move {
                    e.received.lock().unwrap().push(headers);
                    StatusCode::NO_CONTENT
                }),
            )
            .with_state(engine.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (engine, url)
    }

    async fn first(&self) -> HeaderMap {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(headers) = self.received.lock().unwrap().first() {
                return headers.clone();
            }
            assert!(Instant::now() < deadline, "no delivery came");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `ada` connected in a store a traced `serve` node opens, exporting to
/// `collector`.
async fn traced_node(collector: &str) -> (AuthBed, String, Node) {
    let (bed, platform) = sqlite_platform(Some(API_KEY), None).await;
    let connection = bed.connect_oauth2(&bed.oauth2_form(SCOPES), "ada").await;
    let port = free_port();
    let node = Node::start_in(
        "traced",
        &platform,
        port,
        &format!("http://127.0.0.1:{port}"),
        &["--allow-private-targets", "127.0.0.0/8"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
            // Batches leave every 100 ms instead of every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    (bed, connection, node)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engines_request_its_action_and_the_requests_to_x_are_one_trace_under_the_engines_span()
{
    // Arrange: a node exporting to a collector.
    let (collector, endpoint) = Collector::start().await;
    let (bed, connection, node) = traced_node(&endpoint).await;

    // Act: the engine runs an action inside a trace of its own.
    let traceparent = format!("00-{ENGINE_TRACE}-{ENGINE_SPAN}-01");
    let (status, body) = node
        .request_with_headers(
            "POST",
            &format!("/api/v1/connections/{connection}/actions/users.me"),
            Some(json!({})),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Assert: request → action → request to X, each the child of the one
    // before, all in the engine's trace.
    let in_trace = |s: &Received| s.trace_id() == ENGINE_TRACE;
    let request = collector
        .span("for the API request", |s| {
            in_trace(s) && s.span.kind == SpanKind::Server as i32
        })
        .await;
    assert_eq!(
        request.parent_id(),
        ENGINE_SPAN,
        "the engine's span is the parent"
    );
    assert_eq!(
        request.span.name, "POST /api/v1/connections/{id}/actions/{action}",
        "named by the route's template, never by ids"
    );
    assert_eq!(
        request.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(request.service, "host-harness");
    let action = collector
        .span("for the action", |s| {
            in_trace(s) && s.span.name == "action users.me"
        })
        .await;
    assert_eq!(action.parent_id(), request.span_id());
    let to_x = collector
        .span("for the request to X", |s| {
            in_trace(s) && s.span.kind == SpanKind::Client as i32
        })
        .await;
    assert_eq!(to_x.parent_id(), action.span_id());
    assert_eq!(
        to_x.attribute("server.address").as_deref(),
        Some("api.x.com")
    );
    assert_eq!(to_x.attribute("url.path").as_deref(), Some("/2/users/me"));
    assert_eq!(
        to_x.attribute("http.response.status_code").as_deref(),
        Some("200")
    );

    // The engine's trace context is the engine's and the host's: X is not
    // told it, and nothing of the credential reaches the collector.
    assert!(
        bed.x.traffic().iter().all(|e| e
            .request_headers
            .iter()
            .all(|(name, _)| name != "traceparent")),
        "the trace context was sent to X"
    );
    let exported = format!("{:?}", collector.all());
    assert!(
        !exported.contains(API_KEY),
        "the API key reached the collector"
    );
    assert!(!exported.to_lowercase().contains("bearer "));
    assert!(
        collector
            .content_types
            .lock()
            .unwrap()
            .iter()
            .all(|c| c == "application/x-protobuf")
    );
    assert!(
        node.log().contains("Spans are exported over OTLP to"),
        "{}",
        node.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poll_and_the_delivery_of_what_it_found_are_one_trace_the_engine_continues() {
    // Arrange: a traced node, and a subscription to ada's mentions whose
    // events are POSTed to the engine.
    let (collector, endpoint) = Collector::start().await;
    let (engine, url) = Engine::start().await;
    let (bed, connection, node) = traced_node(&endpoint).await;
    let (status, created) = node
        .request(
            "POST",
            &format!("/api/v1/connections/{connection}/subscriptions"),
            Some(json!({"trigger": "mention.new", "target_url": url, "interval_secs": 5})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    // The first poll learns what exists; a mention after it is new.
    collector
        .span("for the first poll", |s| s.span.name == "poll mention.new")
        .await;

    // Act: someone mentions ada.
    bed.x.post_as("grace", "@ada traced");
    let delivered = engine.first().await;

    // Assert: the delivery is the poll's child, and the engine is told the
    // delivery's span to continue from.
    let traceparent = delivered["traceparent"].to_str().unwrap().to_string();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    let (trace, parent) = (parts[1].to_string(), parts[2].to_string());
    let delivery = collector
        .span("for the delivery", |s| s.span_id() == parent)
        .await;
    assert_eq!(delivery.span.name, "delivery");
    assert_eq!(delivery.trace_id(), trace);
    assert_eq!(delivery.attribute("outcome").as_deref(), Some("delivered"));
    let poll = collector
        .span("for the poll that found the mention", |s| {
            s.span_id() == delivery.parent_id()
        })
        .await;
    assert_eq!(poll.span.name, "poll mention.new");
    assert_eq!(poll.trace_id(), trace);
    assert!(
        poll.span.parent_span_id.is_empty(),
        "a poll starts its trace"
    );
    let trigger = collector
        .span("for the connector's poll", |s| {
            s.trace_id() == trace
                && s.span.name == "trigger mention.new"
                && s.parent_id() == poll.span_id()
        })
        .await;
    let to_x = collector
        .span("for the poll's request to X", |s| {
            s.trace_id() == trace && s.parent_id() == trigger.span_id()
        })
        .await;
    assert_eq!(
        to_x.attribute("server.address").as_deref(),
        Some("api.x.com")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agents_tool_call_continues_the_trace_context_in_its_meta() {
    // Arrange: a node exporting to a collector.
    let (collector, endpoint) = Collector::start().await;
    let (_bed, connection, node) = traced_node(&endpoint).await;
    let agent_trace = "0af7651916cd43dd8448eb211c80319c";
    let agent_span = "b7ad6b7169203331";

    // Act: an MCP tool call carrying its trace context in `_meta`, as the
    // protocol has it (SEP-414), where stdio has no header to carry it.
    let (status, body) = node
        .request_with_headers(
            "POST",
            &format!("/mcp?connection={connection}"),
            Some(
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
                "name": "users.me", "arguments": {},
                "_meta": {"traceparent": format!("00-{agent_trace}-{agent_span}-01")}}}),
            ),
            &[
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");

    // Assert: tool call → action → request to X, in the agent's trace.
    let in_trace = |s: &Received| s.trace_id() == agent_trace;
    let call = collector
        .span("for the tool call", |s| {
            in_trace(s) && s.span.name == "tools/call users.me"
        })
        .await;
    assert_eq!(
        call.parent_id(),
        agent_span,
        "the agent's span is the parent"
    );
    let action = collector
        .span("for the action", |s| {
            in_trace(s) && s.span.name == "action users.me"
        })
        .await;
    assert_eq!(action.parent_id(), call.span_id());
    let to_x = collector
        .span("for the request to X", |s| {
            in_trace(s) && s.span.kind == SpanKind::Client as i32
        })
        .await;
    assert_eq!(to_x.parent_id(), action.span_id());
}
