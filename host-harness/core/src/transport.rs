//! How the host's requests reach the network: one pooled HTTP client,
//! shared by every action and by the host's own token and sign-in requests.
//!
//! Connections are kept alive and reused, over HTTP/2 where the server
//! offers it by ALPN (X does), so a paged read or a segmented upload pays
//! one TCP and TLS handshake rather than one per request. TLS (rustls)
//! trusts the platform's roots and, when the operator names one
//! (`--ca-cert`, `HOST_HARNESS_CA_CERT`), an extra CA: a test CA, or a
//! corporate proxy's. A pooled connection carries nothing of one action
//! into another: each request is its own headers and body, and the client
//! keeps no cookies.
//!
//! A route (the emulator, a proxy) is followed without changing what the
//! request names. An `https` route is reached at the route's address while
//! TLS and `Host` keep the API's name (SNI, the certificate checked); an
//! `http` route, a loopback emulator, gets the request in plain text with
//! `Host` kept. The egress hook decides beforehand which requests may go at
//! all and which carry credentials.

use crate::proxy::ProxyPolicy;
use crate::target_guard::{TargetError, TargetGuard};
use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The environment variable naming a PEM file of extra CA certificates.
pub const CA_CERT_ENV: &str = "HOST_HARNESS_CA_CERT";

/// How long an unused connection stays in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 16;

/// Connections open at once to one origin, idle or busy. Over HTTP/2 (X)
/// one connection carries every concurrent request; the bound matters for
/// an HTTP/1.1 server, where each request in flight holds a connection: a
/// burst of actions waits for a connection rather than opening hundreds.
const MAX_CONNECTIONS_PER_ORIGIN: usize = 32;

/// The longest a new connection may take to open, TLS included, whatever a
/// request allows.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a transport could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read the CA certificate file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the CA certificate file {path} holds no certificate the host can use")]
    NoCertificate { path: String },
}

type Https = hyper_rustls::HttpsConnector<ProxyConnector>;
type Connector = Watched;

/// The pooled client, and the routes its resolver follows.
pub struct Transport {
    /// Made on the first request, so that a process that sends none (a
    /// listing of the actions, say) does not read the platform's roots.
    client: OnceLock<Client<Connector, WasiBody>>,
    routes: Arc<RwLock<HashMap<String, String>>>,
    extra: Vec<CertificateDer<'static>>,
    reuse: bool,
    max_connections_per_origin: usize,
    /// When set, the transport carries requests to URLs a user gave: it
    /// follows no route and connects only to addresses the guard allows,
    /// checked as they are resolved.
    guard: Option<Arc<TargetGuard>>,
    /// The forward proxy requests go through, if any.
    proxy: Option<Arc<ProxyPolicy>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("extra_cas", &self.extra.len())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// The process's transport: the platform's roots, and the CA file
    /// `HOST_HARNESS_CA_CERT` names, if any. Made on first use.
    pub fn shared() -> Arc<Transport> {
        static SHARED: OnceLock<Arc<Transport>> = OnceLock::new();
        SHARED
            .get_or_init(|| Arc::new(Transport::with_extra_cas(env_extra_cas())))
            .clone()
    }

    /// A transport for URLs users give (trigger deliveries): the same
    /// roots as [`Transport::shared`], no routes, and every address it
    /// connects to held to `guard`.
    pub fn for_user_urls(guard: TargetGuard) -> Transport {
        let mut transport = Transport::with_extra_cas(env_extra_cas());
        transport.guard = Some(Arc::new(guard));
        transport
    }

    /// A transport that also trusts the CA certificates of a PEM file.
    pub fn with_ca_file(path: &Path) -> Result<Transport, TransportError> {
        Ok(Transport::with_extra_cas(read_ca_file(path)?))
    }

    /// A transport that also trusts the CA certificates of PEM text.
    pub fn with_ca_pem(pem: &[u8]) -> Result<Transport, TransportError> {
        let certs = parse_pem(pem).map_err(|reason| TransportError::CaFile {
            path: "(PEM text)".into(),
            reason,
        })?;
        Ok(Transport::with_extra_cas(certs))
    }

    /// A transport that trusts the platform's roots only.
    pub fn platform() -> Transport {
        Transport::with_extra_cas(Vec::new())
    }

    fn with_extra_cas(extra: Vec<CertificateDer<'static>>) -> Transport {
        Transport {
            client: OnceLock::new(),
            routes: Arc::new(RwLock::new(HashMap::new())),
            extra,
            reuse: true,
            max_connections_per_origin: MAX_CONNECTIONS_PER_ORIGIN,
            guard: None,
            proxy: crate::proxy::process_proxy(),
        }
    }

