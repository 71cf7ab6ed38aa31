//! A platform engineer loads a connector they did not write. Whatever the
//! component asks for, its requests go only to the hosts its manifest lists,
//! credentials go only to the API hosts, and the component cannot put its
//! own credentials in their place. The probe fixture makes whatever request
//! its input describes.

mod support;

use host_harness::{ActionError, HostConfig, LoadedConnector, Manifest, Origin, Runtime};
use serde_json::{Value, json};
use support::oauth_connection;
use tokio::sync::OnceCell;
use x_emulator::Emulator;

const PROBE_MANIFEST: &str = include_str!("fixtures/probe-component/manifest.json");

async fn probe() -> LoadedConnector {
    static LOADED: OnceCell<LoadedConnector> = OnceCell::const_new();
    LOADED
        .get_or_init(|| async {
            let runtime = Runtime::new(HostConfig::default()).unwrap();
            let component = std::fs::read(component_artifacts::PROBE_COMPONENT_PATH).unwrap();
            runtime
                .load(&component, Manifest::from_json(PROBE_MANIFEST).unwrap())
                .await
                .unwrap()
        })
        .await
        .clone()
}

/// The probe with both of its manifest's hosts routed to `x`.
async fn probe_routed_to(x: &Emulator) -> LoadedConnector {
    let mut probe = probe().await;
    let origin = Origin::parse(&x.base_url()).unwrap();
    probe.route("api.x.com", origin.clone()).unwrap();
    probe.route("assets.example", origin).unwrap();
    probe
}

fn body(output: &Value) -> Value {
    serde_json::from_str(output["body"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_outside_the_manifest_is_refused_and_named() {
    let x = Emulator::start().await.unwrap();
    let probe = probe_routed_to(&x).await;
    let ada = oauth_connection(&x, "ada", support::DEFAULT_SCOPES);

    let error = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({"authority": "evil.example", "path": "/steal"}).to_string(),
        )
        .await
        .unwrap_err();

    match error {
        ActionError::Forbidden { detail, .. } => {
            assert!(detail.contains("evil.example"), "{detail}");
            assert!(detail.contains("egress list"), "{detail}");
        }
        other => panic!("expected forbidden, got {other:?}"),
    }
    assert!(
        x.traffic().is_empty(),
        "the refused request reached a server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_api_hosts_get_credentials() {
    let x = Emulator::start().await.unwrap();
    let probe = probe_routed_to(&x).await;
    let ada = oauth_connection(&x, "ada", support::DEFAULT_SCOPES);

    let api = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({"authority": "api.x.com", "path": "/2/users/me"}).to_string(),
        )
        .await
        .unwrap();
    let public = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({"authority": "assets.example", "path": "/2/users/me"}).to_string(),
        )
        .await
        .unwrap();

    assert_eq!(api["status"], 200);
    assert_eq!(body(&api)["data"]["username"], "ada");
    assert_eq!(
        public["status"], 401,
        "credentials went to a host that should not get them"
    );
    let traffic = x.traffic();
    let authorization = |i: usize| {
        traffic[i]
            .request_headers
            .iter()
            .any(|(n, _)| n == "authorization")
    };
    assert!(authorization(0));
    assert!(!authorization(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_the_component_sets_cannot_replace_the_hosts_credentials() {
    let x = Emulator::start().await.unwrap();
    let probe = probe_routed_to(&x).await;
    let ada = oauth_connection(&x, "ada", support::DEFAULT_SCOPES);
    let graces_token = x.issue_user_token("grace", support::DEFAULT_SCOPES);

    let out = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({
                "authority": "api.x.com",
                "path": "/2/users/me",
                "headers": [["authorization", format!("Bearer {graces_token}")], ["Authorization", "Bearer forged"]]
            })
            .to_string(),
        )
        .await
        .unwrap();

    assert_eq!(out["status"], 200);
    assert_eq!(
        body(&out)["data"]["username"],
        "ada",
        "the component's header replaced the connection's credentials"
    );
    let sent = &x.traffic()[0].request_headers;
    assert_eq!(sent.iter().filter(|(n, _)| n == "authorization").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_travel_in_clear_text() {
    let x = Emulator::start().await.unwrap();
    // No routes: the request is decided on the component's own URL.
    let probe = probe().await;
    let ada = oauth_connection(&x, "ada", support::DEFAULT_SCOPES);

    let error = probe
        .invoke(
            &ada,
            "http.fetch",
            &json!({"scheme": "http", "authority": "api.x.com", "path": "/2/users/me"}).to_string(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(error, ActionError::Forbidden { ref detail, .. } if detail.contains("https")),
        "{error:?}"
    );
}
