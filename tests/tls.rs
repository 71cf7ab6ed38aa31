//! A platform reaches X over HTTPS: the emulator serves TLS with a
//! certificate from a CA made for the test, the host trusts that CA only
//! when told, routed requests keep `api.x.com` as their TLS name and
//! `Host`, connections are reused over HTTP/2, and the host's own token
//! requests go the same way.

mod support;

use credential_store::{MasterKey, Store, StoreLocation};
use host_harness::outgoing::HttpTimeouts;
use host_harness::transport::Transport;
use host_harness::{ActionError, ConnectRequest, ConnectionManager};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::{DEFAULT_SCOPES, oauth_connection};
use x_emulator::Emulator;

#[tokio::test(flavor = "multi_thread")]
async fn an_action_reaches_x_over_tls_as_api_x_com_and_reuses_its_connection() {
    let x = Emulator::start_tls().await.unwrap();
    let trusting = Transport::with_ca_pem(x.ca_pem().unwrap().as_bytes()).unwrap();
    let (connector, _) = support::x_connector_on(&x, trusting).await;
    let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);
    x.add_numbered_posts("ada", 12);

    let me = connector.invoke(&ada, "users.me", "{}").await.unwrap();
    let pages = connector
        .invoke(&ada, "timeline.user", r#"{"max_results": 5, "limit": 15}"#)
        .await
        .unwrap();

    assert_eq!(me["user"]["username"], "ada");
    assert_eq!(pages["posts"].as_array().unwrap().len(), 15);
    let connections = x.tls_connections();
    // Four requests, one connection: negotiated as HTTP/2, named api.x.com.
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].server_name.as_deref(), Some("api.x.com"));
    assert_eq!(connections[0].protocol.as_deref(), Some("h2"));
    for exchange in x.traffic() {
        let host = exchange
            .request_headers
            .iter()
            .find(|(name, _)| name == "host")
            .map(|(_, value)| value.as_str());
        assert_eq!(host, Some("api.x.com"), "{}", exchange.path);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_ca_the_action_fails_naming_certificate_trust() {
    let x = Emulator::start_tls().await.unwrap();
    let (connector, _) = support::x_connector_on(&x, Transport::platform()).await;
    let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);

    let refused = connector.invoke(&ada, "users.me", "{}").await.unwrap_err();

    match refused {
        ActionError::Timeout { detail } => {
            assert!(
                detail.contains("TLS certificate is not trusted"),
                "{detail}"
            );
            assert!(detail.contains("api.x.com"), "{detail}");
        }
        other => panic!("expected a timeout-class error, got {other:?}"),
    }
    assert!(x.traffic().is_empty(), "nothing reached the emulator's API");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_token_requests_trust_what_the_actions_trust() {
    let x = Emulator::start_tls().await.unwrap();
    let app = x.register_app("TLS", &["http://127.0.0.1:8765/callback"], true);
    let form = ConnectRequest {
        method: "app_only".into(),
        fields: BTreeMap::from([
            ("client_id".into(), app.api_key.clone()),
            ("client_secret".into(), app.api_secret.clone()),
        ]),
        ..Default::default()
    };
    let manager = |transport: Transport| {
        let x = &x;
        async move {
            let dir = tempfile::tempdir().unwrap();
            let location = StoreLocation::Sqlite(dir.path().join("connections.db"));
            let store = Arc::new(
                Store::open(&location, &MasterKey::generate())
                    .await
                    .unwrap(),
            );
            let (connector, routes) = support::x_connector_on(x, transport).await;
            (
                ConnectionManager::new(store, connector, routes, HttpTimeouts::default()),
                dir,
            )
        }
    };
    let (trusting, _a) =
        manager(Transport::with_ca_pem(x.ca_pem().unwrap().as_bytes()).unwrap()).await;
    let (untrusting, _b) = manager(Transport::platform()).await;

    let record = trusting.create(&form).await.unwrap();
    let connected = trusting.activate(&record.id).await;
    let other = untrusting.create(&form).await.unwrap();
    let refused = untrusting.activate(&other.id).await;

    connected.expect("the app token was fetched over TLS");
    let connection = trusting.connection(&record.id).await.unwrap();
    let found = trusting
        .connector()
        .invoke(
            &connection,
            "search.recent",
            &json!({"query": "engine"}).to_string(),
        )
        .await;
    assert!(found.is_ok(), "{found:?}");
    let error = refused.map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("certificate") || error.contains("TLS"),
        "{error}"
    );
}

/// An HTTP/1.1 server on loopback that answers every request after
/// `delay`, and the most connections it ever had open at once.
async fn slow_http1_server(
    delay: std::time::Duration,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let seen = most.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (open, most) = (open.clone(), most.clone());
            tokio::spawn(async move {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let service = hyper::service::service_fn(move |_request| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"{}")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (origin, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_to_an_http1_server_waits_for_connections_instead_of_opening_one_each() {
    use http_body_util::BodyExt;
    let (origin, most_open) = slow_http1_server(std::time::Duration::from_millis(100)).await;
    let transport = Arc::new(Transport::platform().with_max_connections_per_origin(2));

    let started = std::time::Instant::now();
    let requests = (0..6).map(|_| {
        let (transport, origin) = (transport.clone(), origin.clone());
        tokio::spawn(async move {
            let request = http::Request::get(format!("{origin}/2/users/me"))
                .body(
                    http_body_util::Empty::<bytes::Bytes>::new()
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
                .unwrap();
            let options = wasmtime_wasi_http::RequestOptions {
                first_byte_timeout: Some(std::time::Duration::from_secs(5)),
                ..Default::default()
            };
            let response = transport.send(request, None, &options).await.unwrap();
            response.status()
        })
    });
    let statuses: Vec<_> = futures_util::future::join_all(requests).await;

    for status in statuses {
        assert_eq!(status.unwrap(), 200);
    }
    // Two connections at most, each carrying three requests in turn.
    assert_eq!(
        most_open.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the bound is the most connections open at once"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "six requests of 100 ms over two connections take three turns: {:?}",
        started.elapsed()
    );
}