    /// The same transport through `proxy` (or with none), whatever the
    /// environment says.
    pub fn with_proxy(mut self, proxy: Option<ProxyPolicy>) -> Transport {
        self.proxy = proxy.map(Arc::new);
        self
    }

    /// The proxy this transport's requests go through, if any.
    pub fn proxy(&self) -> Option<&ProxyPolicy> {
        self.proxy.as_deref()
    }

    /// The same transport, opening a new connection for every request and
    /// closing it after the answer: what a host without a pool pays, for
    /// comparison in the benches.
    pub fn without_reuse(mut self) -> Transport {
        self.reuse = false;
        self
    }

    /// The same transport, with at most `n` connections (at least one)
    /// open at once to one origin; a request finding them all busy waits
    /// for one to be free, within its first-byte timeout.
    pub fn with_max_connections_per_origin(mut self, n: usize) -> Transport {
        self.max_connections_per_origin = n.max(1);
        self
    }

    /// The pooled client, made on first use.
    fn client(&self) -> &Client<Connector, WasiBody> {
        self.client.get_or_init(|| self.build_client())
    }

    fn build_client(&self) -> Client<Connector, WasiBody> {
        let mut roots = platform_roots().clone();
        for cert in self.extra.iter().cloned() {
            if let Err(e) = roots.add(cert) {
                tracing::warn!(error = %e, "an extra CA certificate was not usable");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(RouteResolver {
            routes: self.routes.clone(),
            guard: self.guard.clone(),
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        // The proxy itself is reached as the system resolves it, never held
        // to the guard: it is the operator's, not a user's.
        let mut to_proxy = HttpConnector::new();
        to_proxy.enforce_http(false);
        to_proxy.set_connect_timeout(Some(CONNECT_TIMEOUT));
        to_proxy.set_nodelay(true);
        let http = ProxyConnector {
            direct: http,
            to_proxy,
            proxy: self.proxy.clone(),
            routes: self.routes.clone(),
            guard: self.guard.clone(),
        };
        let connector = Watched {
            inner: hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http),
            slots: Arc::new(OriginSlots {
                per_origin: self.max_connections_per_origin,
                origins: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        let idle = if self.reuse { MAX_IDLE_PER_ORIGIN } else { 0 };
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(idle)
            .build(connector)
    }

    /// Sends `request` to its URL, or along `route`, within `options`'
    /// timeouts, and gives the answer with its body still streaming.
    pub async fn send(
        &self,
        request: Request<WasiBody>,
        route: Option<&crate::egress::Origin>,
        options: &RequestOptions,
    ) -> Result<Response<WasiBody>, HttpError> {
        let (mut parts, body) = request.into_parts();
        let authority = parts
            .uri
            .authority()
            .cloned()
            .ok_or(HttpError::HttpRequestUriInvalid)?;
        if let Some(guard) = &self.guard {
            // An address written in the URL is connected to without the
            // resolver: it is checked here instead.
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            if let Ok(address) = host.parse::<std::net::IpAddr>()
                && guard.check_address(address).is_err()
            {
                return Err(HttpError::DestinationIpProhibited);
            }
        } else if let Some(origin) = route {
            parts.uri = self.routed(&parts.uri, &authority, origin)?;
        }
        // Like a proxy, a route keeps the Host the request named.
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(http::header::HOST, host);
        }
        // A plain-text request a proxy forwards carries the proxy's
        // credentials itself; a tunnel's CONNECT carries them otherwise.
        if parts.uri.scheme() == Some(&Scheme::HTTP)
            && let Some(auth) = self
                .proxy
                .as_ref()
                .and_then(|p| p.intercept(&parts.uri))
                .as_ref()
                .and_then(crate::proxy::authorization)
        {
            parts
                .headers
                .insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        let connect = options
            .connect_timeout
            .unwrap_or(CONNECT_TIMEOUT)
            .min(CONNECT_TIMEOUT);
        let first_byte = options
            .first_byte_timeout
            .unwrap_or(Duration::from_secs(600));
        let between_bytes = options
            .between_bytes_timeout
            .unwrap_or(Duration::from_secs(600))
            .max(Duration::from_nanos(1));
        let request = Request::from_parts(parts, body);
        let phase = Arc::new(std::sync::Mutex::new(Phase::default()));
        let answer = PHASE.scope(phase.clone(), self.client().request(request));
        let response = tokio::select! {
            answer = answer => answer.map_err(|e| classify(&e))?,
            late = watchdog(phase, connect, first_byte) => return Err(late),
        };
        let mut timer = tokio::time::interval(between_bytes);
        timer.reset();
        Ok(response.map(|incoming| TimedBody { incoming, timer }.boxed_unsync()))
    }

    /// The URL a request takes along `origin`: an `https` route keeps the
    /// API's name, at the route's port, and the resolver sends that name to
    /// the route's host; an `http` route is addressed directly.
    fn routed(
        &self,
        uri: &Uri,
        authority: &Authority,
        origin: &crate::egress::Origin,
    ) -> Result<Uri, HttpError> {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = if origin.scheme == Scheme::HTTPS {
            let port = origin.authority.port_u16().unwrap_or(443);
            let (name, route_host) = (
                authority.host().to_ascii_lowercase(),
                origin.authority.host(),
            );
            // Every request of a routed host takes this path: write only
            // when the route is new.
            let known =
                self.routes.read().unwrap().get(&name).map(String::as_str) == Some(route_host);
            if !known {
                self.routes
                    .write()
                    .unwrap()
                    .insert(name, route_host.to_string());
            }
            format!("{}:{port}", authority.host())
        } else {
            origin.authority.to_string()
        };
        Uri::builder()
            .scheme(origin.scheme.clone())
            .authority(target)
            .path_and_query(path)
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)
    }
}

/// Where a request stands on its way to an answer: whether it opened a
/// connection (a pooled one needs none), and when that was done.
#[derive(Debug, Default, Clone, Copy)]
struct Phase {
    connecting: bool,
    connected_at: Option<std::time::Instant>,
}

tokio::task_local! {
    /// The phase of the request this task is sending, which the connector
    /// updates when it opens a connection for it.
    static PHASE: Arc<std::sync::Mutex<Phase>>;
}

/// Ends when the request is late: its new connection not open within
/// `connect`, or no answer `first_byte` after the connection was ready (a
/// pooled connection being ready at once).
async fn watchdog(
    phase: Arc<std::sync::Mutex<Phase>>,
    connect: Duration,
    first_byte: Duration,
) -> HttpError {
    let start = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        let state = *phase.lock().unwrap();
        let (deadline, late) = match state {
            Phase {
                connecting: true,
                connected_at: None,
            } => (start + connect, HttpError::ConnectionTimeout),
            Phase {
                connected_at: Some(at),
                ..
            } => (
                tokio::time::Instant::from_std(at) + first_byte,
                HttpError::ConnectionReadTimeout,
            ),
            Phase { .. } => (start + first_byte, HttpError::ConnectionReadTimeout),
        };
        if now >= deadline {
            return late;
        }
        // The phase can change while waiting: look again soon.
        tokio::time::sleep((deadline - now).min(Duration::from_millis(20))).await;
    }
}

/// The HTTPS connector, noting in the sending task's [`PHASE`] when it
/// opens a connection and when the connection is ready, and holding each
/// connection to its origin's bound.
#[derive(Clone)]
struct Watched {
    inner: Https,
    slots: Arc<OriginSlots>,
}

/// How many more connections each origin may have open.
struct OriginSlots {
    per_origin: usize,
    origins: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl OriginSlots {
    fn of(&self, uri: &Uri) -> Arc<Semaphore> {
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        self.origins
            .lock()
            .unwrap()
            .entry(origin)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_origin)))
            .clone()
    }
}

impl tower_service::Service<Uri> for Watched {
    type Response = Bounded<<Https as tower_service::Service<Uri>>::Response>;
    type Error = <Https as tower_service::Service<Uri>>::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let phase = PHASE.try_with(Arc::clone).ok();
        let slots = self.slots.of(&uri);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            // Waiting for a free slot is waiting for the answer (the
            // first-byte timeout), not connecting: a pooled connection
            // freed meanwhile takes the request instead.
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            if let Some(phase) = &phase {
                phase.lock().unwrap().connecting = true;
            }
            let connected = inner.call(uri).await;
            if let Some(phase) = phase {
                phase.lock().unwrap().connected_at = Some(std::time::Instant::now());
            }
            Ok(With {
                io: connected?,
                attached: permit,
            })
        })
    }
}

