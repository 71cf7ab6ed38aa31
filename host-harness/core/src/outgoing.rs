//! The one place where a component's requests leave the sandbox.
//!
//! [`OutgoingHooks`] implements wasmtime-wasi-http's `WasiHttpHooks`: for
//! each request it applies the connector's [`EgressPolicy`], removes any
//! `Authorization` header the component set, attaches the connection's
//! credentials for API hosts, follows routes, and caps the component's
//! timeouts at the host's.

use crate::credentials::{Authorizer, CredentialError};
use crate::egress::{Decision, EgressPolicy};
use crate::transport::Transport;
use bytes::{Bytes, BytesMut};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The longest a request may take at each stage; a component can ask for
/// shorter, never longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// To open the connection (and finish TLS).
    pub connect: Duration,
    /// From sending the request to the first byte of the answer.
    pub first_byte: Duration,
    /// Between two chunks of the answer's body.
    pub between_bytes: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            between_bytes: Duration::from_secs(30),
        }
    }
}

impl HttpTimeouts {
    /// The component's options, each capped at the host's limit.
    fn cap(&self, asked: Option<RequestOptions>) -> RequestOptions {
        let asked = asked.unwrap_or_default();
        let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
        RequestOptions {
            connect_timeout: cap(asked.connect_timeout, self.connect),
            first_byte_timeout: cap(asked.first_byte_timeout, self.first_byte),
            between_bytes_timeout: cap(asked.between_bytes_timeout, self.between_bytes),
        }
    }
}

/// How much one action may send and receive, whatever the component asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficLimits {
    /// Requests one action may send.
    pub max_requests: u32,
    /// Bytes of request bodies one action may send, all requests together.
    pub max_request_bytes: u64,
    /// Bytes of one response body.
    pub max_response_bytes: u64,
}

