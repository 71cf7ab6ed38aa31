//! An operator runs `serve` behind a load balancer and an orchestrator:
//! `/healthz` says the process serves and `/readyz` whether it can work,
//! without a key and whatever name the balancer uses for the node; a node
//! whose store stops answering, or was migrated past what it knows, says
//! it is not ready (503, `Retry-After`) and says so again once it is.
//! While the database is away the API answers a retryable `unavailable`,
//! and the node resumes by itself when it returns. Events past the
//! retention window go, and an engine fetching events is told it missed
//! some.

mod support;

use serde_json::{Value, json};
use support::web::{ServeBed, raw};

const DEFAULT_KEY: &str = "the-default-tenants-key";
const ADMIN_KEY: &str = "the-operators-admin-key";

/// GET `path` as a load balancer does: no key, and the node's address
/// (not a name the server knows) as `Host`, written on the wire as is.
async fn as_balancer(bed: &ServeBed, path: &str) -> (u16, Option<String>, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = bed.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 10.0.0.7:8765\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let retry = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .map(str::to_string);
    (
        status,
        retry,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn probe(bed: &ServeBed, path: &str) -> (u16, Option<String>, Value) {
    as_balancer(bed, path).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer_a_load_balancer_and_follow_the_store() {
    let bed = ServeBed::start(Some(DEFAULT_KEY)).await;

    // The process serves and is ready, with no key and any Host.
    assert_eq!(
        probe(&bed, "/healthz").await,
        (200, None, json!({"status": "ok"}))
    );
    assert_eq!(
        probe(&bed, "/readyz").await,
        (200, None, json!({"status": "ready"}))
    );
    // The rest of the server still wants its own name and a key.
    assert_eq!(as_balancer(&bed, "/api/v1/connections").await.0, 421);
    let (status, _, _) = raw(&bed, "GET", &bed.url("/api/v1/connections"), &[], "").await;
    assert_eq!(status, 401);

    // Another host migrated the store past this one: not ready.
    let db = rusqlite::Connection::open(bed.store_file()).unwrap();
    let known: i64 = db
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    let (status, retry, body) = probe(&bed, "/readyz").await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert_eq!(body, json!({"status": "unavailable", "reason": "store"}));
    assert_eq!(
        probe(&bed, "/healthz").await.0,
        200,
        "alive, though not ready"
    );

    // The store stops answering: not ready; back, and ready again.
    db.execute_batch("ALTER TABLE meta RENAME TO meta_away")
        .unwrap();
    assert_eq!(probe(&bed, "/readyz").await.0, 503);
    db.execute_batch("ALTER TABLE meta_away RENAME TO meta")
        .unwrap();
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [&known],
    )
    .unwrap();
    assert_eq!(
        probe(&bed, "/readyz").await,
        (200, None, json!({"status": "ready"}))
    );
}

/// A TCP path to the machine's PostgreSQL that the test can cut: while it
/// is down, every connection through it is dropped and new ones are shut
/// at once, as a database that went away.
struct DatabaseLink {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl DatabaseLink {
    async fn start(target: &str) -> DatabaseLink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let (flag, tasks, target) = (up.clone(), open.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                tasks.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        DatabaseLink { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.open.lock().unwrap().abort_all();
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_database_is_away_the_api_says_unavailable_and_work_resumes_when_it_returns() {
    use support::auth::AuthBed;
    use support::nodes::{Node, Platform, free_port};
    use support::postgres::TestDatabase;
    // Arrange: a node whose PostgreSQL is reached through a link we can cut.
    let database = TestDatabase::create().await;
    let link = DatabaseLink::start("127.0.0.1:5432").await;
    let through_link = database
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", link.port));
    assert_ne!(
        through_link, database.url,
        "the test database is not on 127.0.0.1:5432"
    );
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let bed = AuthBed::on_store(
        dir,
        &database.location(),
        &credential_store::MasterKey::from_bytes(bytes),
        "http://127.0.0.1:8765/callback",
    )
    .await;
    let platform = Platform {
        database_url: Some(through_link),
        data_dir,
        master_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
        emulator: bed.x.base_url(),
        api_key: Some(DEFAULT_KEY.into()),
        admin_key: Some(ADMIN_KEY.into()),
    };
    platform.warm_up().await;
    let port = free_port();
    let node = Node::start("A", &platform, port, &format!("http://127.0.0.1:{port}")).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let (status, created) = node
        .request(
            "POST",
            "/api/v1/connections",
            Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // Act: the database goes away.
    link.cut();
    let (listed, refused) = node.request("GET", "/api/v1/connections", None).await;
    let (ran, run_refused) = node
        .request(
            "POST",
            &format!("/api/v1/connections/{id}/actions/users.me"),
            Some(json!({})),
        )
        .await;
    let (_, headers, _) = node.get_page("/readyz", "").await;
    let metrics = node.metrics(ADMIN_KEY).await;

    // Assert: a typed, retryable 503, not a 500 that looks like a bug;
    // and the operator sees the database failing, and how fast it was.
    assert_eq!(listed, 503, "{refused}");
    assert_eq!(refused["error"], "unavailable");
    assert_eq!(ran, 503, "{run_refused}");
    assert_eq!(run_refused["error"], "unavailable");
    assert!(headers.get("retry-after").is_some());
    let failed = sample(
        &metrics,
        r#"host_harness_store_errors_total{backend="postgres",kind="unavailable"}"#,
    );
    assert!(failed.is_some_and(|n| n >= 1.0), "{metrics}");
    let timed = sample(
        &metrics,
        r#"host_harness_store_operation_duration_seconds_count{backend="postgres"}"#,
    );
    assert!(timed.is_some_and(|n| n >= 1.0), "{metrics}");

    // Act and assert: it comes back, and so does the node, by itself.
    link.restore();
    let mut last = (0, Value::Null);
    for _ in 0..50 {
        last = node
            .request(
                "POST",
                &format!("/api/v1/connections/{id}/actions/users.me"),
                Some(json!({})),
            )
            .await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(last.0, 200, "the node did not resume: {}", last.1);
    assert_eq!(last.1["output"]["user"]["username"], "ada");
    assert!(!node.log().contains(DEFAULT_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_fetching_events_learns_when_older_ones_were_removed() {
    use support::web::api;
    let bed = ServeBed::start(Some(DEFAULT_KEY)).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let (_, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        Some(DEFAULT_KEY),
        Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let (_, subscription) = api(
        "POST",
        &bed.url(&format!("/api/v1/connections/{id}/subscriptions")),
        Some(DEFAULT_KEY),
        Some(json!({"trigger": "mention.new"})),
    )
    .await;
    let sid = subscription["id"].as_str().unwrap();
    let events: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("e{i}"), json!({"n": i}).to_string()))
        .collect();
    bed.store.queue_events(sid, &events, None).await.unwrap();
    let page = |after: u64| {
        let url = bed.url(&format!("/api/v1/subscriptions/{sid}/events?after={after}"));
        async move { api("GET", &url, Some(DEFAULT_KEY), None).await.1 }
    };
    let before = page(0).await;
    assert_eq!(
        (
            before["missed"].as_bool(),
            before["oldest_sequence"].as_u64()
        ),
        (Some(false), Some(1))
    );

    // The retention window passes for the first two.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    bed.store
        .prune_events(std::time::Duration::ZERO)
        .await
        .unwrap();

    let after = page(0).await;
    assert_eq!(after["missed"], true, "{after}");
    assert_eq!(after["oldest_sequence"], 3);
    assert_eq!(after["events"].as_array().unwrap().len(), 1);
    let caught_up = page(2).await;
    assert_eq!(caught_up["missed"], false, "{caught_up}");
}

/// The value of the sample `name{labels}` in a metrics exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_reads_metrics_of_actions_and_requests_without_ids_or_secrets() {
    use support::web::api;
    let bed = ServeBed::start_with_keys(Some(DEFAULT_KEY), Some(ADMIN_KEY)).await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let (_, created) = api(
        "POST",
        &bed.url("/api/v1/connections"),
        Some(DEFAULT_KEY),
        Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let (status, _) = api(
            "POST",
            &bed.url(&format!("/api/v1/connections/{id}/actions/users.me")),
            Some(DEFAULT_KEY),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (refused, _) = api(
        "POST",
        &bed.url(&format!("/api/v1/connections/{id}/actions/post.create")),
        Some(DEFAULT_KEY),
        Some(json!({"text": ""})),
    )
    .await;
    assert_eq!(refused, 400);

    // Only the operator reads them.
    for key in [None, Some(DEFAULT_KEY)] {
        let mut headers = vec![];
        let bearer;
        if let Some(key) = key {
            bearer = format!("Bearer {key}");
            headers.push(("authorization", bearer.as_str()));
        }
        let (status, _, _) = raw(&bed, "GET", &bed.url("/metrics"), &headers, "").await;
        assert_eq!(status, 401);
    }
    let bearer = format!("Bearer {ADMIN_KEY}");
    let (status, headers, text) = raw(
        &bed,
        "GET",
        &bed.url("/metrics"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );

    let ran = sample(
        &text,
        r#"host_harness_actions_total{action="users.me",outcome="ok",tenant="default"}"#,
    );
    assert!(ran.is_some_and(|n| n >= 3.0), "{text}");
    let invalid = sample(
        &text,
        r#"host_harness_actions_total{action="post.create",outcome="invalid-input",tenant="default"}"#,
    );
    assert!(invalid.is_some_and(|n| n >= 1.0), "{text}");
    let requests = sample(
        &text,
        r#"host_harness_http_requests_total{method="POST",route="/api/v1/connections/{id}/actions/{action}",status="200"}"#,
    );
    assert!(requests.is_some_and(|n| n >= 3.0), "{text}");
    assert!(text.contains("host_harness_action_duration_seconds_bucket{"));
    // What the actions sent X, by the host they named (not the emulator's
    // address their route took them to): one request per users.me (the
    // connection's test included); the refused input sent nothing.
    let sent = sample(
        &text,
        r#"host_harness_outgoing_requests_total{host="api.x.com",status="200"}"#,
    );
    assert_eq!(sent, ran, "{text}");
    let timed = sample(
        &text,
        r#"host_harness_outgoing_request_duration_seconds_count{host="api.x.com"}"#,
    );
    assert_eq!(timed, ran, "{text}");
    assert!(
        !text.contains("127.0.0.1"),
        "a routed address became a label"
    );
    // Nothing waits to be delivered on this server: the backlog gauge,
    // read from the store by the delivery runner, says 0.
    assert_eq!(
        sample(&text, "host_harness_oldest_pending_delivery_age_seconds"),
        Some(0.0),
        "{text}"
    );
    assert!(text.contains("# TYPE host_harness_refresh_lease_wait_seconds histogram"));
    // Each action read the store: its operations are timed.
    let store_operations = sample(
        &text,
        r#"host_harness_store_operation_duration_seconds_count{backend="sqlite"}"#,
    );
    assert!(store_operations.is_some_and(|n| n >= 3.0), "{text}");
    assert!(!text.contains(&id), "a connection id became a label");
    for secret in [DEFAULT_KEY, ADMIN_KEY, token.as_str()] {
        assert!(!text.contains(secret), "a secret is in the metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_node_says_so_and_finishes_what_it_started() {
    use std::time::Duration;
    use support::nodes::{Node, free_port, sqlite_platform};
    use x_emulator::{Endpoint, Fault};
    let (bed, platform) = sqlite_platform(Some(DEFAULT_KEY), None).await;
    let port = free_port();
    let mut node = Node::start_with(
        "A",
        &platform,
        port,
        &format!("http://127.0.0.1:{port}"),
        &[
            "--shutdown-delay-secs",
            "2",
            "--shutdown-grace-secs",
            "20",
            "--poll-lease-secs",
            "600",
        ],
    )
    .await;
    let token = bed.x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let (_, created) = node
        .request(
            "POST",
            "/api/v1/connections",
            Some(json!({"method": "bearer", "fields": {"bearer_token": token}})),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();

    // Arrange: a slow action in flight, answered by X after 3 s.
    bed.x
        .inject(Endpoint::UsersMe, Fault::Delay(Duration::from_secs(3)));
    let client = node.client();
    let path = format!("/api/v1/connections/{id}/actions/users.me");
    let slow = tokio::spawn(async move { client.request("POST", &path, Some(json!({}))).await });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: the orchestrator stops the node.
    node.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Assert: not ready at once, the action in flight finishes, the node
    // exits cleanly.
    let (ready, _, _) = node.get_page("/readyz", "").await;
    assert_eq!(ready, 503, "a stopping node still said it was ready");
    let (status, output) = slow.await.unwrap();
    assert_eq!(status, 200, "the action in flight was cut: {output}");
    assert_eq!(output["output"]["user"]["username"], "ada");
    let exit = node.exited(Duration::from_secs(25)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "exit {exit:?}: {}",
        node.log()
    );
    assert!(node.log().contains("stopping: not ready"), "{}", node.log());
}
