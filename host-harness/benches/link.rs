//! The network path on a realistic link: every round trip between the host
//! and X costs a fixed delay (20 ms by default), so that TCP and TLS
//! handshakes cost what they do over the internet, and reusing connections
//! shows.
//!
//! The emulator serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN, a certificate
//! from a CA made at start) behind a TCP relay that holds each segment
//! half a round trip in each direction and a new connection one round trip
//! before its first byte moves (the TCP handshake). Four clients make the
//! same X API calls through it, side by side, rounds interleaved:
//!
//! - the X connector component with the host's pooled transport, kept
//!   across actions, as a long-lived platform process has it;
//! - the component with a fresh pool for each action, as a
//!   `host-harness run` process has it (reuse within the action only);
//! - the component with no reuse: a new connection, TCP and TLS, for every
//!   request, as `wasi:http`'s default sender does;
//! - a native Rust client (hyper with rustls, HTTP/2, keep-alive), the
//!   same calls without the component.
//!
//! Workloads: `users.me`; `timeline.user` over 5 pages; `media.upload` of a
//! 20 MB video (initialize, five 4 MiB appends, finalize).
//!
//! `cargo bench -p host-harness --bench link` (results on stdout;
//! `BENCH_RTT_MS` sets the round trip, default 20; `BENCH_ROUNDS` the
//! rounds, default 15, a third of them for the upload).

mod support;

use bytes::Bytes;
use host_harness::transport::Transport;
use host_harness::{
    Connection, ConnectionFacts, HostConfig, LoadedConnector, Origin, RunOptions,
    manifest::AuthKind,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use secrecy::SecretString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use x_emulator::{Emulator, Endpoint, MediaProcessing};

const MIB: usize = 1024 * 1024;
const VIDEO: u64 = 20 * MIB as u64;
const SEGMENT: usize = 4 * MIB;
const POSTS_PER_PAGE: usize = 20;
const PAGES: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(compare());
}

/// One of the four clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Pooled,
    FreshPoolPerAction,
    NoReuse,
    Native,
}

const SIDES: [Side; 4] = [
    Side::Pooled,
    Side::FreshPoolPerAction,
    Side::NoReuse,
    Side::Native,
];

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Pooled => "component, pooled across actions",
            Side::FreshPoolPerAction => "component, a pool per action (`run`)",
            Side::NoReuse => "component, no reuse",
            Side::Native => "native client, keep-alive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    UsersMe,
    Timeline,
    Upload,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::UsersMe => "users.me",
            Workload::Timeline => "timeline.user, 5 pages",
            Workload::Upload => "media.upload, 20 MB",
        }
    }
}

/// What every side needs: the emulator behind the delayed link, the
/// account, and the component once loaded.
struct Bench {
    x: Emulator,
    ca: String,
    route: Origin,
    connection: Connection,
    token: String,
    component: LoadedConnector,
    pooled: LoadedConnector,
    no_reuse: LoadedConnector,
    native: Native,
    files: tempfile::TempDir,
}

