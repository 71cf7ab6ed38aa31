//! Trigger delivery end to end, poll against push, side by side in one run:
//! events made at the emulator, carried by `host-harness serve` (release
//! build) and received by a workflow engine's endpoint on loopback (axum,
//! answering 204). `mention.new` is polled (every 5 seconds, the shortest
//! interval a server allows); `follower.new` is pushed (the emulator's X
//! Activity API pushes each follow to the server's webhook, registered
//! through an app-only connection with `--push-connection`). Both
//! subscriptions are `ada`'s, connected through the emulator's consent
//! page, on one server; the emulator and the receiver run in the bench's
//! process.
//!
//! 1. Events per second: `EVENTS` (default 300) mentions of `@ada` by
//!    several authors, made as fast as the emulator takes them, against as
//!    many distinct new accounts following `ada`; the time from the first
//!    event made to the last one received. Also the drain rate, from the
//!    first event received to the last, which leaves out the wait for the
//!    next poll. Each event must arrive exactly once.
//! 2. Delay: `SINGLES` (default 20) single events of each kind, alternating
//!    between the kinds, 1 to 2 seconds apart (random, so that the poll's
//!    phase is sampled fairly); the time from each event made to its
//!    delivery, median and 90th percentile. A polled event waits for the
//!    next poll, so its delay is mostly the interval's.
//! 3. Memory per subscription: a server of its own (its own store, no push,
//!    nothing else subscribed), its resident memory (`VmRSS`) after a
//!    warm-up with no subscriptions, then after `SUBSCRIPTIONS` (default
//!    1000) `mention.new` subscriptions kept to be fetched (no URL, polled
//!    hourly) have each been polled once, then after as many again.
//!
//! Rounds interleave the measures: each round runs both bursts (alternating
//! which goes first), then the single events, then the memory measure on a
//! fresh server.
//!
//! `cargo bench -p host-harness --bench triggers`. `BENCH_ROUNDS` (default 3).

#[path = "../../tests/support/browser.rs"]
mod browser;
mod support;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use bytes::Bytes;
use credential_store::{MasterKey, Store, StoreLocation};
use host_harness::outgoing::HttpTimeouts;
use host_harness::{ConnectRequest, ConnectionManager, Manifest, Origin, Routes};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{HttpClient, env_number, free_port, http_client};
use x_emulator::{Emulator, Endpoint};

const SCOPES: &str = "tweet.read users.read follows.read dm.read offline.access";
/// Accounts that write the mentions, in turn.
const AUTHORS: usize = 8;
/// The shortest poll interval a server allows.
const INTERVAL_SECS: u32 = 5;
/// Concurrent API clients while subscriptions are made.
const MAKERS: usize = 16;

/// A JSON API request: the status and the answer (`null` when empty).
async fn api(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, value))
}

