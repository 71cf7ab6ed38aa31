//! A platform runs many host processes over one set of connections: cron
//! jobs starting `host-harness run` on one machine's SQLite store, and
//! `serve` nodes on several machines sharing a PostgreSQL database behind
//! one address. Whatever one process starts, another can see and finish;
//! a refresh happens once however many processes find a token stale, even
//! when the one refreshing dies; and the emulator, like a strict provider,
//! revokes the whole authorization if a spent refresh token ever comes back.

mod support;

use base64::Engine;
use credential_store::{ConnectionStatus, MasterKey, Store, StoreLocation};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::browser::consent;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;
use x_emulator::{Endpoint, Fault};

const SCOPES: &str = "tweet.read tweet.write users.read offline.access";
const API_KEY: &str = "platform-api-key-for-the-tests";

/// A master key the test knows, and the same as the variable hosts read.
fn master_key() -> (MasterKey, String) {
    let bytes: [u8; 32] = rand::random();
    (
        MasterKey::from_bytes(bytes),
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_run_processes_started_right_after_expiry_refresh_once_on_one_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let (key, key_text) = master_key();
    let callback = "http://127.0.0.1:8765/callback";
    let bed = AuthBed::on_store(
        dir,
        &StoreLocation::Sqlite(data_dir.join("connections.db")),
        &key,
        callback,
    )
    .await;
    let id = bed
        .connect_oauth2_via(&bed.oauth2_form(SCOPES), "ada", callback)
        .await;
    let platform = Platform {
        database_url: None,
        data_dir: data_dir.clone(),
        master_key: key_text,
        emulator: bed.x.base_url(),
        api_key: None,
        admin_key: None,
    };
    platform.warm_up().await;
    bed.expire_access_token(&id).await;
    // The token endpoint answers slowly, so every process finds the token
    // stale while the first refresh is still in flight.
    bed.x.inject(
        Endpoint::OAuth2Token,
        Fault::Delay(Duration::from_millis(1500)),
    );

    let mut processes = Vec::new();
    for _ in 0..20 {
        let mut command = platform.command(&["run", "users.me", "--connection", &id]);
        processes.push(tokio::task::spawn_blocking(move || {
            command.output().unwrap()
        }));
    }
    let mut outputs = Vec::new();
    for process in processes {
        outputs.push(process.await.unwrap());
    }

    for output in &outputs {
        assert!(output.status.success(), "{}", output_text(output));
        let me: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(me["user"]["username"], "ada", "{me}");
    }
    assert_eq!(bed.token_requests("refresh_token"), 1);
    assert_eq!(bed.x.reuses_detected(), 0);
    assert_eq!(
        bed.store.connection(&id).await.unwrap().status,
        ConnectionStatus::Connected
    );
}

/// Two `serve` nodes on one PostgreSQL database, standing behind node
/// A's address, with an app registered for that address's callback, and
/// `ada` connected.
struct TwoNodes {
    bed: AuthBed,
    database: TestDatabase,
    key: MasterKey,
    platform: Platform,
    a: Node,
    b: Node,
    public_origin: String,
}

impl TwoNodes {
    async fn start() -> TwoNodes {
        let database = TestDatabase::create().await;
        let (key, key_text) = master_key();
        let port_a = free_port();
        let public_origin = format!("http://127.0.0.1:{port_a}");
        let callback = format!("{public_origin}/callback");
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let bed = AuthBed::on_store(dir, &database.location(), &key, &callback).await;
        let platform = Platform {
            database_url: Some(database.url.clone()),
            data_dir,
            master_key: key_text,
            emulator: bed.x.base_url(),
            api_key: Some(API_KEY.into()),
            admin_key: None,
        };
        platform.warm_up().await;
        let a = Node::start("A", &platform, port_a, &public_origin).await;
        let b = Node::start("B", &platform, free_port(), &public_origin).await;
        TwoNodes {
            bed,
            database,
            key,
            platform,
            a,
            b,
            public_origin,
        }
    }

    fn callback(&self) -> String {
        format!("{}/callback", self.public_origin)
    }

    /// The form a workflow engine posts to create a connection.
    fn form(&self) -> Value {
        json!({
            "method": "oauth2",
            "name": "Marketing",
            "fields": {
                "client_id": self.bed.app.client_id,
                "client_secret": self.bed.app.client_secret,
                "scopes": SCOPES,
            }
        })
    }

    /// Starts a sign-in on `node`; returns the connection id and where
    /// the consent page redirects the browser.
    async fn start_sign_in(&self, node: &Node, account: &str) -> (String, String) {
        let (status, created) = node
            .request("POST", "/api/v1/connections", Some(self.form()))
            .await;
        assert_eq!(status, 201, "{created}");
        let url = created["authorization_url"].as_str().unwrap().to_string();
        let redirect = consent(&url, account, true).await;
        assert!(redirect.starts_with(&self.callback()), "{redirect}");
        (
            created["connection"]["id"].as_str().unwrap().to_string(),
            redirect,
        )
    }

    /// Delivers the redirect to `node`, as a load balancer may.
    async fn deliver(&self, node: &Node, redirect: &str) -> (u16, Option<String>) {
        let path = &redirect[self.public_origin.len()..];
        let (status, headers, page) = node.get_page(path, "").await;
        let location = headers
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        assert!(
            status == 303 || status == 302,
            "node {} answered the callback with {status}: {page}",
            node.name
        );
        (status, location)
    }

    async fn connected(&self) -> String {
        let (id, redirect) = self.start_sign_in(&self.a, "ada").await;
        self.deliver(&self.a, &redirect).await;
        id
    }

    async fn store(&self) -> Store {
        Store::open(&self.database.location(), &self.key)
            .await
            .unwrap()
    }

    async fn expire_access_token(&self, id: &str) {
        let store = self.store().await;
        let (mut tokens, version) = store.tokens(id).await.unwrap().unwrap();
        tokens.access_expires_at = Some(1);
        store.save_tokens(id, &tokens, Some(version)).await.unwrap();
    }

    async fn status(&self, id: &str) -> ConnectionStatus {
        self.store().await.connection(id).await.unwrap().status
    }
}

/// `users.me` on connection `id` through `node`'s API.
fn run_users_me(
    node: &Node,
    id: &str,
) -> impl Future<Output = Result<(u16, Value), String>> + use<> {
    let path = format!("/api/v1/connections/{id}/actions/users.me");
    let node = node.client();
    async move { node.try_request("POST", &path, Some(json!({}))).await }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_started_on_one_node_completes_through_the_other_and_survives_a_restart() {
    let mut nodes = TwoNodes::start().await;

    // Started on A, the redirect comes back through B.
    let (first, redirect) = nodes.start_sign_in(&nodes.a, "ada").await;
    let (_, landed) = nodes.deliver(&nodes.b, &redirect).await;
    // Started on B, which restarts before the redirect comes back.
    let (second, redirect) = nodes.start_sign_in(&nodes.b, "grace").await;
    nodes.b.kill();
    let b_port = nodes.b.origin.rsplit(':').next().unwrap().parse().unwrap();
    nodes.b = Node::start("B", &nodes.platform, b_port, &nodes.public_origin).await;
    let (_, landed_after_restart) = nodes.deliver(&nodes.b, &redirect).await;
    // The same redirect again, at either node: each sign-in finishes once.
    let (replayed, _, _) = nodes
        .a
        .get_page(&redirect[nodes.public_origin.len()..], "")
        .await;

    assert_eq!(
        landed.as_deref(),
        Some(format!("/connections/{first}?connected=1").as_str())
    );
    assert_eq!(
        landed_after_restart.as_deref(),
        Some(format!("/connections/{second}?connected=1").as_str())
    );
    assert_eq!(replayed, 400);
    for (id, account) in [(&first, "ada"), (&second, "grace")] {
        let (status, me) = nodes
            .a
            .request(
                "POST",
                &format!("/api/v1/connections/{id}/actions/users.me"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["output"]["user"]["username"], account);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_session_and_its_form_token_work_on_every_node() {
    let nodes = TwoNodes::start().await;
    let id = nodes.connected().await;

    // Signed in with the API key on A...
    let (status, headers, _) = nodes
        .a
        .post_form("/login", "", &[("api_key", API_KEY)])
        .await;
    assert_eq!(status, 303);
    let session = headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("hh_session="))
        .expect("a session cookie");
    // ...a form loaded from B...
    let (status, headers, page) = nodes
        .b
        .get_page(&format!("/connections/{id}"), &session)
        .await;
    assert_eq!(status, 200, "{page}");
    let csrf_cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("hh_csrf="))
        .expect("a CSRF cookie");
    let token = csrf_cookie.trim_start_matches("hh_csrf=").to_string();
    assert!(page.contains(&token), "the form carries its token");
    let cookies = format!("{session}; {csrf_cookie}");
    // ...is accepted when posted to A.
    let (status, _, page) = nodes
        .a
        .post_form(
            &format!("/connections/{id}/test"),
            &cookies,
            &[("csrf", &token)],
        )
        .await;
    let (forged, _, _) = nodes
        .a
        .post_form(
            &format!("/connections/{id}/test"),
            &session,
            &[("csrf", &token)],
        )
        .await;
    let (no_session, headers, _) = nodes.b.get_page("/connections", "").await;

    assert_eq!(status, 200, "{page}");
    assert!(page.contains("The connection works"), "{page}");
    assert_eq!(forged, 403, "a token without its cookie is refused");
    assert_eq!(no_session, 303);
    assert_eq!(headers["location"], "/login");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_actions_across_two_nodes_right_after_expiry_cause_one_refresh() {
    let nodes = TwoNodes::start().await;
    let id = nodes.connected().await;
    nodes.expire_access_token(&id).await;
    // More than X's default 75 per window: a plan with a higher limit.
    nodes.bed.x.set_rate_limit(Endpoint::UsersMe, 1000);
    nodes.bed.x.inject(
        Endpoint::OAuth2Token,
        Fault::Delay(Duration::from_millis(500)),
    );

    let mut runs = tokio::task::JoinSet::new();
    for i in 0..200 {
        let node = if i % 2 == 0 { &nodes.a } else { &nodes.b };
        runs.spawn(run_users_me(node, &id));
    }
    let results = runs.join_all().await;

    for result in &results {
        let (status, answer) = result.as_ref().expect("every node answers");
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["output"]["user"]["username"], "ada");
    }
    assert_eq!(nodes.bed.token_requests("refresh_token"), 1);
    assert_eq!(nodes.bed.x.reuses_detected(), 0);
    assert_eq!(nodes.status(&id).await, ConnectionStatus::Connected);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_node_that_holds_the_lease_mid_refresh_leaves_the_connection_working() {
    let mut nodes = TwoNodes::start().await;
    let id = nodes.connected().await;
    nodes.expire_access_token(&id).await;
    // The first refresh request hangs at X, before X uses the token.
    let hang = Duration::from_secs(6);
    nodes
        .bed
        .x
        .inject(Endpoint::OAuth2Token, Fault::Delay(hang));
    let hung_at = Instant::now();
    let token_requests = nodes.bed.x.arrivals("/2/oauth2/token");

    let mut runs = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { &nodes.a } else { &nodes.b };
        runs.push((node.name, tokio::spawn(run_users_me(node, &id))));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes.bed.x.arrivals("/2/oauth2/token") == token_requests {
        assert!(Instant::now() < deadline, "no node asked for a token");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refreshing = |node: &Node| node.log().contains("refreshing the access token");
    // The node's log reaches this process through a pipe, a moment after
    // its request reaches X.
    while !refreshing(&nodes.a) && !refreshing(&nodes.b) {
        assert!(Instant::now() < deadline, "no node logged its refresh");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (holder, survivor) = match (refreshing(&nodes.a), refreshing(&nodes.b)) {
        (true, false) => (&mut nodes.a, &nodes.b),
        (false, true) => (&mut nodes.b, &nodes.a),
        other => panic!("expected exactly one node refreshing, found {other:?}"),
    };
    let (holder_name, survivor_name) = (holder.name, survivor.name);
    holder.kill();

    let mut served = 0;
    for (name, run) in runs {
        let result = run.await.unwrap();
        if name == survivor_name {
            let (status, answer) = result.expect("the surviving node answers");
            assert_eq!(status, 200, "{answer}");
            served += 1;
        }
    }
    let survivor = if survivor_name == "A" {
        &nodes.a
    } else {
        &nodes.b
    };
    let (after, answer) = run_users_me(survivor, &id).await.unwrap();
    // Past the hung request's end: had X gone on with it, the token it
    // carried would now be spent twice and the authorization revoked.
    tokio::time::sleep(
        (hung_at + hang + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
    )
    .await;
    let (later, _) = run_users_me(survivor, &id).await.unwrap();

    assert_eq!(
        served, 5,
        "node {holder_name} was killed; {survivor_name} served its share"
    );
    assert_eq!(after, 200, "{answer}");
    assert_eq!(later, 200);
    assert_eq!(nodes.bed.x.reuses_detected(), 0);
    assert_eq!(nodes.status(&id).await, ConnectionStatus::Connected);
    assert!(
        survivor.log().contains("refreshing the access token"),
        "the survivor refreshed after the holder died"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_the_wrong_master_key_or_none_refuses_and_writes_nothing() {
    let nodes = TwoNodes::start().await;
    nodes.connected().await;
    let before = nodes.database.dump().await;

    let (_, wrong_key) = master_key();
    let wrong = Platform {
        master_key: wrong_key,
        ..nodes.platform.clone()
    };
    let mut command = wrong.command(&["connections", "list"]);
    let refused = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let empty_dir = tempfile::tempdir().unwrap();
    let keyless = Platform {
        data_dir: empty_dir.path().to_path_buf(),
        ..nodes.platform.clone()
    };
    let mut command = keyless.command(&["connections", "list"]);
    command.env_remove("HOST_HARNESS_MASTER_KEY");
    let keyless = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    assert_eq!(refused.status.code(), Some(3), "{}", output_text(&refused));
    assert!(
        output_text(&refused).contains("master key does not open"),
        "{}",
        output_text(&refused)
    );
    assert_eq!(keyless.status.code(), Some(3), "{}", output_text(&keyless));
    assert!(
        output_text(&keyless).contains("no master key"),
        "{}",
        output_text(&keyless)
    );
    assert!(
        !empty_dir.path().join("master.key").exists(),
        "a new key was made for a store that exists"
    );
    for output in [&refused, &keyless] {
        assert!(
            !output_text(output).contains(API_KEY),
            "{}",
            output_text(output)
        );
    }
    assert_eq!(nodes.database.dump().await, before, "the store changed");
}