/// A connection with something attached that lives as long as it does;
/// reads and writes are the connection's own.
struct With<T, A> {
    io: T,
    attached: A,
}

/// A connection holding its origin's slot until it is closed.
type Bounded<T> = With<T, OwnedSemaphorePermit>;

impl<T: hyper::rt::Read + Unpin, A: Unpin> hyper::rt::Read for With<T, A> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin, A: Unpin> hyper::rt::Write for With<T, A> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

impl<T: hyper_util::client::legacy::connect::Connection>
    hyper_util::client::legacy::connect::Connection for Bounded<T>
{
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.io.connected()
    }
}

/// The platform's trusted roots, read once per process; Mozilla's set
/// where the platform has none (a minimal container).
fn platform_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(native_certificates());
        if added == 0 {
            tracing::warn!("the platform lists no trusted roots; trusting Mozilla's set instead");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// The platform's certificates: its bundle file alone where it has one
/// (`SSL_CERT_FILE`, or where OpenSSL keeps it), else its certificate
/// directory. The directory beside a bundle holds the same roots again, a
/// file each, which OpenSSL opens only when a chain needs one; rustls
/// cannot look them up lazily, and reading all of them (280 files on
/// Debian) was a quarter of a warm start's CPU time. A root kept only in
/// the directory is trusted when named with `--ca-cert`.
fn native_certificates() -> Vec<CertificateDer<'static>> {
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| openssl_probe::probe().cert_file);
    if let Some(bundle) = bundle {
        let found = rustls_native_certs::load_certs_from_paths(Some(&bundle), None);
        if !found.certs.is_empty() {
            return found.certs;
        }
    }
    rustls_native_certs::load_native_certs().certs
}