async fn compare() {
    let rtt = Duration::from_millis(support::env_number("BENCH_RTT_MS", 20) as u64);
    let rounds = support::env_number("BENCH_ROUNDS", 15);

    let x = Emulator::start_tls().await.unwrap();
    for endpoint in [
        Endpoint::UsersMe,
        Endpoint::UserPosts,
        Endpoint::MediaInitialize,
        Endpoint::MediaAppend,
        Endpoint::MediaFinalize,
        Endpoint::MediaStatus,
    ] {
        x.set_rate_limit(endpoint, u32::MAX);
    }
    x.set_media_processing(MediaProcessing {
        polls: 0,
        check_after_secs: 0,
        fail: None,
    });
    x.add_numbered_posts("ada", POSTS_PER_PAGE * PAGES + 10);
    let token = x.issue_user_token(
        "ada",
        &["tweet.read", "users.read", "media.write", "offline.access"],
    );
    let upstream: SocketAddr = x.authority().parse().unwrap();
    let link_port = delayed_link(upstream, rtt).await;
    let route = Origin::parse(&format!("https://127.0.0.1:{link_port}")).unwrap();
    let ca = x.ca_pem().unwrap().to_string();
    let facts = ConnectionFacts {
        id: "bench".into(),
        auth_kind: AuthKind::BearerToken,
        granted_scopes: None,
        account_id: x.user_id("ada"),
        account_facts: Default::default(),
    };
    let connection = Connection::bearer(facts, SecretString::from(token.clone()));
    let files = tempfile::tempdir().unwrap();
    support::write_video(&files.path().join("video.mp4"), VIDEO);

    let component = support::x_connector().await;
    let mut bench = Bench {
        pooled: on_link(&component, transport(&ca), &route),
        no_reuse: on_link(&component, transport(&ca).without_reuse(), &route),
        native: Native::new(&ca, link_port),
        component,
        x,
        ca,
        route,
        connection,
        token,
        files,
    };

    println!(
        "delayed link: {} ms per round trip, {} rounds ({} for the upload), medians",
        rtt.as_millis(),
        rounds,
        rounds.div_ceil(3)
    );
    for workload in [Workload::UsersMe, Workload::Timeline, Workload::Upload] {
        let rounds = if workload == Workload::Upload {
            rounds.div_ceil(3)
        } else {
            rounds
        };
        // One unmeasured run of each side: the pools are warm, the
        // native side learns the component's requests.
        let calls = bench.component_calls(workload).await;
        for side in SIDES {
            bench.run(side, workload, &calls).await;
        }
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); SIDES.len()];
        let mut opened = vec![0usize; SIDES.len()];
        for round in 0..rounds {
            // Rotate which side goes first.
            for i in 0..SIDES.len() {
                let index = (i + round) % SIDES.len();
                let before = bench.x.tls_connections().len();
                let took = bench.run(SIDES[index], workload, &calls).await;
                opened[index] += bench.x.tls_connections().len() - before;
                times[index].push(took);
            }
        }
        println!("\n{} ({} requests)", workload.label(), calls.len());
        let native = median(&times[3]);
        for (index, side) in SIDES.iter().enumerate() {
            let took = median(&times[index]);
            println!(
                "   {:40} {:9.1} ms   {:5.2}x native   {:5.1} new connections per action",
                side.label(),
                ms(took),
                took.as_secs_f64() / native.as_secs_f64(),
                opened[index] as f64 / rounds as f64
            );
        }
    }
}

impl Bench {
    /// Runs `workload` once on `side`, and how long it took.
    async fn run(&mut self, side: Side, workload: Workload, calls: &[Call]) -> Duration {
        let started = Instant::now();
        match side {
            Side::Pooled => self.invoke(&self.pooled, workload).await,
            Side::NoReuse => self.invoke(&self.no_reuse, workload).await,
            Side::FreshPoolPerAction => {
                let fresh = on_link(&self.component, transport(&self.ca), &self.route);
                self.invoke(&fresh, workload).await
            }
            Side::Native => {
                if workload == Workload::Upload {
                    self.native
                        .upload(&self.token, &self.files.path().join("video.mp4"))
                        .await
                } else {
                    for call in calls {
                        self.native.get(&self.token, &call.path_and_query).await;
                    }
                }
            }
        }
        started.elapsed()
    }

    async fn invoke(&self, connector: &LoadedConnector, workload: Workload) {
        let (action, input) = match workload {
            Workload::UsersMe => ("users.me", "{}".to_string()),
            Workload::Timeline => (
                "timeline.user",
                format!(
                    r#"{{"max_results": {POSTS_PER_PAGE}, "limit": {}}}"#,
                    POSTS_PER_PAGE * PAGES
                ),
            ),
            Workload::Upload => (
                "media.upload",
                r#"{"file": "video.mp4", "media_category": "tweet_video"}"#.to_string(),
            ),
        };
        let options = RunOptions {
            files: Some(self.files.path().to_path_buf()),
            progress: None,
        };
        let output = connector
            .invoke_with(&self.connection, action, &input, &options)
            .await
            .unwrap_or_else(|e| panic!("{action}: {e:?}"));
        if workload == Workload::Timeline {
            assert_eq!(
                output["posts"].as_array().unwrap().len(),
                POSTS_PER_PAGE * PAGES
            );
        }
    }

    /// The requests the component makes for `workload`, as the emulator
    /// saw them.
    async fn component_calls(&mut self, workload: Workload) -> Vec<Call> {
        let before = self.x.traffic().len();
        self.invoke(&self.pooled, workload).await;
        self.x.traffic()[before..]
            .iter()
            .map(|exchange| Call {
                path_and_query: match &exchange.query {
                    Some(query) => format!("{}?{query}", exchange.path),
                    None => exchange.path.clone(),
                },
            })
            .collect()
    }
}

