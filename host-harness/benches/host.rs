//! The host's own costs, each measured side by side with a native Rust
//! client doing the same request to the same emulator in the same run:
//!
//! 1. `host-harness run users.me` end to end, cold (compiling the
//!    component: `--no-compile-cache`) and warm (from the compile cache),
//!    against a native client process making the same `GET /2/users/me`;
//! 2. instantiation: a fresh instance plus one call that sends nothing, for
//!    a component that does no work (the test fixture's `ok.behave`) and
//!    for the X connector's `post.validate`;
//! 3. per-action overhead: `users.me` through the X connector against the
//!    native client's request, one after another (goal: at most 1.15× the
//!    native median), and between them the fixture's `ok.fetch`, the same
//!    request from a component that does nothing else: the floor any
//!    component pays for a request through this host;
//! 4. throughput of 200 concurrent `users.me` actions on one engine, with a
//!    tokio runtime of one worker thread and of two;
//!
//! parts 2 to 4 each on demand and with instances from a pool
//! (`HostConfig::instance_pool`), side by side;
//! 5. the component's size.
//!
//! `cargo bench -p host-harness --bench host` (results on stdout;
//! `BENCH_SAMPLES` sets the samples of parts 2 and 3, default 300). The
//! emulator runs in a child process (`--serve-emulator`), as does the
//! native client of part 1 (`--native-get URL TOKEN`).

mod support;

use host_harness::manifest::AuthKind;
use host_harness::{
    CompileCache, Connection, ConnectionFacts, HostConfig, InstancePool, LoadedConnector, Manifest,
    Origin, Runtime,
};
use http_body_util::{BodyExt, Empty};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const X_MANIFEST: &str = include_str!("../../manifests/x.json");
const PLAIN_MANIFEST: &str = include_str!("../../tests/fixtures/hostile-component/manifest.json");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve-emulator") => support::serve_emulator(1_000_000),
        Some("--native-get") => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let body = runtime.block_on(native_get(&args[2], &args[3]));
            println!("{body}");
        }
        _ => compare(),
    }
}

/// `GET /2/users/me` over a new connection, as the component's host does
/// for each request; the body, parsed, with the username checked.
async fn native_get(url: &str, token: &str) -> String {
    let authority = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .uri("/2/users/me?user.fields=created_at,description,profile_image_url,protected,public_metrics,verified")
        .header("host", "api.x.com")
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["data"]["username"], "ada");
    body.to_string()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn compare() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let me = std::env::current_exe().unwrap();
    let mut emulator = Command::new(&me)
        .arg("--serve-emulator")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(emulator.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    println!(
        "machine: {} cores; samples per in-process measure: {samples}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    end_to_end(&url, &token);
    in_process(&url, &token, samples);

    let size = std::fs::metadata(component_artifacts::X_CONNECTOR_PATH)
        .unwrap()
        .len();
    println!(
        "\n5. component size: {size} bytes ({:.2} MiB)",
        size as f64 / 1048576.0
    );
    emulator.kill().ok();
    emulator.wait().ok();
}

/// Part 1: whole processes.
fn end_to_end(url: &str, token: &str) {
    let cache = tempfile::tempdir().unwrap();
    let host = |cached: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        c.args(["run", "users.me", "--bearer-token-env", "BENCH_X_TOKEN"])
            .args(["--route", &format!("api.x.com={url}")])
            .env("BENCH_X_TOKEN", token)
            .env("HOST_HARNESS_CACHE_DIR", cache.path())
            .env_remove("HOST_HARNESS_LOG")
            .stdout(Stdio::null());
        if !cached {
            c.arg("--no-compile-cache");
        }
        c
    };
    let native = || {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--native-get", url, token]).stdout(Stdio::null());
        c
    };
    let time = |mut command: Command| {
        let started = Instant::now();
        let status = command.status().unwrap();
        assert!(status.success());
        started.elapsed()
    };
    // Fill the cache once.
    time(host(true));
    let rounds = 7;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut natives = Vec::new();
    for _ in 0..rounds {
        cold.push(time(host(false)));
        warm.push(time(host(true)));
        natives.push(time(native()));
    }
    let (cold, warm, natives) = (median(cold), median(warm), median(natives));
    println!("\n1. end to end, median of {rounds} processes each");
    println!(
        "   host-harness run, cold (compiling):  {:8.1} ms",
        ms(cold)
    );
    println!(
        "   host-harness run, warm (cached):     {:8.1} ms",
        ms(warm)
    );
    println!(
        "   native client process:               {:8.1} ms",
        ms(natives)
    );
    println!(
        "   cold/warm {:.1}x; warm/native {:.1}x",
        cold.as_secs_f64() / warm.as_secs_f64(),
        warm.as_secs_f64() / natives.as_secs_f64()
    );
}