/// A running `host-harness serve` on a store of its own, with `ada`
/// connected.
struct Serve {
    child: Child,
    origin: String,
    connection: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// The process's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// The end of what the server wrote on stderr.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.origin)
    }

    /// Subscribes `ada` to `trigger`; the created subscription.
    async fn subscribe(&self, client: &HttpClient, body: Value) -> Value {
        let (status, created) = api(
            client,
            "POST",
            &self.url(&format!("/connections/{}/subscriptions", self.connection)),
            Some(body),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{created}");
        created
    }

    /// How many of `ada`'s subscriptions have been polled once.
    async fn started(&self, client: &HttpClient) -> usize {
        let (status, list) = api(
            client,
            "GET",
            &self.url(&format!("/connections/{}/subscriptions", self.connection)),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{list}");
        list["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["started"] == true)
            .count()
    }

    /// Waits until `n` subscriptions have been polled once.
    async fn until_started(&self, client: &HttpClient, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let started = self.started(client).await;
            if started >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {started} of {n} subscriptions were polled; server log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The emulator and the X connector loaded once, to connect `ada` in each
/// server's store the way a user does.
struct Bed {
    x: Emulator,
    connector: host_harness::LoadedConnector,
}

impl Bed {
    /// A server on a fresh store with `ada` connected; with `push`, also an
    /// app-only connection of the same app, named by `--push-connection`.
    async fn serve(&self, name: &str, push: bool) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let callback = format!("{origin}/callback");
        let location = StoreLocation::Sqlite(dir.path().join("connections.db"));
        let bytes: [u8; 32] = rand::random();
        let store = Arc::new(
            Store::open(&location, &MasterKey::from_bytes(bytes))
                .await
                .unwrap(),
        );
        let routes = Routes::all_hosts_of(
            &Manifest::from_json(support::X_MANIFEST).unwrap(),
            &Origin::parse(&self.x.base_url()).unwrap(),
        );
        let mut connector = self.connector.clone();
        connector.set_routes(routes.clone());
        let manager = ConnectionManager::new(store, connector, routes, HttpTimeouts::default());
        let app = self.x.register_app(name, &[&callback], true);
        let record = manager
            .create(&ConnectRequest {
                method: "oauth2".into(),
                name: Some(name.into()),
                brand: None,
                fields: BTreeMap::from([
                    ("client_id".into(), app.client_id.clone()),
                    ("client_secret".into(), app.client_secret.clone().unwrap()),
                    ("scopes".into(), SCOPES.into()),
                ]),
                tenant: None,
                end_user: None,
                quiet: false,
            })
            .await
            .unwrap();
        let pending = manager.begin_oauth2(&record.id, &callback).await.unwrap();
        let redirect = browser::consent(&pending.authorization_url, "ada", true).await;
        manager
            .finish_oauth2(&record.id, pending, &browser::query_of(&redirect))
            .await
            .unwrap();
        let push_connection = if push {
            let id = manager
                .create(&ConnectRequest {
                    method: "app_only".into(),
                    fields: BTreeMap::from([
                        ("client_id".into(), app.api_key.clone()),
                        ("client_secret".into(), app.api_secret.clone()),
                    ]),
                    ..Default::default()
                })
                .await
                .unwrap()
                .id;
            manager.activate(&id).await.unwrap();
            Some(id)
        } else {
            None
        };
        drop(manager);

        let log = dir.path().join("serve.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        command
            .env(
                "HOST_HARNESS_CACHE_DIR",
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
            )
            .env(
                "HOST_HARNESS_MASTER_KEY",
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )
            .env_remove("HOST_HARNESS_API_KEY")
            .env_remove("HOST_HARNESS_LOG")
            .env_remove("HOST_HARNESS_DATABASE_URL")
            .env_remove("HOST_HARNESS_PUSH_CONNECTION")
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--route",
                &format!("api.x.com={}", self.x.base_url()),
                "--route",
                &format!("x.com={}", self.x.base_url()),
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &origin,
                // The receiving engine listens on loopback.
                "--allow-private-targets",
                "127.0.0.0/8",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        if let Some(id) = &push_connection {
            command.args(["--push-connection", id]);
        }
        let serve = Serve {
            child: command.spawn().unwrap(),
            origin,
            connection: record.id,
            log,
            _dir: dir,
        };
        let client = http_client(64);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !matches!(
            api(&client, "GET", &serve.url("/actions"), None).await,
            Ok((200, _))
        ) {
            assert!(
                Instant::now() < deadline,
                "{name}: serve did not start:\n{}",
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        serve
    }
}

/// One event as the receiver got it.
struct Received {
    /// The post's id (`mention.new`) or the follower's username
    /// (`follower.new`): what the bench made.
    key: String,
    /// The delivery's event id.
    id: String,
    at: Instant,
}

/// The workflow engine's endpoint: records each event and answers 204.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(Receiver::take))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    async fn take(State(receiver): State<Receiver>, body: axum::body::Bytes) -> StatusCode {
        let at = Instant::now();
        let event: Value = serde_json::from_slice(&body).unwrap();
        let key = match event["trigger"].as_str() {
            Some("mention.new") => &event["data"]["post"]["id"],
            Some("follower.new") => &event["data"]["follower"]["username"],
            other => panic!("an event of {other:?}: {event}"),
        };
        receiver.got.lock().unwrap().push(Received {
            key: key.as_str().unwrap().to_string(),
            id: event["id"].as_str().unwrap().to_string(),
            at,
        });
        StatusCode::NO_CONTENT
    }

    /// Waits until every one of `keys` arrived; when each first did.
    async fn until(&self, keys: &HashSet<String>, serve: &Serve) -> HashMap<String, Instant> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let mut times = HashMap::new();
            for r in self.got.lock().unwrap().iter() {
                if keys.contains(&r.key) {
                    times.entry(r.key.clone()).or_insert(r.at);
                }
            }
            if times.len() == keys.len() {
                return times;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {} events arrived; server log:\n{}",
                times.len(),
                keys.len(),
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Events received more than once, and how often, by event id.
    fn repeated(&self) -> Vec<(String, usize)> {
        let mut count: HashMap<&str, usize> = HashMap::new();
        let got = self.got.lock().unwrap();
        for r in got.iter() {
            *count.entry(&r.id).or_default() += 1;
        }
        count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, n)| (id.to_string(), n))
            .collect()
    }

    fn len(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Poll,
    Push,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Poll => "poll (mention.new)",
            Kind::Push => "push (follower.new)",
        }
    }
}

/// Makes one event of `kind`; its key. A follower is made beforehand, so
/// that only the follow is timed.
fn make(x: &Emulator, kind: Kind, label: &str, author: usize) -> String {
    match kind {
        Kind::Poll => x.post_as(
            &format!("author{}", author % AUTHORS),
            &format!("@ada {label}: a mention for the trigger bench"),
        ),
        Kind::Push => {
            x.follow(label, "ada");
            label.to_string()
        }
    }
}

/// The names of new accounts that will follow `ada`.
fn new_followers(x: &Emulator, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}");
            x.add_user(&name);
            name
        })
        .collect()
}

