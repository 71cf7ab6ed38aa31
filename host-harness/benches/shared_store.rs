//! Several hosts on one store, measured side by side in one run: the same
//! workload through `host-harness serve` (release build) on
//!
//! - one node on the SQLite file,
//! - one node on PostgreSQL,
//! - two nodes on one PostgreSQL database, requests alternating,
//!
//! each with `ada` connected through the emulator's consent page. Rounds
//! interleave the set-ups, so that whatever else the machine does falls on
//! all of them alike.
//!
//! 1. Throughput and latency: `CLIENTS` concurrent clients (default 32)
//!    send `users.me` through the JSON API, over kept-alive connections,
//!    until `REQUESTS` (default 3000) are served; actions per second, and
//!    the median and 99th percentile of each request's time.
//! 2. A refresh under contention: 200 concurrent `users.me` right after the
//!    access token went stale (every one of them needs the refresh), against
//!    the same burst on a fresh token; the difference is what the refresh
//!    cost the burst, from expiry to the last waiter served. The token
//!    endpoint is the emulator's, which answers at once: a real provider's
//!    latency adds to it, once. Three pairs of bursts per round; and, the
//!    same way, one action alone on a fresh and on a stale token, which
//!    puts the refresh itself (lease, token request, commit) on the
//!    action's path with nothing else running.
//!
//! `cargo bench -p host-harness --bench shared_store` (needs the PostgreSQL
//! server of `HOST_HARNESS_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). `BENCH_ROUNDS` (default 3).

#[path = "../../tests/support/browser.rs"]
mod browser;
mod support;

use base64::Engine;
use bytes::Bytes;
use credential_store::{MasterKey, Store, StoreLocation};
use host_harness::outgoing::HttpTimeouts;
use host_harness::{ConnectRequest, ConnectionManager, Manifest, Origin, Routes};
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{HttpClient, env_number, free_port, http_client};

const SCOPES: &str = "tweet.read tweet.write users.read offline.access";
const BURST: usize = 200;
/// Fresh and stale bursts per round.
const BURST_PAIRS: usize = 3;