/// Parts 2 to 4: one engine in this process.
fn in_process(url: &str, token: &str, samples: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let connector = runtime.block_on(load(cache.path(), url, None));
    let pooled = runtime.block_on(load(cache.path(), url, Some(POOL)));
    let connection = Connection::bearer(
        ConnectionFacts {
            id: "bench".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        },
        secrecy::SecretString::from(token.to_string()),
    );

    let plain = runtime.block_on(load_plain(url));

    // 2. Instantiation and one call that sends nothing.
    let validate = r#"{"text": "How long is this?"}"#;
    let mut instantiations = (Vec::new(), Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..samples {
            let started = Instant::now();
            plain.invoke(&connection, "ok.behave", "{}").await.unwrap();
            instantiations.0.push(started.elapsed());
            let started = Instant::now();
            connector
                .invoke(&connection, "post.validate", validate)
                .await
                .unwrap();
            instantiations.1.push(started.elapsed());
            let started = Instant::now();
            pooled
                .invoke(&connection, "post.validate", validate)
                .await
                .unwrap();
            instantiations.2.push(started.elapsed());
        }
    });
    println!("\n2. instantiation + a call that sends nothing, median of {samples}");
    println!(
        "   a component that does no work (ok.behave): {:8.3} ms",
        ms(median(instantiations.0))
    );
    println!(
        "   the X connector's post.validate:            {:8.3} ms",
        ms(median(instantiations.1))
    );
    println!(
        "   the same, instances from a pool:            {:8.3} ms",
        ms(median(instantiations.2))
    );

    // 3. The same request through the X connector, through a component that
    // does nothing else, and natively, interleaved.
    let mut through_connector = Vec::new();
    let mut through_pooled = Vec::new();
    let mut through_plain = Vec::new();
    let mut native = Vec::new();
    runtime.block_on(async {
        for _ in 0..samples {
            let started = Instant::now();
            let out = connector
                .invoke(&connection, "users.me", "{}")
                .await
                .unwrap();
            through_connector.push(started.elapsed());
            assert_eq!(out["user"]["username"], "ada");
            let started = Instant::now();
            let out = pooled.invoke(&connection, "users.me", "{}").await.unwrap();
            through_pooled.push(started.elapsed());
            assert_eq!(out["user"]["username"], "ada");
            let started = Instant::now();
            let out = plain.invoke(&connection, "ok.fetch", "{}").await.unwrap();
            through_plain.push(started.elapsed());
            assert_eq!(out["status"], 200);
            let started = Instant::now();
            native_get(url, token).await;
            native.push(started.elapsed());
        }
    });
    let (connector_median, pooled_median, plain_median, native) = (
        median(through_connector),
        median(through_pooled),
        median(through_plain),
        median(native),
    );
    let ratio = |d: Duration| d.as_secs_f64() / native.as_secs_f64();
    println!("\n3. users.me, median of {samples} each, interleaved");
    println!(
        "   through the X connector:          {:8.3} ms  {:.2}x (goal: at most 1.15x)",
        ms(connector_median),
        ratio(connector_median)
    );
    println!(
        "   the same, instances from a pool:  {:8.3} ms  {:.2}x",
        ms(pooled_median),
        ratio(pooled_median)
    );
    println!(
        "   through a component doing no work: {:8.3} ms  {:.2}x",
        ms(plain_median),
        ratio(plain_median)
    );
    println!(
        "   native client:                     {:8.3} ms",
        ms(native)
    );

    // 4. Throughput on one and on two worker threads.
    println!("\n4. 200 concurrent users.me actions on one engine");
    for (label, connector) in [("on demand", &connector), ("pooled", &pooled)] {
        throughput(label, connector, &connection);
    }
}

/// Rounds of 200 concurrent actions in part 4.
const ROUNDS: usize = 9;

/// Part 4 for one connector: the median round on one and on two worker
/// threads.
fn throughput(label: &str, connector: &LoadedConnector, connection: &Connection) {
    let mut rates = Vec::new();
    for workers in [1, 2] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let rate = runtime.block_on(async {
            let mut rounds = Vec::new();
            for _ in 0..ROUNDS {
                let started = Instant::now();
                let mut runs = tokio::task::JoinSet::new();
                for _ in 0..200 {
                    let (connector, connection) = (connector.clone(), connection.clone());
                    runs.spawn(async move {
                        connector
                            .invoke(&connection, "users.me", "{}")
                            .await
                            .unwrap();
                    });
                }
                while let Some(done) = runs.join_next().await {
                    done.unwrap();
                }
                rounds.push(started.elapsed());
            }
            200.0 / median(rounds).as_secs_f64()
        });
        println!(
            "   {label}, {workers} worker thread(s): {rate:8.0} actions/s (median of {ROUNDS} rounds)"
        );
        rates.push(rate);
    }
    println!(
        "   {label}, scaling 1 -> 2 threads: {:.2}x",
        rates[1] / rates[0]
    );
}

/// The hostile test fixture, for its two well-behaved actions.
async fn load_plain(url: &str) -> LoadedConnector {
    let runtime = Runtime::new(HostConfig::default()).unwrap();
    let component = std::fs::read(component_artifacts::HOSTILE_COMPONENT_PATH).unwrap();
    let mut plain = runtime
        .load(&component, Manifest::from_json(PLAIN_MANIFEST).unwrap())
        .await
        .unwrap();
    plain
        .route("api.x.com", Origin::parse(url).unwrap())
        .unwrap();
    plain
}

/// The pool the pooled side runs with: room for part 4's 200 actions.
const POOL: InstancePool = InstancePool {
    max_concurrent_actions: 256,
};

async fn load(cache: &std::path::Path, url: &str, pool: Option<InstancePool>) -> LoadedConnector {
    let config = HostConfig {
        instance_pool: pool,
        ..HostConfig::default()
    };
    let runtime = Runtime::new(config)
        .unwrap()
        .with_compile_cache(CompileCache::new(cache));
    let mut connector = runtime
        .load(
            component_artifacts::x_connector(),
            Manifest::from_json(X_MANIFEST).unwrap(),
        )
        .await
        .unwrap();
    connector.route_api_hosts(&Origin::parse(url).unwrap());
    connector
}