/// The CA certificates `HOST_HARNESS_CA_CERT` names, if any.
fn env_extra_cas() -> Vec<CertificateDer<'static>> {
    match std::env::var_os(CA_CERT_ENV) {
        Some(path) => match read_ca_file(Path::new(&path)) {
            Ok(certs) => certs,
            Err(e) => {
                tracing::error!(error = %e, "{CA_CERT_ENV} is set, and its CA is not trusted");
                Vec::new()
            }
        },
        None => Vec::new(),
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| TransportError::CaFile {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let certs = parse_pem(&pem).map_err(|reason| TransportError::CaFile {
        path: shown.clone(),
        reason,
    })?;
    if certs.is_empty() {
        return Err(TransportError::NoCertificate { path: shown });
    }
    Ok(certs)
}

fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Names the failure the way `wasi:http` does, so that a component can
/// tell a certificate it cannot trust from a server that is down.
fn classify(error: &hyper_util::client::legacy::Error) -> HttpError {
    // The connector boxes its errors, which hides rustls's type from
    // `downcast_ref`; its wording still names a certificate. Each error of
    // the chain is looked at by type where it shows one, and by text.
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<TargetError>().is_some())
            {
                return HttpError::DestinationIpProhibited;
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return HttpError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return HttpError::ConnectionTimeout,
                _ => {}
            }
        }
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return HttpError::HttpResponseTimeout;
        }
        text.push_str(&e.to_string());
        text.push_str(": ");
        source = e.source();
    }
    if text.contains("invalid peer certificate") {
        return HttpError::TlsCertificateError;
    }
    if text.contains("received fatal alert") || text.contains("tls") {
        return HttpError::TlsProtocolError;
    }
    if error.is_connect() {
        if text.contains("dns") {
            return HttpError::DnsError {
                rcode: Some(text),
                info_code: None,
            };
        }
        return HttpError::ConnectionRefused;
    }
    HttpError::InternalError(Some(error.to_string()))
}

/// An answer's body whose reads time out when the server goes quiet
/// between two chunks.
struct TimedBody {
    incoming: hyper::body::Incoming,
    timer: tokio::time::Interval,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timer.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.timer.poll_tick(cx) {
                Poll::Ready(_) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// Resolves names as the system does, except a name an `https` route was
/// given for, which resolves to the route's host; with a guard, a name
/// resolves to its addresses only when the guard allows every one.
#[derive(Clone)]
struct RouteResolver {
    routes: Arc<RwLock<HashMap<String, String>>>,
    guard: Option<Arc<TargetGuard>>,
}

impl tower_service::Service<Name> for RouteResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(guard) = self.guard.clone() {
            return Box::pin(async move { Ok(guard.resolve(name.as_str(), 0).await?.into_iter()) });
        }
        let target = self
            .routes
            .read()
            .unwrap()
            .get(&name.as_str().to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| name.as_str().to_string());
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), 0))
                .await?
                .collect();
            Ok(found.into_iter())
        })
    }
}

