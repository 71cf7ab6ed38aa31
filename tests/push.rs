//! X pushes new followers to `serve` (the X Activity API and X's webhooks)
//! instead of `serve` polling for them: the server registers its webhook
//! through an app-only connection, answers X's CRC challenge with the API
//! Key Secret (which never reaches the component), refuses a delivery whose
//! signature does not verify, hands each verified follow to the workflow
//! engine once, and after a stop asks X to replay what it missed. Without
//! push set up, the same trigger is polled.

mod support;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use credential_store::{MasterKey, StoreLocation};
use hmac::Mac;
use host_harness::ConnectRequest;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::auth::AuthBed;
use support::nodes::{Node, Platform, free_port};
use support::postgres::TestDatabase;

const SCOPES: &str = "tweet.read users.read follows.read dm.read offline.access";
const API_KEY: &str = "engine-key-for-the-push-tests";

/// A workflow engine's endpoint on loopback, recording each event's data.
#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<Value>>>,
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

    async fn take(State(receiver): State<Receiver>, body: axum::body::Bytes) -> StatusCode {
        let event: Value = serde_json::from_slice(&body).unwrap();
        receiver.events.lock().unwrap().push(event);
        StatusCode::NO_CONTENT
    }

    /// The usernames of the new followers received, in order.
    fn followers(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                e["data"]["follower"]["username"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    async fn until(&self, n: usize, log: impl Fn() -> String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.followers().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {:?} of {n} followers came; server log:\n{}",
                self.followers(),
                log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `ada` connected with OAuth 2.0, and an app-only connection of the same
/// app, in a store `serve` nodes open.
struct Bed {
    bed: AuthBed,
    ada: String,
    app: String,
    platform: Platform,
}

async fn bed() -> Bed {
    bed_on(None).await
}

/// The same on a PostgreSQL database instead of the SQLite file.
async fn bed_on(database: Option<&TestDatabase>) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let bytes: [u8; 32] = rand::random();
    let location = match database {
        Some(db) => db.location(),
        None => StoreLocation::Sqlite(data_dir.join("connections.db")),
    };
    let callback = "http://127.0.0.1:8765/callback";
    let bed = AuthBed::on_store(dir, &location, &MasterKey::from_bytes(bytes), callback).await;
    let ada = bed
        .connect_oauth2_via(&bed.oauth2_form(SCOPES), "ada", callback)
        .await;
    let app = bed
        .manager
        .create(&ConnectRequest {
            method: "app_only".into(),
            fields: BTreeMap::from([
                ("client_id".into(), bed.app.api_key.clone()),
                ("client_secret".into(), bed.app.api_secret.clone()),
            ]),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    bed.manager.activate(&app).await.unwrap();
    let platform = Platform {
        database_url: database.map(|d| d.url.clone()),
        data_dir,
        master_key: base64::engine::general_purpose::STANDARD.encode(bytes),
        emulator: bed.x.base_url(),
        api_key: Some(API_KEY.into()),
        admin_key: None,
    };
    platform.warm_up().await;
    Bed {
        bed,
        ada,
        app,
        platform,
    }
}

/// A node on `port` receiving pushes through connection `app`.
async fn pushing_node(bed: &Bed, port: u16) -> Node {
    pushing_node_behind(bed, "push", port, port).await
}

/// A node on `port` whose webhook X reaches at `public_port`, the address
/// every node stands behind.
async fn pushing_node_behind(bed: &Bed, name: &'static str, port: u16, public_port: u16) -> Node {
    let origin = format!("http://127.0.0.1:{public_port}");
    Node::start_with(
        name,
        &bed.platform,
        port,
        &origin,
        &["--push-connection", &bed.app],
    )
    .await
}

/// X's CRC answer, computed here from the API Key Secret as X documents it.
fn crc_answer(secret: &str, token: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

async fn until_webhook_is_valid(bed: &Bed, node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bed.bed.x.webhooks().iter().any(|w| w.valid) {
        assert!(
            Instant::now() < deadline,
            "no webhook was registered: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn subscribe_followers(node: &Node, bed: &Bed, target_url: &str) -> Value {
    let (status, created) = node
        .request(
            "POST",
            &format!("/api/v1/connections/{}/subscriptions", bed.ada),
            Some(json!({"trigger": "follower.new", "target_url": target_url})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_follower_is_pushed_to_the_engine_once_and_a_forged_delivery_is_refused() {
    let bed = bed().await;
    let (receiver, url) = Receiver::start().await;
    let node = pushing_node(&bed, free_port()).await;
    until_webhook_is_valid(&bed, &node).await;

    let (status, crc) = node
        .request(
            "GET",
            &format!("/webhooks/{}?crc_token=challenge-from-x", bed.app),
            None,
        )
        .await;
    let created = subscribe_followers(&node, &bed, &url).await;
    bed.bed.x.follow("grace", "ada");
    receiver.until(1, || node.log()).await;
    let forged_body = json!({"data": {"event_type": "follow.follow", "event_uuid": "1",
        "filter": {"user_id": bed.bed.x.user_id("ada").unwrap()},
        "payload": {"source": {"id": "999", "name": "Mallory", "username": "mallory"},
                    "target": {"id": bed.bed.x.user_id("ada").unwrap(), "name": "Ada", "username": "ada"}}}})
    .to_string();
    let forged = node
        .client()
        .raw_post(
            &format!("/webhooks/{}", bed.app),
            &forged_body,
            &[(
                "x-twitter-webhooks-signature",
                &crc_answer("not-the-api-key-secret", &forged_body),
            )],
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // X's hourly check, answered by the server again.
    bed.bed.x.recheck_webhooks().await;
    let still_valid = bed.bed.x.webhooks().iter().all(|w| w.valid);
    let subscriptions_at_x = bed.bed.x.activity_subscriptions();
    let (ended, _) = node
        .request(
            "DELETE",
            &format!("/api/v1/subscriptions/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;

    assert_eq!(status, 200);
    assert!(still_valid, "the server failed X's CRC re-check");
    assert_eq!(ended, 204);
    assert!(
        bed.bed.x.activity_subscriptions().is_empty(),
        "ending the subscription left it at X"
    );
    assert_eq!(
        crc["response_token"],
        crc_answer(&bed.bed.app.api_secret, "challenge-from-x")
    );
    assert_eq!(created["delivery"], "push", "{created}");
    assert!(created.get("push_error").is_none(), "{created}");
    assert_eq!(subscriptions_at_x.len(), 1);
    assert_eq!(subscriptions_at_x[0].event_type, "follow.follow");
    assert_eq!(forged, 401, "a forged delivery was taken");
    assert_eq!(receiver.followers(), ["grace"], "each follower once");
    assert!(
        !node.log().contains(&bed.bed.app.api_secret),
        "the API Key Secret was logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follows_pushed_while_the_server_was_down_are_replayed_when_it_starts() {
    let bed = bed().await;
    let (receiver, url) = Receiver::start().await;
    let port = free_port();
    let mut node = pushing_node(&bed, port).await;
    until_webhook_is_valid(&bed, &node).await;
    subscribe_followers(&node, &bed, &url).await;
    bed.bed.x.follow("grace", "ada");
    receiver.until(1, || node.log()).await;

    node.kill();
    bed.bed.x.follow("alan", "ada");
    let deadline = Instant::now() + Duration::from_secs(30);
    while bed.bed.x.pushes().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "X never tried to push the follow"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missed = bed.bed.x.pushes().iter().filter(|p| !p.delivered).count();
    let node = pushing_node(&bed, port).await;
    receiver.until(2, || node.log()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(missed, 1, "the follow pushed while down was not missed");
    assert_eq!(
        receiver.followers(),
        ["grace", "alan"],
        "the replay lost or repeated a follower"
    );
    assert!(node.log().contains("replay"), "{}", node.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_push_set_up_a_pushable_trigger_is_polled_and_says_why() {
    let bed = bed().await;
    let port = free_port();
    let node = Node::start(
        "poll",
        &bed.platform,
        port,
        &format!("http://127.0.0.1:{port}"),
    )
    .await;

    let created = subscribe_followers(&node, &bed, "http://127.0.0.1:9/hooks").await;

    assert_eq!(created["delivery"], "poll", "{created}");
    assert!(
        created["push_error"]
            .as_str()
            .is_some_and(|e| e.contains("--push-connection")),
        "{created}"
    );
    assert!(bed.bed.x.activity_subscriptions().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_database_register_one_webhook_and_either_takes_a_push() {
    let database = TestDatabase::create().await;
    let bed = bed_on(Some(&database)).await;
    let (receiver, url) = Receiver::start().await;
    let (a_port, b_port) = (free_port(), free_port());
    // Both stand behind A's address, as behind one load balancer.
    let (a, b) = tokio::join!(
        pushing_node_behind(&bed, "A", a_port, a_port),
        pushing_node_behind(&bed, "B", b_port, a_port)
    );
    until_webhook_is_valid(&bed, &a).await;
    // The node that registered it has kept its id in the store.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ![a.log(), b.log()]
        .iter()
        .any(|log| log.contains("webhook registered"))
    {
        assert!(Instant::now() < deadline, "{}\n{}", a.log(), b.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = subscribe_followers(&b, &bed, &url).await;

    bed.bed.x.follow("grace", "ada");
    receiver
        .until(1, || format!("{}\n{}", a.log(), b.log()))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(
        bed.bed.x.webhooks().len(),
        1,
        "the webhook was registered twice"
    );
    assert_eq!(created["delivery"], "push", "{created}");
    assert_eq!(receiver.followers(), ["grace"]);
    let registered = [a.log(), b.log()]
        .iter()
        .filter(|log| log.contains("webhook registered"))
        .count();
    assert_eq!(registered, 1);
}

/// A follow of `ada` by `source`, as X pushes it.
fn follow_delivery(bed: &Bed, uuid: &str, source: &str) -> String {
    let ada = bed.bed.x.user_id("ada").unwrap();
    json!({"data": {"event_type": "follow.follow", "event_uuid": uuid,
        "filter": {"user_id": ada},
        "payload": {"source": {"id": "9".repeat(uuid.len() + 3), "name": source, "username": source},
                    "target": {"id": ada, "name": "Ada", "username": "ada"}}}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_signs_no_forgery_and_takes_exactly_one_signature() {
    let bed = bed().await;
    let (receiver, url) = Receiver::start().await;
    let node = pushing_node(&bed, free_port()).await;
    until_webhook_is_valid(&bed, &node).await;
    subscribe_followers(&node, &bed, &url).await;
    let webhook = format!("/webhooks/{}", bed.app);
    let challenge = |token: &str| {
        let path = format!(
            "{webhook}?crc_token={}",
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        let node = &node;
        async move { node.request("GET", &path, None).await }
    };
    let deliver = |body: String, signatures: Vec<String>| {
        let (node, webhook) = (&node, webhook.clone());
        async move {
            let headers: Vec<(&str, &str)> = signatures
                .iter()
                .map(|s| ("x-twitter-webhooks-signature", s.as_str()))
                .collect();
            node.client().raw_post(&webhook, &body, &headers).await
        }
    };

    // The attacker has the webhook sign a forged delivery as a challenge...
    let forged = follow_delivery(&bed, "1", "oracle_forged");
    let (oracle_status, oracle) = challenge(&forged).await;
    let stolen = oracle["response_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // ...and posts it with what came back.
    let forged_status = deliver(forged.clone(), vec![stolen.clone()]).await;
    // A token-shaped text that is also JSON (a number) is answered, and is
    // still no delivery.
    let (number_status, number) = challenge("12345").await;
    let number_signature = number["response_token"].as_str().unwrap().to_string();
    let number_delivery = deliver("12345".into(), vec![number_signature]).await;
    let (empty_status, empty) = challenge("").await;
    // A genuine delivery beside a wrong signature, in either order.
    let genuine = follow_delivery(&bed, "2", "twice");
    let right = crc_answer(&bed.bed.app.api_secret, &genuine);
    let wrong = crc_answer("not-the-api-key-secret", &genuine);
    let right_first = deliver(genuine.clone(), vec![right.clone(), wrong.clone()]).await;
    let wrong_first = deliver(genuine.clone(), vec![wrong, right.clone()]).await;
    let alone = deliver(genuine, vec![right]).await;
    receiver.until(1, || node.log()).await;
    // Challenges as fast as they can be sent.
    let mut burst = Vec::new();
    for i in 0..40 {
        burst.push(challenge(&format!("burst{i}")).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(oracle_status, 400, "a delivery body was signed: {oracle}");
    assert_eq!(oracle["field"], "crc_token");
    assert!(stolen.is_empty());
    assert_eq!(forged_status, 401, "the forged delivery was taken");
    assert_eq!(number_status, 200);
    assert_eq!(
        number_delivery, 400,
        "a JSON number was taken as a delivery"
    );
    assert_eq!(empty_status, 400, "an empty token was answered: {empty}");
    assert_eq!(
        (right_first, wrong_first),
        (401, 401),
        "two signatures were taken"
    );
    assert_eq!(alone, 200);
    assert_eq!(receiver.followers(), ["twice"], "only the genuine delivery");
    let answered = burst.iter().filter(|(status, _)| *status == 200).count();
    let (last_status, last) = burst.last().unwrap();
    assert!(answered < 30, "{answered} challenges answered in a burst");
    assert_eq!(*last_status, 429, "{last}");
    assert_eq!(last["error"], "rate_limited");
}
