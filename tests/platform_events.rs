//! A platform learns what happens to its customers' connections as it
//! happens: Acme registers a webhook, and two `serve` nodes sharing
//! PostgreSQL POST it, signed, `connection.created` when ada connects,
//! `connection.needs_reconnect` (cause `refresh_refused`) when X refuses
//! the refresh both nodes need at once, and `connection.deleted`: each
//! once, whichever node noticed. Globex's webhook hears nothing of it.

mod support;

use axum::body::Bytes;
use axum::http::HeaderMap;
use host_harness::triggers::signature::verify;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::auth::AuthBed;
use support::browser::consent;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;
use x_emulator::{Endpoint, Fault};

const ADMIN_KEY: &str = "the-operators-admin-key";

/// What a webhook received: each request's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A platform's webhook receiver on loopback: takes every POST.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hooks/x",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The events received so far, as JSON.
fn events(received: &Received) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_slice(body).unwrap())
        .collect()
}

async fn wait_for(received: &Received, count: usize) {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the webhook got {:?}", events(received));
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_events_reach_the_tenants_webhook_once_from_two_nodes() {
    // Arrange: two nodes on PostgreSQL behind A's address; Acme's own app.
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let port_a = free_port();
    let public_origin = format!("http://127.0.0.1:{port_a}");
    let callback = format!("{public_origin}/callback");
    let bed = AuthBed::on_store(
        dir,
        &database.location(),
        &credential_store::MasterKey::from_bytes(bytes),
        &callback,
    )
    .await;
    let platform = Platform {
        database_url: Some(database.url.clone()),
        data_dir,
        master_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
        emulator: bed.x.base_url(),
        api_key: Some("the-default-tenants-key".into()),
        admin_key: Some(ADMIN_KEY.into()),
    };
    platform.warm_up().await;
    let a = Node::start("A", &platform, port_a, &public_origin).await;
    let b = Node::start("B", &platform, free_port(), &public_origin).await;
    let admin = a.client().with_key(ADMIN_KEY);
    let mut tenants = Vec::new();
    for name in ["Acme", "Globex"] {
        let (_, tenant) = admin
            .request("POST", "/api/v1/tenants", Some(json!({"name": name})))
            .await;
        let id = tenant["id"].as_str().unwrap().to_string();
        let (_, key) = admin
            .request(
                "POST",
                &format!("/api/v1/tenants/{id}/api-keys"),
                Some(json!({})),
            )
            .await;
        tenants.push((id, key["key"].as_str().unwrap().to_string()));
    }
    let ((acme, acme_key), (_, globex_key)) = (tenants[0].clone(), tenants[1].clone());
    let (status, set) = admin
        .request(
            "PUT",
            &format!("/api/v1/tenants/{acme}/app-credentials/oauth2"),
            Some(json!({"fields": {"client_id": bed.app.client_id, "client_secret": bed.app.client_secret}})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let (acme_url, acme_hook) = receiver().await;
    let (globex_url, globex_hook) = receiver().await;
    let (status, webhook) = b
        .client()
        .with_key(&acme_key)
        .request("PUT", "/api/v1/webhook", Some(json!({"url": acme_url})))
        .await;
    assert_eq!(status, 200, "{webhook}");
    let secret = webhook["signing_secret"].as_str().unwrap().to_string();
    let (status, _) = a
        .client()
        .with_key(&globex_key)
        .request("PUT", "/api/v1/webhook", Some(json!({"url": globex_url})))
        .await;
    assert_eq!(status, 200);

    // Act: ada connects through B and consents; her tokens last a second.
    bed.x.set_access_token_lifetime(Duration::from_secs(1));
    let (status, created) = b
        .client()
        .with_key(&acme_key)
        .request(
            "POST",
            "/api/v1/connections",
            Some(json!({"method": "oauth2", "fields": {"scopes": "tweet.read users.read offline.access"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["connection"]["id"].as_str().unwrap().to_string();
    let redirect = consent(created["authorization_url"].as_str().unwrap(), "ada", true).await;
    let (status, _, page) = a.get_page(&redirect[public_origin.len()..], "").await;
    assert_eq!(status, 200, "{page}");
    wait_for(&acme_hook, 1).await;

    // Act: X refuses the refresh both nodes need at the same moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let refusal = Fault::Raw {
        status: 400,
        body: json!({"error": "invalid_grant", "error_description": "Value passed for the token was invalid."}).to_string(),
    };
    bed.x.inject(Endpoint::OAuth2Token, refusal.clone());
    bed.x.inject(Endpoint::OAuth2Token, refusal);
    let run = |node: &Node| {
        let client = node.client().with_key(&acme_key);
        let path = format!("/api/v1/connections/{id}/actions/users.me");
        async move { client.request("POST", &path, Some(json!({}))).await }
    };
    let ((on_a, _), (on_b, _)) = tokio::join!(run(&a), run(&b));
    assert_eq!(
        (on_a, on_b),
        (401, 401),
        "both runs were refused for a reconnect"
    );
    wait_for(&acme_hook, 2).await;

    // Act: the connection is deleted on A.
    let (status, _) = a
        .client()
        .with_key(&acme_key)
        .request("DELETE", &format!("/api/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, 204);
    wait_for(&acme_hook, 3).await;
    // Time for a duplicate to arrive, if any would.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Assert: three events, each once, signed with Acme's key, in order.
    let got = events(&acme_hook);
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "connection.created",
            "connection.needs_reconnect",
            "connection.deleted"
        ],
        "{got:#?}"
    );
    let mut ids: Vec<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(
        got.iter()
            .all(|e| e["data"]["connection"]["id"] == json!(id))
    );
    assert_eq!(got[0]["data"]["connection"]["account"], "ada");
    assert_eq!(got[0]["data"]["connection"]["status"], "connected");
    assert_eq!(got[1]["data"]["cause"], "refresh_refused");
    assert_eq!(got[1]["data"]["connection"]["status"], "needs_reconnect");
    assert!(
        got[1]["data"]["connection"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid_grant")),
        "{}",
        got[1]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (headers, body) in acme_hook.lock().unwrap().iter() {
        let signature = headers["x-host-harness-signature"].to_str().unwrap();
        assert!(
            verify(secret.as_bytes(), signature, body, now, 300),
            "a forged event"
        );
        assert!(!verify(b"another key", signature, body, now, 300));
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            headers["x-host-harness-event-id"],
            event["id"].as_str().unwrap()
        );
        assert_eq!(
            headers["x-host-harness-event-type"],
            event["type"].as_str().unwrap()
        );
    }
    assert!(
        events(&globex_hook).is_empty(),
        "Globex heard of Acme's connection"
    );

    // And either node lists them, delivered.
    let (_, listed) = a
        .client()
        .with_key(&acme_key)
        .request("GET", "/api/v1/events", None)
        .await;
    let listed = listed["events"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|e| e["delivery"]["status"] == "delivered"),
        "{listed:?}"
    );
    for node in [&a, &b] {
        assert!(!node.log().contains(&secret), "a webhook's key was logged");
    }
}
