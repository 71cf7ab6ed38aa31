//! A workflow engine subscribes to a trigger through `serve`'s API: the
//! server polls X and POSTs each new event to the engine's URL, signed with
//! a key the engine got when it subscribed; a restart, a second node on the
//! same database and a node killed in between neither lose an event nor
//! send one twice; a receiver that keeps failing gets retries, then the
//! event waits in the dead letters; an engine without a URL fetches events.

mod support;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use credential_store::{MasterKey, StoreLocation};
use hmac::Mac;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;

const SCOPES: &str = "tweet.read tweet.write users.read offline.access";
const API_KEY: &str = "engine-key-for-the-subscription-tests";
/// Quick retries and takeovers, so the stories run in seconds.
const SERVE_ARGS: &[&str] = &[
    "--delivery-attempts",
    "3",
    "--delivery-backoff-secs",
    "1",
    "--poll-lease-secs",
    "10",
];

/// What the engine's endpoint received.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A workflow engine's webhook endpoint on loopback, recording every
/// request, answering 500 while `failing`.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/x", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks/x", axum::routing::post(Receiver::take))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    async fn take(
        State(receiver): State<Receiver>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        receiver.received.lock().unwrap().push(Received {
            headers,
            body: body.to_vec(),
        });
        if receiver.failing.load(std::sync::atomic::Ordering::SeqCst) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        }
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The event ids received, in order.
    fn ids(&self) -> Vec<String> {
        self.all()
            .iter()
            .map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// Waits until `n` requests came.
    async fn until(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.all().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} deliveries came: {:?}",
                self.all().len(),
                self.ids()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `ada` connected in a store (SQLite, or a PostgreSQL database) that
/// `serve` nodes open too.
async fn platform(database: Option<&TestDatabase>) -> (AuthBed, String, Platform) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let location = match database {
        Some(db) => db.location(),
        None => StoreLocation::Sqlite(data_dir.join("connections.db")),
    };
    let callback = "http://127.0.0.1:8765/callback";
    let bed = AuthBed::on_store(dir, &location, &MasterKey::from_bytes(bytes), callback).await;
    let id = bed
        .connect_oauth2_via(&bed.oauth2_form(SCOPES), "ada", callback)
        .await;
    let platform = Platform {
        database_url: database.map(|d| d.url.clone()),
        data_dir,
        master_key: base64::engine::general_purpose::STANDARD.encode(bytes),
        emulator: bed.x.base_url(),
        api_key: Some(API_KEY.into()),
        admin_key: None,
    };
    platform.warm_up().await;
    (bed, id, platform)
}

async fn node(name: &'static str, platform: &Platform) -> Node {
    let port = free_port();
    Node::start_with(
        name,
        platform,
        port,
        &format!("http://127.0.0.1:{port}"),
        SERVE_ARGS,
    )
    .await
}

/// Polls of `ada`'s mentions so far.
fn mention_polls(bed: &AuthBed) -> usize {
    bed.x.arrivals(&format!(
        "/2/users/{}/mentions",
        bed.x.user_id("ada").unwrap()
    ))
}