/// One burst: events per second from the first made to the last received,
/// and from the first received to the last.
async fn burst(
    x: &Emulator,
    serve: &Serve,
    receiver: &Receiver,
    kind: Kind,
    round: usize,
    n: usize,
) -> (f64, f64) {
    let labels = match kind {
        Kind::Push => new_followers(x, &format!("r{round}b"), n),
        Kind::Poll => (0..n).map(|i| format!("r{round} burst {i}")).collect(),
    };
    let started = Instant::now();
    let keys: HashSet<String> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| make(x, kind, label, i))
        .collect();
    assert_eq!(keys.len(), n);
    let times = receiver.until(&keys, serve).await;
    let first = *times.values().min().unwrap();
    let last = *times.values().max().unwrap();
    let end_to_end = n as f64 / (last - started).as_secs_f64();
    let drain = (n - 1) as f64 / (last - first).as_secs_f64().max(1e-9);
    (end_to_end, drain)
}

/// `k` single events of each kind, alternating, 1 to 2 s apart; the delay
/// of each, in milliseconds, by kind.
async fn singles(
    x: &Emulator,
    serve: &Serve,
    receiver: &Receiver,
    round: usize,
    k: usize,
) -> (Vec<f64>, Vec<f64>) {
    let followers = new_followers(x, &format!("r{round}s"), k);
    let mut made: Vec<(Kind, String, Instant)> = Vec::new();
    for (j, follower) in followers.iter().enumerate() {
        let order = if (round + j).is_multiple_of(2) {
            [Kind::Poll, Kind::Push]
        } else {
            [Kind::Push, Kind::Poll]
        };
        for kind in order {
            tokio::time::sleep(Duration::from_millis(rand::random_range(1000..2000))).await;
            let label = match kind {
                Kind::Poll => format!("r{round} single {j}"),
                Kind::Push => follower.clone(),
            };
            let key = make(x, kind, &label, j);
            made.push((kind, key, Instant::now()));
        }
    }
    let keys: HashSet<String> = made.iter().map(|(_, key, _)| key.clone()).collect();
    let times = receiver.until(&keys, serve).await;
    let delays = |wanted: Kind| {
        made.iter()
            .filter(|(kind, _, _)| *kind == wanted)
            .map(|(_, key, at)| (times[key] - *at).as_secs_f64() * 1000.0)
            .collect()
    };
    (delays(Kind::Poll), delays(Kind::Push))
}