impl Default for TrafficLimits {
    fn default() -> Self {
        TrafficLimits {
            // A 512 MB video is 128 segments plus its status polls; a list
            // collected to 1000 items is at most a few dozen pages.
            max_requests: 1000,
            max_request_bytes: 1024 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What happened to an action's requests that the action's result should
/// reflect, whatever the component made of it.
#[derive(Debug, Default, Clone)]
pub struct EgressJournal {
    inner: Arc<Mutex<JournalEntries>>,
}

#[derive(Debug, Default)]
struct JournalEntries {
    refused: Vec<String>,
    credential_failure: Option<CredentialError>,
    requests: u32,
    request_bytes: u64,
    /// The first limit the action ran into: its name and what happened.
    limit_exceeded: Option<(&'static str, String)>,
}

impl EgressJournal {
    /// Destinations refused during the action, with the reason.
    pub fn refused(&self) -> Vec<String> {
        self.inner.lock().unwrap().refused.clone()
    }

    /// Why credentials could not be attached, if they could not.
    pub fn credential_failure(&self) -> Option<CredentialError> {
        self.inner.lock().unwrap().credential_failure.clone()
    }

    /// How many requests left the sandbox.
    pub fn requests(&self) -> u32 {
        self.inner.lock().unwrap().requests
    }

    /// The first of the host's limits the action ran into, if any: the
    /// limit's name (`requests`, `request-bytes`, `response-bytes`) and
    /// what happened.
    pub fn limit_exceeded(&self) -> Option<(&'static str, String)> {
        self.inner.lock().unwrap().limit_exceeded.clone()
    }

    fn exceed(&self, limit: &'static str, detail: String) {
        tracing::warn!(limit, %detail, "an action ran into a host limit");
        let mut inner = self.inner.lock().unwrap();
        inner.limit_exceeded.get_or_insert((limit, detail));
    }

    /// Counts `n` more request body bytes; false once past `max`.
    fn add_request_bytes(&self, n: u64, max: u64) -> bool {
        let mut inner = self.inner.lock().unwrap();
        inner.request_bytes += n;
        inner.request_bytes <= max
    }
}

/// The hooks of one action's store.
pub struct OutgoingHooks {
    transport: Arc<Transport>,
    policy: Arc<EgressPolicy>,
    authorizer: Arc<dyn Authorizer>,
    timeouts: HttpTimeouts,
    limits: TrafficLimits,
    journal: EgressJournal,
}

impl OutgoingHooks {
    pub fn new(
        transport: Arc<Transport>,
        policy: Arc<EgressPolicy>,
        authorizer: Arc<dyn Authorizer>,
        timeouts: HttpTimeouts,
        limits: TrafficLimits,
        journal: EgressJournal,
    ) -> OutgoingHooks {
        OutgoingHooks {
            transport,
            policy,
            authorizer,
            timeouts,
            limits,
            journal,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

impl WasiHttpHooks for OutgoingHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let authorizer = self.authorizer.clone();
        let options = self.timeouts.cap(options);
        let journal = self.journal.clone();
        let limits = self.limits;
        let transport = self.transport.clone();
        // A child of the action's span: the request is sent on a task of its
        // own, which would otherwise lose it. Its path carries ids but no
        // secret; the query (search terms, say) is left out.
        let span = tracing::info_span!(
            "http.request",
            otel.name = %request.method(),
            otel.kind = "client",
            http.request.method = %request.method(),
            server.address = request.uri().host().unwrap_or(""),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        Box::new(
            send(
                transport, policy, authorizer, options, limits, journal, request,
            )
            .instrument(span),
        )
    }
}

async fn send(
    transport: Arc<Transport>,
    policy: Arc<EgressPolicy>,
    authorizer: Arc<dyn Authorizer>,
    options: RequestOptions,
    limits: TrafficLimits,
    journal: EgressJournal,
    request: Request<WasiBody>,
) -> SendResult {
    // Once an action ran into a limit, nothing more leaves the sandbox.
    if journal.limit_exceeded().is_some() {
        return Err(HttpError::HttpRequestDenied);
    }
    let (mut parts, body) = request.into_parts();
    let body = Metered::request(body, journal.clone(), limits.max_request_bytes).boxed_unsync();
    let scheme = parts
        .uri
        .scheme()
        .cloned()
        .unwrap_or(http::uri::Scheme::HTTPS);
    let authority = parts
        .uri
        .authority()
        .cloned()
        .ok_or(HttpError::HttpRequestUriInvalid)?;
    let (credentials, route) = match policy.decide(&scheme, &authority) {
        Decision::Refuse(reason) => {
            tracing::warn!(host = %authority, %reason, "refused a request to a host outside the manifest's egress list");
            journal.inner.lock().unwrap().refused.push(reason);
            host_metrics::metrics().outgoing_refused.inc();
            return Err(HttpError::HttpRequestDenied);
        }
        Decision::Allow { credentials, route } => (credentials, route),
    };
    if parts.headers.remove(AUTHORIZATION).is_some() {
        tracing::warn!(host = %authority, "removed an Authorization header the component set itself");
    }
    let target = Target {
        transport,
        authority,
        route,
        options,
        limits,
        journal,
    };
    if !credentials {
        return target.forward(parts, body).await;
    }

    let used = target.authorize(authorizer.as_ref(), &parts).await?;
    parts.headers.insert(AUTHORIZATION, used.clone());
    // A small body is kept so that, if the API refuses the credential, the
    // request can be sent again with a renewed one.
    let (body, replay) = keep_small_body(body).await?;
    let Some(replay) = replay else {
        return target.forward(parts, body).await;
    };
    let again = copy_head(&parts);
    let (response, io) = target.forward(parts, body).await?;
    if response.status() != http::StatusCode::UNAUTHORIZED {
        return Ok((response, io));
    }
    match authorizer.refused(&used).await {
        Ok(true) => {}
        Ok(false) => return Ok((response, io)),
        Err(e) => {
            target.journal.inner.lock().unwrap().credential_failure = Some(e);
            return Ok((response, io));
        }
    }
    drop((response, io));
    tracing::info!(host = %target.authority, "the API refused the credential; retrying with a renewed one");
    let mut parts = again;
    let renewed = target.authorize(authorizer.as_ref(), &parts).await?;
    parts.headers.insert(AUTHORIZATION, renewed);
    target.forward(parts, full_body(replay)).await
}

/// Where an allowed request goes, and how.
struct Target {
    transport: Arc<Transport>,
    authority: http::uri::Authority,
    route: Option<crate::egress::Origin>,
    options: RequestOptions,
    limits: TrafficLimits,
    journal: EgressJournal,
}

impl Target {
    async fn authorize(
        &self,
        authorizer: &dyn Authorizer,
        parts: &http::request::Parts,
    ) -> Result<HeaderValue, HttpError> {
        authorizer.authorize(parts).await.map_err(|e| {
            tracing::warn!(host = %self.authority, error = %e, "no credentials for the request");
            let message = e.to_string();
            self.journal.inner.lock().unwrap().credential_failure = Some(e);
            HttpError::InternalError(Some(message))
        })
    }

    /// Sends the request, following the route.
    async fn forward(&self, parts: http::request::Parts, body: WasiBody) -> SendResult {
        let sent = {
            let mut inner = self.journal.inner.lock().unwrap();
            inner.requests += 1;
            inner.requests
        };
        if sent > self.limits.max_requests {
            self.journal.exceed(
                "requests",
                format!(
                    "the action sent more than {} requests",
                    self.limits.max_requests
                ),
            );
            return Err(HttpError::HttpRequestDenied);
        }
        tracing::debug!(method = %parts.method, host = %self.authority, path = parts.uri.path(), "request");
        let request = Request::from_parts(parts, body);
        let started = Instant::now();
        let answer = self
            .transport
            .send(request, self.route.as_ref(), &self.options)
            .await;
        // The host is one the manifest lists: a bounded label.
        host_metrics::outgoing_request(
            self.authority.host(),
            answer.as_ref().ok().map(|r| r.status().as_u16()),
            started.elapsed(),
        );
        let response = answer.inspect_err(|e| tracing::debug!(error = ?e, "the request failed"))?;
        // The pool drives its connections itself: nothing is left to await.
        let io = async { Ok(()) };
        tracing::debug!(status = response.status().as_u16(), "answer");
        let span = tracing::Span::current();
        span.record("http.response.status_code", response.status().as_u16());
        if response.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        let max = self.limits.max_response_bytes;
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = declared.filter(|l| *l > max) {
            self.journal.exceed(
                "response-bytes",
                format!("an answer of {length} bytes is larger than the host's {max}"),
            );
            return Err(HttpError::HttpResponseBodySize(Some(length)));
        }
        let journal = self.journal.clone();
        Ok((
            response
                .map(|body| Metered::response(body.boxed_unsync(), journal, max).boxed_unsync()),
            Box::new(io),
        ))
    }
}

/// Bodies up to this size are kept to resend after a credential is renewed.
const REPLAY_LIMIT: usize = 1024 * 1024;

/// Reads `body` up to [`REPLAY_LIMIT`]: a body that ends within it comes
/// back whole, with a copy to resend; a longer one streams on, prefix first.
async fn keep_small_body(mut body: WasiBody) -> Result<(WasiBody, Option<Bytes>), HttpError> {
    let mut kept = BytesMut::new();
    loop {
        match body.frame().await {
            None => {
                let bytes = kept.freeze();
                return Ok((full_body(bytes.clone()), Some(bytes)));
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    kept.extend_from_slice(&data);
                    if kept.len() > REPLAY_LIMIT {
                        return Ok((
                            Prefixed::new(kept.freeze(), None, body).boxed_unsync(),
                            None,
                        ));
                    }
                }
                Err(trailers) => {
                    return Ok((
                        Prefixed::new(kept.freeze(), Some(trailers), body).boxed_unsync(),
                        None,
                    ));
                }
            },
        }
    }
}

fn full_body(bytes: Bytes) -> WasiBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The head of a request, to send it again.
fn copy_head(parts: &http::request::Parts) -> http::request::Parts {
    let mut copy = Request::new(()).into_parts().0;
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy
}

/// A body whose first bytes (and maybe a frame after them) were already read.
struct Prefixed {
    prefix: Option<Bytes>,
    next: Option<http_body::Frame<Bytes>>,
    rest: WasiBody,
}

impl Prefixed {
    fn new(prefix: Bytes, next: Option<http_body::Frame<Bytes>>, rest: WasiBody) -> Prefixed {
        Prefixed {
            prefix: Some(prefix).filter(|p| !p.is_empty()),
            next,
            rest,
        }
    }
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        if let Some(prefix) = self.prefix.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(prefix))));
        }
        if let Some(frame) = self.next.take() {
            return std::task::Poll::Ready(Some(Ok(frame)));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }
}

/// A body that counts its bytes against a limit and fails past it.
struct Metered {
    inner: WasiBody,
    journal: EgressJournal,
    max: u64,
    /// Bytes of this body so far (for a response).
    seen: u64,
    request: bool,
}

impl Metered {
    /// A request body, counted with the action's other requests.
    fn request(inner: WasiBody, journal: EgressJournal, max: u64) -> Metered {
        Metered {
            inner,
            journal,
            max,
            seen: 0,
            request: true,
        }
    }

    /// A response body, counted alone.
    fn response(inner: WasiBody, journal: EgressJournal, max: u64) -> Metered {
        Metered {
            inner,
            journal,
            max,
            seen: 0,
            request: false,
        }
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let n = data.len() as u64;
            let max = self.max;
            if self.request {
                if !self.journal.add_request_bytes(n, max) {
                    self.journal.exceed(
                        "request-bytes",
                        format!("the action sent more than {max} bytes of request bodies"),
                    );
                    return std::task::Poll::Ready(Some(Err(HttpError::HttpRequestBodySize(None))));
                }
            } else {
                self.seen += n;
                if self.seen > max {
                    self.journal.exceed(
                        "response-bytes",
                        format!("an answer is larger than the host's {max} bytes"),
                    );
                    return std::task::Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(
                        Some(self.seen),
                    ))));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_cannot_ask_for_longer_timeouts_than_the_host_allows() {
        let host = HttpTimeouts::default();
        let capped = host.cap(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        }));
        assert_eq!(capped.connect_timeout, Some(host.connect));
        assert_eq!(capped.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(capped.between_bytes_timeout, Some(host.between_bytes));
    }
}