fn server_url() -> String {
    std::env::var("HOST_HARNESS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn postgres() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("the bench needs the PostgreSQL server");
    tokio::spawn(connection);
    client
}

/// One way of running hosts: its store, its nodes, its connection.
struct SetUp {
    name: &'static str,
    location: StoreLocation,
    key: MasterKey,
    nodes: Vec<Child>,
    origins: Vec<String>,
    connection: String,
    _dir: tempfile::TempDir,
}

impl Drop for SetUp {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// The emulator, and the X connector loaded once, to connect `ada` in
/// each set-up the way a user does.
struct Bed {
    x: x_emulator::Emulator,
    connector: host_harness::LoadedConnector,
    callback: String,
    public_port: u16,
}

impl Bed {
    async fn set_up(
        &self,
        name: &'static str,
        database_url: Option<String>,
        nodes: usize,
    ) -> SetUp {
        let dir = tempfile::tempdir().unwrap();
        let location = match &database_url {
            Some(url) => StoreLocation::from_database_url(url).unwrap(),
            None => StoreLocation::Sqlite(dir.path().join("connections.db")),
        };
        let bytes: [u8; 32] = rand::random();
        let key = MasterKey::from_bytes(bytes);
        let store = Arc::new(Store::open(&location, &key).await.unwrap());
        let origin = Origin::parse(&self.x.base_url()).unwrap();
        let manifest = Manifest::from_json(support::X_MANIFEST).unwrap();
        let routes = Routes::all_hosts_of(&manifest, &origin);
        let mut connector = self.connector.clone();
        connector.set_routes(routes.clone());
        let manager = ConnectionManager::new(store, connector, routes, HttpTimeouts::default());
        let app = self.x.register_app(name, &[&self.callback], true);
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
        let pending = manager
            .begin_oauth2(&record.id, &self.callback)
            .await
            .unwrap();
        let redirect = browser::consent(&pending.authorization_url, "ada", true).await;
        manager
            .finish_oauth2(&record.id, pending, &browser::query_of(&redirect))
            .await
            .unwrap();

        let key_text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut children = Vec::new();
        let mut origins = Vec::new();
        for _ in 0..nodes {
            let port = free_port();
            let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
            command
                .env(
                    "HOST_HARNESS_CACHE_DIR",
                    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
                )
                .env("HOST_HARNESS_MASTER_KEY", &key_text)
                .env_remove("HOST_HARNESS_API_KEY")
                .env_remove("HOST_HARNESS_LOG")
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
                    &format!("http://127.0.0.1:{}", self.public_port),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(url) = &database_url {
                command.args(["--database-url", url]);
            }
            children.push(command.spawn().unwrap());
            origins.push(format!("http://127.0.0.1:{port}"));
        }
        let set_up = SetUp {
            name,
            location,
            key,
            nodes: children,
            origins,
            connection: record.id,
            _dir: dir,
        };
        let client = http_client(256);
        for origin in &set_up.origins {
            let deadline = Instant::now() + Duration::from_secs(120);
            while send(&client, origin, &set_up.connection).await.is_err() {
                assert!(Instant::now() < deadline, "{name}: {origin} did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        set_up
    }
}

/// `users.me` on the connection through one node's API; an error unless it
/// answered 200.
async fn send(client: &HttpClient, origin: &str, connection: &str) -> Result<(), String> {
    let request = http::Request::post(format!(
        "{origin}/api/v1/connections/{connection}/actions/users.me"
    ))
    .header("content-type", "application/json")
    .body(Full::new(Bytes::from_static(b"{}")))
    .unwrap();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    if status == 200 {
        Ok(())
    } else {
        Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body.to_bytes())
        ))
    }
}

/// `requests` actions from `clients` concurrent clients, alternating
/// between the nodes; the time of each, and the whole run's.
async fn load(set_up: &SetUp, clients: usize, requests: usize) -> (Vec<Duration>, Duration) {
    let client = http_client(256);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, next) = (client.clone(), next.clone());
        let origins = set_up.origins.clone();
        let connection = set_up.connection.clone();
        workers.spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return times;
                }
                let t = Instant::now();
                send(&client, &origins[i % origins.len()], &connection)
                    .await
                    .unwrap();
                times.push(t.elapsed());
            }
        });
    }
    let times = workers.join_all().await.into_iter().flatten().collect();
    (times, started.elapsed())
}

/// 200 concurrent actions; the time until the last is served.
async fn burst(set_up: &SetUp) -> Duration {
    let (_, whole) = load(set_up, BURST, BURST).await;
    whole
}

/// One action alone, over a connection already open; its time.
async fn single(set_up: &SetUp) -> Duration {
    let client = http_client(256);
    send(&client, &set_up.origins[0], &set_up.connection)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    send(&client, &set_up.origins[0], &set_up.connection)
        .await
        .unwrap();
    started.elapsed()
}

/// The same, the token made stale between the two requests.
async fn single_after_expiry(set_up: &SetUp) -> Duration {
    let client = http_client(256);
    send(&client, &set_up.origins[0], &set_up.connection)
        .await
        .unwrap();
    expire(set_up).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    send(&client, &set_up.origins[0], &set_up.connection)
        .await
        .unwrap();
    started.elapsed()
}