/// One request of an action, for the native side to repeat.
struct Call {
    path_and_query: String,
}

/// A transport trusting the emulator's CA.
fn transport(ca: &str) -> Transport {
    Transport::with_ca_pem(ca.as_bytes()).unwrap()
}

/// `component` on `transport`, its API hosts routed through the link.
fn on_link(component: &LoadedConnector, transport: Transport, route: &Origin) -> LoadedConnector {
    let mut connector = component.clone().with_config(HostConfig {
        transport: Arc::new(transport),
        ..HostConfig::default()
    });
    connector.route_api_hosts(route);
    connector
}

/// The native side: hyper with rustls, HTTP/2 by ALPN, connections kept.
struct Native {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, Full<Bytes>>,
    base: String,
}

impl Native {
    fn new(ca: &str, port: u16) -> Native {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(Loopback);
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Native {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(https),
            base: format!("https://api.x.com:{port}"),
        }
    }

    async fn send(&self, request: http::request::Builder, body: Bytes) -> serde_json::Value {
        let request = request.header("host", "api.x.com").body(Full::new(body));
        let response = self.client.request(request.unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(status.is_success(), "{status}: {bytes:?}");
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn get(&self, token: &str, path_and_query: &str) -> serde_json::Value {
        self.send(
            http::Request::get(format!("{}{path_and_query}", self.base))
                .header("authorization", format!("Bearer {token}")),
            Bytes::new(),
        )
        .await
    }

    async fn post(
        &self,
        token: &str,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> serde_json::Value {
        self.send(
            http::Request::post(format!("{}{path}", self.base))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", content_type),
            body,
        )
        .await
    }

    /// The calls the component makes for a video: initialize, multipart
    /// appends of 4 MiB, finalize, status until processed (at the first
    /// look here).
    async fn upload(&self, token: &str, path: &Path) {
        let video = std::fs::read(path).unwrap();
        let init = self
            .post(
                token,
                "/2/media/upload/initialize",
                "application/json",
                Bytes::from(
                    serde_json::json!({
                        "total_bytes": video.len(),
                        "media_type": "video/mp4",
                        "media_category": "tweet_video"
                    })
                    .to_string(),
                ),
            )
            .await;
        let id = init["data"]["id"].as_str().unwrap().to_string();
        for (index, segment) in video.chunks(SEGMENT).enumerate() {
            let boundary = format!("native-{id}-{index}");
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"segment_index\"\r\n\r\n{index}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"segment-{index}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(segment);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            self.post(
                token,
                &format!("/2/media/upload/{id}/append"),
                &format!("multipart/form-data; boundary={boundary}"),
                Bytes::from(body),
            )
            .await;
        }
        let done = self
            .post(
                token,
                &format!("/2/media/upload/{id}/finalize"),
                "application/json",
                Bytes::new(),
            )
            .await;
        // Processing: look at the status until it is done, as the
        // component does.
        let mut answer = done;
        loop {
            match answer["data"]["processing_info"]["state"].as_str() {
                None | Some("succeeded") => break,
                Some("failed") => panic!("processing failed: {answer}"),
                Some(_) => {}
            }
            answer = self
                .get(
                    token,
                    &format!("/2/media/upload?media_id={id}&command=STATUS"),
                )
                .await;
        }
    }
}

/// Resolves every name to loopback: the link's port is in the URL.
#[derive(Clone)]
struct Loopback;

impl tower_service::Service<Name> for Loopback {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _name: Name) -> Self::Future {
        Box::pin(async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter()) })
    }
}

/// A TCP relay to `upstream` on a loopback port: each connection waits one
/// round trip before its first byte moves (the TCP handshake), and every
/// segment arrives half a round trip after it was sent, in each direction.
/// Bandwidth is not limited: only latency is modelled.
async fn delayed_link(upstream: SocketAddr, rtt: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                tokio::time::sleep(rtt).await;
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::join!(
                    carry(client_read, server_write, rtt / 2),
                    carry(server_read, client_write, rtt / 2)
                );
            });
        }
    });
    port
}

/// Moves bytes one way, each read delivered `delay` after it was read.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reading = async move {
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = tokio::time::Instant::now() + delay;
                    if tx.send((due, buffer[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writing = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