/// Resident memory of a fresh server, in MiB: warmed up with no
/// subscriptions, then with `n`, then with `2 n` polled once each; and the
/// seconds until each `n` had been polled.
async fn memory(bed: &Bed, round: usize, n: usize) -> ([f64; 3], [f64; 2]) {
    let serve = bed.serve(&format!("bench memory {round}"), false).await;
    let client = http_client(64);
    // Warm-up: the pool's instances, an action's and a poll's paths.
    let action = serve.url(&format!(
        "/connections/{}/actions/users.me",
        serve.connection
    ));
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..MAKERS {
        let (client, action) = (client.clone(), action.clone());
        warm.spawn(async move {
            for _ in 0..10 {
                let (status, answer) = api(&client, "POST", &action, Some(json!({})))
                    .await
                    .unwrap();
                assert_eq!(status, 200, "{answer}");
            }
        });
    }
    warm.join_all().await;
    let one = serve
        .subscribe(
            &client,
            json!({"trigger": "mention.new", "interval_secs": 3600}),
        )
        .await;
    serve.until_started(&client, 1).await;
    let (status, answer) = api(
        &client,
        "DELETE",
        &serve.url(&format!("/subscriptions/{}", one["id"].as_str().unwrap())),
        None,
    )
    .await
    .unwrap();
    assert!((200..300).contains(&status), "{status} {answer}");
    assert_eq!(serve.started(&client).await, 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut rss = [mib(serve.rss_kib()), 0.0, 0.0];
    let mut fill = [0.0; 2];
    for step in 0..2 {
        let started = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut makers = tokio::task::JoinSet::new();
        for _ in 0..MAKERS {
            let (client, next) = (client.clone(), next.clone());
            let url = serve.url(&format!("/connections/{}/subscriptions", serve.connection));
            makers.spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let (status, created) = api(
                        &client,
                        "POST",
                        &url,
                        Some(json!({"trigger": "mention.new", "interval_secs": 3600})),
                    )
                    .await
                    .unwrap();
                    assert_eq!(status, 201, "{created}");
                    assert_eq!(created["delivery"], "poll", "{created}");
                }
            });
        }
        makers.join_all().await;
        serve.until_started(&client, n * (step + 1)).await;
        fill[step] = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss[step + 1] = mib(serve.rss_kib());
    }
    (rss, fill)
}

fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(f64::total_cmp);
    samples
}