async fn expire(set_up: &SetUp) {
    let store = Store::open(&set_up.location, &set_up.key).await.unwrap();
    let (mut tokens, version) = store.tokens(&set_up.connection).await.unwrap().unwrap();
    tokens.access_expires_at = Some(1);
    store
        .save_tokens(&set_up.connection, &tokens, Some(version))
        .await
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[derive(Default)]
struct Results {
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    fresh: Vec<f64>,
    stale: Vec<f64>,
    single_fresh: Vec<f64>,
    single_stale: Vec<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rounds = env_number("BENCH_ROUNDS", 3);
    let clients = env_number("CLIENTS", 32);
    let requests = env_number("REQUESTS", 3000);
    let x = x_emulator::Emulator::start().await.unwrap();
    x.set_rate_limit(x_emulator::Endpoint::UsersMe, u32::MAX);
    let public_port = free_port();
    let connector = support::x_connector().await;
    let bed = Bed {
        x,
        connector,
        callback: format!("http://127.0.0.1:{public_port}/callback"),
        public_port,
    };
    // Each set-up on PostgreSQL has a schema of its own on the one server.
    let run = format!("bench_{:016x}", rand::random::<u64>());
    let schemas = [format!("{run}_one"), format!("{run}_two")];
    for schema in &schemas {
        postgres()
            .await
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
    }
    let separator = if server_url().contains('?') { '&' } else { '?' };
    let database = |schema: &str| {
        format!(
            "{}{separator}options=-c%20search_path%3D{schema}",
            server_url()
        )
    };
    let set_ups = vec![
        bed.set_up("sqlite, 1 node", None, 1).await,
        bed.set_up("postgres, 1 node", Some(database(&schemas[0])), 1)
            .await,
        bed.set_up("postgres, 2 nodes", Some(database(&schemas[1])), 2)
            .await,
    ];
    let mut results: Vec<Results> = set_ups.iter().map(|_| Results::default()).collect();
    let refreshes_before = bed.x.arrivals("/2/oauth2/token");

    println!(
        "{rounds} rounds; each: {requests} actions from {clients} clients, then bursts of {BURST}"
    );
    for round in 0..rounds {
        for (set_up, results) in set_ups.iter().zip(&mut results) {
            // Warm: pools filled, pages of the store cached.
            load(set_up, clients, 200).await;
            let (mut times, whole) = load(set_up, clients, requests).await;
            times.sort();
            results.rate.push(requests as f64 / whole.as_secs_f64());
            results.p50.push(ms(percentile(&times, 0.50)));
            results.p99.push(ms(percentile(&times, 0.99)));
            for _ in 0..BURST_PAIRS {
                results.fresh.push(ms(burst(set_up).await));
                expire(set_up).await;
                results.stale.push(ms(burst(set_up).await));
                results.single_fresh.push(ms(single(set_up).await));
                results
                    .single_stale
                    .push(ms(single_after_expiry(set_up).await));
            }
            println!(
                "round {round} {:<18} {:>7.0} actions/s  p50 {:>6.2} ms  p99 {:>6.2} ms  burst fresh {:>6.1} ms  stale {:>6.1} ms",
                set_up.name,
                results.rate.last().unwrap(),
                results.p50.last().unwrap(),
                results.p99.last().unwrap(),
                results.fresh.last().unwrap(),
                results.stale.last().unwrap()
            );
        }
    }
    let refreshes = bed.x.arrivals("/2/oauth2/token") - refreshes_before;

    println!(
        "\nmedians of {rounds} rounds ({} bursts of each kind)",
        rounds * BURST_PAIRS
    );
    println!(
        "{:<18} {:>10} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "set-up",
        "actions/s",
        "p50 ms",
        "p99 ms",
        "vs sqlite",
        "fresh ms",
        "stale ms",
        "1 fresh",
        "1 stale"
    );
    let base = median(results[0].rate.clone());
    for (set_up, r) in set_ups.iter().zip(&results) {
        let rate = median(r.rate.clone());
        println!(
            "{:<18} {:>10.0} {:>8.2} {:>8.2} {:>9.2}x {:>9.1} {:>9.1} {:>9.2} {:>9.2}",
            set_up.name,
            rate,
            median(r.p50.clone()),
            median(r.p99.clone()),
            rate / base,
            median(r.fresh.clone()),
            median(r.stale.clone()),
            median(r.single_fresh.clone()),
            median(r.single_stale.clone()),
        );
    }
    println!(
        "token requests: {refreshes} for {} stale bursts (one refresh each expected)",
        rounds * set_ups.len() * BURST_PAIRS * 2
    );
    drop(set_ups);
    for schema in &schemas {
        postgres()
            .await
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