/// Waits for a poll after `before` polls.
async fn a_poll_after(bed: &AuthBed, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while mention_polls(bed) <= before {
        assert!(Instant::now() < deadline, "no poll came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Subscribes to `ada`'s mentions through `node`; the subscription.
async fn subscribe(node: &Node, connection: &str, target_url: Option<&str>) -> Value {
    let (status, created) = node
        .request(
            "POST",
            &format!("/api/v1/connections/{connection}/subscriptions"),
            Some(json!({
                "trigger": "mention.new",
                "configuration": {},
                "target_url": target_url,
                "interval_secs": 5,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// HMAC-SHA256 of `t.body`, as the receiver computes it with its key.
fn signature_is_valid(key: &str, received: &Received) -> bool {
    let header = received.headers["x-host-harness-signature"]
        .to_str()
        .unwrap();
    let (t, v1) = header
        .split_once(',')
        .map(|(t, v)| (t.trim_start_matches("t="), v.trim_start_matches("v1=")))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let fresh = (t.parse::<i64>().unwrap() - chrono::Utc::now().timestamp()).abs() < 300;
    expected == v1 && fresh
}

#[tokio::test(flavor = "multi_thread")]
async fn each_new_mention_reaches_the_engine_once_signed_across_a_restart() {
    let (bed, connection, platform) = platform(None).await;
    let (receiver, url) = Receiver::start().await;
    let mut server = node("A", &platform).await;
    let polls = mention_polls(&bed);
    let subscription = subscribe(&server, &connection, Some(&url)).await;
    let key = subscription["signing_secret"].as_str().unwrap().to_string();
    a_poll_after(&bed, polls).await;

    let one = bed.x.post_as("grace", "@ada one");
    receiver.until(1).await;
    // Stopped once that delivery is settled and a later poll began.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a_poll_after(&bed, mention_polls(&bed)).await;
    server.kill();
    let two = bed.x.post_as("alan", "@ada two, while the server is down");
    let server = node("A again", &platform).await;
    receiver.until(2).await;
    let three = bed.x.post_as("grace", "@ada three");
    receiver.until(3).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let sid = subscription["id"].as_str().unwrap();
    let (status, fetched) = server
        .request(
            "GET",
            &format!("/api/v1/subscriptions/{sid}/events?after=1"),
            None,
        )
        .await;

    assert_eq!(
        receiver.ids(),
        vec![one, two.clone(), three.clone()],
        "each once, in order"
    );
    let first: Value = serde_json::from_slice(&receiver.all()[0].body).unwrap();
    assert_eq!(first["trigger"], "mention.new");
    assert_eq!(first["sequence"], 1);
    assert_eq!(first["data"]["post"]["text"], "@ada one");
    assert_eq!(first["data"]["post"]["author"]["username"], "grace");
    for received in receiver.all() {
        assert!(
            signature_is_valid(&key, &received),
            "a delivery's signature does not check"
        );
        assert!(!signature_is_valid("whsec_another_key", &received));
        // No collector is configured: nothing of tracing changes a delivery.
        assert!(received.headers.get("traceparent").is_none());
    }
    assert_eq!(status, 200, "{fetched}");
    let ids: Vec<&str> = fetched["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![two.as_str(), three.as_str()]);
    assert!(
        fetched["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "delivered")
    );
    assert!(!server.log().contains(&key), "the signing key was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_database_deliver_every_mention_once_when_one_is_killed() {
    let database = TestDatabase::create().await;
    let (bed, connection, platform) = platform(Some(&database)).await;
    let (receiver, url) = Receiver::start().await;
    let mut a = node("A", &platform).await;
    let b = node("B", &platform).await;
    let polls = mention_polls(&bed);
    subscribe(&a, &connection, Some(&url)).await;
    a_poll_after(&bed, polls).await;

    let mut posted = Vec::new();
    for round in 0..3 {
        posted.push(
            bed.x
                .post_as("grace", &format!("@ada round {round}, first")),
        );
        posted.push(
            bed.x
                .post_as("alan", &format!("@ada round {round}, second")),
        );
        receiver.until(posted.len()).await;
        if round == 0 {
            // A goes away between polls; B carries on.
            tokio::time::sleep(Duration::from_secs(1)).await;
            a.kill();
        }
    }
    tokio::time::sleep(Duration::from_secs(6)).await;

    assert_eq!(receiver.ids(), posted, "every mention once, in order");
    assert!(b.log().contains("delivered"), "B never delivered");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_keeps_failing_gets_retries_then_a_dead_letter_it_can_replay() {
    let (bed, connection, platform) = platform(None).await;
    let (receiver, url) = Receiver::start().await;
    receiver
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let server = node("A", &platform).await;
    let polls = mention_polls(&bed);
    let subscription = subscribe(&server, &connection, Some(&url)).await;
    let sid = subscription["id"].as_str().unwrap().to_string();
    a_poll_after(&bed, polls).await;

    let mention = bed.x.post_as("grace", "@ada nobody hears this");
    receiver.until(3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let (_, dead) = server
            .request(
                "GET",
                &format!("/api/v1/subscriptions/{sid}/dead-letters"),
                None,
            )
            .await;
        if !dead["dead_letters"].as_array().unwrap().is_empty() {
            break dead;
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts_before_replay = receiver.all().len();
    receiver
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, replayed) = server
        .request(
            "POST",
            &format!("/api/v1/subscriptions/{sid}/dead-letters/retry"),
            Some(json!({})),
        )
        .await;
    receiver.until(4).await;

    let attempts: Vec<String> = receiver
        .all()
        .iter()
        .map(|r| {
            r.headers["x-host-harness-attempt"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(attempts_before_replay, 3, "three attempts, then it stopped");
    assert_eq!(&attempts[..3], ["1", "2", "3"]);
    assert!(receiver.ids().iter().all(|id| *id == mention));
    let letter = &dead["dead_letters"][0];
    assert_eq!(letter["id"], json!(mention));
    assert_eq!(letter["attempts"], 3);
    assert!(
        letter["last_error"].as_str().unwrap().contains("500"),
        "{letter}"
    );
    assert_eq!(status, 200);
    assert_eq!(replayed["requeued"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_without_a_url_fetches_events_and_bad_subscriptions_are_named() {
    let (bed, connection, platform) = platform(None).await;
    let server = node("A", &platform).await;
    let polls = mention_polls(&bed);
    let subscription = subscribe(&server, &connection, None).await;
    let sid = subscription["id"].as_str().unwrap().to_string();
    a_poll_after(&bed, polls).await;
    let first = bed.x.post_as("grace", "@ada fetch me");
    let second = bed.x.post_as("alan", "@ada and me");
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let (_, page) = server
            .request(
                "GET",
                &format!("/api/v1/subscriptions/{sid}/events?after=0"),
                None,
            )
            .await;
        if page["events"].as_array().unwrap().len() == 2 {
            break page;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let next = page["next_after"].as_u64().unwrap();
    let (_, later) = server
        .request(
            "GET",
            &format!("/api/v1/subscriptions/{sid}/events?after={next}"),
            None,
        )
        .await;
    let bad = |body: Value| {
        let server = &server;
        let connection = connection.clone();
        async move {
            server
                .request(
                    "POST",
                    &format!("/api/v1/connections/{connection}/subscriptions"),
                    Some(body),
                )
                .await
        }
    };
    let unknown = bad(json!({"trigger": "weather.rain"})).await;
    let no_query = bad(json!({"trigger": "post.matching", "configuration": {}})).await;
    let too_often = bad(json!({"trigger": "mention.new", "interval_secs": 1})).await;
    let not_http = bad(json!({"trigger": "mention.new", "target_url": "ftp://engine/x"})).await;
    let (listed_status, listed) = server
        .request(
            "GET",
            &format!("/api/v1/connections/{connection}/subscriptions"),
            None,
        )
        .await;
    let (deleted, _) = server
        .request("DELETE", &format!("/api/v1/subscriptions/{sid}"), None)
        .await;
    let (gone, _) = server
        .request("GET", &format!("/api/v1/subscriptions/{sid}"), None)
        .await;

    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    assert_eq!(page["events"][0]["data"]["post"]["text"], "@ada fetch me");
    assert!(later["events"].as_array().unwrap().is_empty());
    assert_eq!(
        (unknown.0, unknown.1["field"].as_str()),
        (400, Some("trigger"))
    );
    assert_eq!(
        (no_query.0, no_query.1["field"].as_str()),
        (400, Some("configuration.query"))
    );
    assert_eq!(
        (too_often.0, too_often.1["field"].as_str()),
        (400, Some("interval_secs"))
    );
    assert_eq!(
        (not_http.0, not_http.1["field"].as_str()),
        (400, Some("target_url"))
    );
    assert_eq!(listed_status, 200);
    assert_eq!(listed["subscriptions"][0]["id"], json!(sid));
    assert!(
        listed.to_string().find("whsec_").is_none(),
        "a signing key was listed"
    );
    assert_eq!((deleted, gone), (204, 404));
}

/// The ids of the events a subscription holds.
async fn event_ids(node: &Node, subscription: &str) -> Vec<String> {
    let (status, events) = node
        .request(
            "GET",
            &format!("/api/v1/subscriptions/{subscription}/events"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_rate_limit_stops_the_connections_mention_polls_until_it_resets() {
    let (bed, connection, platform) = platform(None).await;
    // Windows of seconds instead of X's 15 minutes; three polls in each.
    bed.x.set_rate_window(Duration::from_secs(15));
    bed.x.set_rate_limit(x_emulator::Endpoint::Mentions, 3);
    let server = node("A", &platform).await;
    let ada = bed.x.user_id("ada").unwrap();
    // Two subscriptions of one connection reading the same endpoint, kept
    // to be fetched.
    let first = subscribe(&server, &connection, None).await;
    let (status, second) = server
        .request(
            "POST",
            &format!("/api/v1/connections/{connection}/subscriptions"),
            Some(json!({"trigger": "mention.new", "configuration": {"user_id": ada}, "interval_secs": 5})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let (first, second) = (
        first["id"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    );
    let refused = || {
        bed.x
            .traffic()
            .iter()
            .filter(|e| e.path.ends_with("/mentions") && e.status == 429)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused() == 0 {
        assert!(Instant::now() < deadline, "the limit was never spent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let polls_when_spent = mention_polls(&bed);
    let mention = bed.x.post_as("grace", "@ada is anyone polling?");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let polls_while_spent = mention_polls(&bed) - polls_when_spent;
    let refused_while_spent = refused();
    let seen_while_spent = event_ids(&server, &first).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (a, b) = (
            event_ids(&server, &first).await,
            event_ids(&server, &second).await,
        );
        if a.contains(&mention) && b.contains(&mention) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "polling did not resume after the reset: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(polls_while_spent, 0, "a subscription polled a spent limit");
    assert_eq!(
        refused_while_spent, 1,
        "the other subscription ran into the spent limit too"
    );
    assert!(seen_while_spent.is_empty(), "{seen_while_spent:?}");
    assert!(server.log().contains("polls held back"), "{}", server.log());
}

/// The subscription's events as the API lists them.
async fn events(node: &Node, subscription: &str) -> Vec<Value> {
    let (status, events) = node
        .request(
            "GET",
            &format!("/api/v1/subscriptions/{subscription}/events?after=0"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    events["events"].as_array().unwrap().clone()
}

/// Waits until the subscription's first event records a failed attempt;
/// its `last_error`.
async fn first_failure(node: &Node, subscription: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(error) = events(node, subscription)
            .await
            .first()
            .and_then(|e| e["last_error"].as_str().map(str::to_string))
        {
            return error;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery was attempted: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_builder_cannot_aim_deliveries_at_the_servers_own_network() {
    let (bed, connection, platform) = platform(None).await;
    let (receiver, receiver_url) = Receiver::start().await;
    let port = free_port();
    // A server exposed to users: no private range allowed.
    let server = Node::start_guarded(
        "guarded",
        &platform,
        port,
        &format!("http://127.0.0.1:{port}"),
        SERVE_ARGS,
    )
    .await;
    let own_api = format!("http://127.0.0.1:{port}/api/v1/connections");
    let internal = [
        "http://10.0.0.1/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://100.64.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/x",
        "http://2852039166/x",
        "http://0xa9fea9fe/x",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://[::1]/x",
        "http://0.0.0.0/x",
        "http://2130706433/x",
        "http://0177.0.0.1/x",
        "http://0x7f.1/x",
        "http://127.1/x",
        own_api.as_str(),
        receiver_url.as_str(),
    ];
    let long = format!("https://engine.example/{}", "a".repeat(3000));
    let malformed = [
        "http:///x",
        "http:\\\\engine.example\\x",
        "https://engine.example/x\r\nX-Injected: 1",
        long.as_str(),
    ];
    let ask = |target: &str| {
        let server = &server;
        let body = json!({"trigger": "mention.new", "target_url": target, "interval_secs": 5});
        let path = format!("/api/v1/connections/{connection}/subscriptions");
        async move { server.request("POST", &path, Some(body)).await }
    };
    // A subscription kept from before the guard, aimed at loopback.
    let kept = bed
        .manager
        .store()
        .create_subscription(&credential_store::NewSubscription {
            connection_id: connection.clone(),
            trigger: "mention.new".into(),
            configuration: "{}".into(),
            delivery: credential_store::Delivery::Poll,
            destination: credential_store::Destination::Url(receiver_url.clone()),
            interval_secs: 5,
            signing_secret: Some(secrecy::SecretString::from("whsec_kept".to_string())),
        })
        .await
        .unwrap();
    let polls = mention_polls(&bed);
    a_poll_after(&bed, polls).await;
    bed.x.post_as("grace", "@ada this must not reach loopback");
    let refusal = first_failure(&server, &kept.id).await;
    let mut answers = Vec::new();
    for target in internal.iter().chain(malformed.iter()) {
        answers.push((target.to_string(), ask(target).await));
    }
    let (public_status, public) = ask("https://engine.example/hooks/x").await;

    for (target, (status, answer)) in &answers {
        assert_eq!(
            (*status, answer["field"].as_str()),
            (400, Some("target_url")),
            "{target} was not refused: {answer}"
        );
    }
    let (_, metadata) = &answers[4].1;
    assert!(
        metadata["message"]
            .as_str()
            .unwrap()
            .contains("--allow-private-targets"),
        "the refusal does not say how to allow a range: {metadata}"
    );
    assert_eq!(public_status, 201, "a public target was refused: {public}");
    assert!(refusal.contains("loopback"), "{refusal}");
    assert!(receiver.all().is_empty(), "a delivery reached loopback");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_redirects_is_not_followed() {
    let (bed, connection, platform) = platform(None).await;
    let elsewhere = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/hooks/x",
            axum::routing::post(move || async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", format!("http://{address}/hooks/elsewhere"))],
                )
            }),
        )
        .route("/hooks/elsewhere", axum::routing::post(Receiver::take))
        .with_state(elsewhere.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = node("A", &platform).await;
    let polls = mention_polls(&bed);
    let subscription = subscribe(
        &server,
        &connection,
        Some(&format!("http://{address}/hooks/x")),
    )
    .await;
    a_poll_after(&bed, polls).await;

    bed.x.post_as("grace", "@ada follow me elsewhere");
    let failure = first_failure(&server, subscription["id"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert!(
        failure.contains("307") && failure.contains("redirect"),
        "{failure}"
    );
    assert!(elsewhere.all().is_empty(), "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_needs_the_triggers_scopes_and_an_interval_within_a_day() {
    let (_bed, connection, platform) = platform(None).await;
    let server = node("A", &platform).await;
    let ask = |body: Value| {
        let server = &server;
        let path = format!("/api/v1/connections/{connection}/subscriptions");
        async move { server.request("POST", &path, Some(body)).await }
    };

    let (dm_status, dm) = ask(json!({"trigger": "dm.new"})).await;
    let (huge_status, huge) =
        ask(json!({"trigger": "mention.new", "interval_secs": 4_294_967_295u64})).await;
    let (over_status, over) = ask(json!({"trigger": "mention.new", "interval_secs": 86_401})).await;
    let (day_status, day) = ask(json!({"trigger": "mention.new", "interval_secs": 86_400})).await;

    // The connection was granted tweet.read, tweet.write, users.read.
    assert_eq!(dm_status, 403, "{dm}");
    assert_eq!(dm["error"], "forbidden");
    assert_eq!(dm["reason"], "missing-scopes");
    assert_eq!(dm["missing_scopes"], json!(["dm.read"]));
    assert_eq!(
        (huge_status, huge["field"].as_str()),
        (400, Some("interval_secs")),
        "{huge}"
    );
    assert_eq!(
        (over_status, over["field"].as_str()),
        (400, Some("interval_secs")),
        "{over}"
    );
    assert_eq!(day_status, 201, "{day}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_connection_of_a_delivery_checks_the_addresses_it_is_about_to_use() {
    use host_harness::target_guard::TargetGuard;
    use host_harness::transport::Transport;
    let (receiver, url) = Receiver::start().await;
    let port = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let client = |guard: TargetGuard| {
        host_harness::auth::http::HostHttp::new(
            host_harness::Routes::default(),
            host_harness::outgoing::HttpTimeouts::default(),
        )
        .with_transport(Arc::new(Transport::for_user_urls(guard)))
    };
    let post = |client: host_harness::auth::http::HostHttp, target: String| async move {
        let request = http::Request::post(target).body(b"{}".to_vec()).unwrap();
        client.send(request).await.map(|r| r.status().as_u16())
    };
    let loopback =
        || TargetGuard::allowing(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
    // Names the resolver turns into loopback addresses, and an address
    // written out: the names are checked as they resolve, not before.
    let targets = [
        format!("http://localhost:{port}/hooks/x"),
        format!("http://127.1:{port}/hooks/x"),
        format!("http://2130706433:{port}/hooks/x"),
        format!("http://127.0.0.1:{port}/hooks/x"),
    ];

    let mut refused = Vec::new();
    for target in &targets {
        refused.push(post(client(TargetGuard::public_only()), target.clone()).await);
    }
    let received_when_refused = receiver.all().len();
    let mut allowed = Vec::new();
    for target in &targets {
        allowed.push(post(client(loopback()), target.clone()).await);
    }

    for (target, outcome) in targets.iter().zip(&refused) {
        let error = outcome.as_ref().expect_err(target).to_string();
        assert!(error.contains("prohibited"), "{target}: {error}");
    }
    assert_eq!(received_when_refused, 0, "a refused connection was made");
    for (target, outcome) in targets.iter().zip(&allowed) {
        assert_eq!(outcome.as_ref().ok(), Some(&204), "{target}: {outcome:?}");
    }
}