fn median(samples: &[f64]) -> f64 {
    let s = sorted(samples.to_vec());
    s[s.len() / 2]
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let s = sorted(samples.to_vec());
    s[((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1]
}

/// What the bench ran on: processors, CPU model, memory.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("{cpus} CPUs ({model}), {ram} RAM, {profile} build")
}

#[tokio::main]
async fn main() {
    let rounds = env_number("BENCH_ROUNDS", 3);
    let n = env_number("EVENTS", 300);
    let k = env_number("SINGLES", 20);
    let subscriptions = env_number("SUBSCRIPTIONS", 1000);
    let x = Emulator::start().await.unwrap();
    for endpoint in [
        Endpoint::UsersMe,
        Endpoint::Mentions,
        Endpoint::FollowLists,
        Endpoint::UsersLookup,
        Endpoint::CreateWebhook,
        Endpoint::ListWebhooks,
        Endpoint::ValidateWebhook,
        Endpoint::ReplayWebhook,
        Endpoint::CreateActivitySubscription,
        Endpoint::ListActivitySubscriptions,
    ] {
        x.set_rate_limit(endpoint, u32::MAX);
    }
    for author in 0..AUTHORS {
        x.add_user(&format!("author{author}"));
    }
    let connector = support::x_connector().await;
    let bed = Bed { x, connector };
    let x = &bed.x;

    // One server, both subscriptions of `ada`: mention.new polled,
    // follower.new pushed.
    let serve = bed.serve("bench triggers", true).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !x.webhooks().iter().any(|w| w.valid) {
        assert!(
            Instant::now() < deadline,
            "no webhook was registered:\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (receiver, target) = Receiver::start().await;
    let client = http_client(64);
    let polled = serve
        .subscribe(
            &client,
            json!({"trigger": "mention.new", "target_url": target, "interval_secs": INTERVAL_SECS}),
        )
        .await;
    assert_eq!(polled["delivery"], "poll", "{polled}");
    let pushed = serve
        .subscribe(
            &client,
            json!({"trigger": "follower.new", "target_url": target, "interval_secs": INTERVAL_SECS}),
        )
        .await;
    assert_eq!(pushed["delivery"], "push", "{pushed}");
    // The mentions' first poll sets the baseline.
    serve.until_started(&client, 1).await;

    println!("{}", machine());
    println!(
        "{rounds} rounds; each: a burst of {n} events of each kind, {k} single events of each kind, {subscriptions} + {subscriptions} subscriptions on a fresh server"
    );
    let kinds = [Kind::Poll, Kind::Push];
    let mut rate: [Vec<f64>; 2] = Default::default();
    let mut drain: [Vec<f64>; 2] = Default::default();
    let mut delay: [Vec<f64>; 2] = Default::default();
    let mut base = Vec::new();
    let mut per_first = Vec::new();
    let mut per_second = Vec::new();
    let mut fills = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (r, d) = burst(x, &serve, &receiver, kinds[i], round, n).await;
            rate[i].push(r);
            drain[i].push(d);
            println!(
                "round {round} burst  {:<20} {:>8.1} events/s end to end  {:>8.1} events/s drained",
                kinds[i].name(),
                r,
                d
            );
        }
        let (poll, push) = singles(x, &serve, &receiver, round, k).await;
        println!(
            "round {round} single poll median {:>7.0} ms  push median {:>7.0} ms",
            median(&poll),
            median(&push)
        );
        delay[0].extend(poll);
        delay[1].extend(push);
        let (rss, fill) = memory(&bed, round, subscriptions).await;
        let per = |from: f64, to: f64| (to - from) * 1000.0 / subscriptions as f64;
        base.push(rss[0]);
        per_first.push(per(rss[0], rss[1]));
        per_second.push(per(rss[1], rss[2]));
        fills.extend(fill);
        println!(
            "round {round} memory {:.1} MiB with none, {:.1} MiB with {subscriptions}, {:.1} MiB with {} (first polls of each {subscriptions} took {:.1} s, {:.1} s)",
            rss[0],
            rss[1],
            rss[2],
            2 * subscriptions,
            fill[0],
            fill[1]
        );
    }
    // Anything late or repeated arrives within a delivery loop's rest.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expected = rounds * 2 * (n + k);
    let repeated = receiver.repeated();
    assert!(repeated.is_empty(), "events received twice: {repeated:?}");
    assert_eq!(receiver.len(), expected, "events received");

    println!("\n{}", machine());
    println!(
        "medians of {rounds} rounds; delays over {} single events of each kind; each of {expected} events received once",
        rounds * k
    );
    println!(
        "{:<20} {:>16} {:>14} {:>12} {:>12}",
        "delivery", "events/s e2e", "drained/s", "delay p50", "delay p90"
    );
    for (i, kind) in kinds.iter().enumerate() {
        println!(
            "{:<20} {:>16.1} {:>14.1} {:>9.0} ms {:>9.0} ms",
            kind.name(),
            median(&rate[i]),
            median(&drain[i]),
            median(&delay[i]),
            percentile(&delay[i], 0.9)
        );
    }
    println!(
        "{:<20} {:>15.2}x {:>13.2}x {:>11.3}x {:>11.3}x",
        "push / poll",
        median(&rate[1]) / median(&rate[0]),
        median(&drain[1]) / median(&drain[0]),
        median(&delay[1]) / median(&delay[0]),
        percentile(&delay[1], 0.9) / percentile(&delay[0], 0.9)
    );
    println!(
        "memory: {:.1} MiB with no subscriptions; {:.2} MiB per 1,000 for the first {subscriptions}, {:.2} MiB per 1,000 for the next (first polls: {:.0} subscriptions/s)",
        median(&base),
        median(&per_first),
        median(&per_second),
        subscriptions as f64 / median(&fills)
    );
}