/// Opens the TCP connection a request goes over: straight to its
/// destination (through the routes and the guard), or through the proxy,
/// tunnelled with `CONNECT` for `https` and to the proxy itself for a
/// plain-text request it forwards.
#[derive(Clone)]
struct ProxyConnector {
    direct: HttpConnector<RouteResolver>,
    to_proxy: HttpConnector,
    proxy: Option<Arc<ProxyPolicy>>,
    routes: Arc<RwLock<HashMap<String, String>>>,
    guard: Option<Arc<TargetGuard>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The longest `CONNECT` answer head read from a proxy.
const MAX_CONNECT_ANSWER: usize = 8 * 1024;

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = ProxiedIo;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxiedIo, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let direct = |connector: &mut HttpConnector<RouteResolver>, uri: Uri| -> Self::Future {
            let connecting = connector.call(uri);
            Box::pin(async move {
                Ok(With {
                    io: connecting.await?,
                    attached: Forwarded(false),
                })
            })
        };
        let Some(proxy) = self.proxy.clone() else {
            return direct(&mut self.direct, uri);
        };
        // The host a routed name is sent to, looked up once: NO_PROXY is
        // held to it as well as to the name, and a tunnel goes to it.
        let route = uri.host().and_then(|host| {
            self.routes
                .read()
                .unwrap()
                .get(&host.to_ascii_lowercase())
                .cloned()
        });
        let route_bypasses = route.as_ref().is_some_and(|route| {
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{route}{port}/", uri.scheme_str().unwrap_or("https"))
                .parse::<Uri>()
                .is_ok_and(|routed| proxy.intercept(&routed).is_none())
        });
        let intercept = proxy.intercept(&uri).filter(|_| !route_bypasses);
        let Some(intercept) = intercept else {
            return direct(&mut self.direct, uri);
        };
        let mut to_proxy = self.to_proxy.clone();
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or("the request names no host")?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            // The destination the proxy is asked for: a user's URL by the
            // address the guard allowed (so the proxy cannot be sent to one
            // it refuses), a routed API host by its route.
            let target = match &guard {
                Some(guard) => {
                    let allowed = guard.resolve(&host, port).await?;
                    let address = allowed.first().ok_or("the name has no address")?;
                    address.to_string()
                }
                None => match route {
                    Some(route) if route.contains(':') => format!("[{route}]:{port}"),
                    Some(route) => format!("{route}:{port}"),
                    None if host.contains(':') => format!("[{host}]:{port}"),
                    None => format!("{host}:{port}"),
                },
            };
            let mut io = to_proxy.call(intercept.uri().clone()).await?;
            if !https {
                return Ok(With {
                    io,
                    attached: Forwarded(true),
                });
            }
            tunnel(
                io.inner_mut(),
                &target,
                crate::proxy::authorization(&intercept),
            )
            .await?;
            Ok(With {
                io,
                attached: Forwarded(false),
            })
        })
    }
}

/// Asks the proxy on `stream` for a tunnel to `target` (`host:port`).
async fn tunnel(
    stream: &mut tokio::net::TcpStream,
    target: &str,
    auth: Option<HeaderValue>,
) -> Result<(), BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = auth {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head).await?;
    // Byte by byte up to the blank line: whatever follows is the tunnel's.
    let mut answer = Vec::with_capacity(256);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_CONNECT_ANSWER {
            return Err("the proxy's answer to CONNECT is too long".into());
        }
        let byte = stream.read_u8().await.map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                format!("the proxy closed the connection before answering CONNECT: {e}"),
            )
        })?;
        answer.push(byte);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status.len() == 3 && status.starts_with('2') {
        Ok(())
    } else {
        // The request fails as refused; the operator learns why here.
        tracing::warn!(
            target,
            answer = status_line.trim(),
            "the proxy refused a tunnel"
        );
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!(
                "the proxy refused a tunnel to {target}: {}",
                status_line.trim()
            ),
        )
        .into())
    }
}

/// Whether a connection goes to the proxy for it to forward the request,
/// which tells the client to send absolute URLs.
struct Forwarded(bool);

/// A connection to a destination, or through a proxy.
type ProxiedIo = With<hyper_util::rt::TokioIo<tokio::net::TcpStream>, Forwarded>;

impl hyper_util::client::legacy::connect::Connection for ProxiedIo {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.io.connected().proxy(self.attached.0)
    }
}
