//! What the host's observability costs an action, measured side by side in
//! one run:
//!
//! 1. tracing: `users.me` through the X connector in a host process set up
//!    three ways, each as an operator runs `serve`:
//!    - `none`: no subscriber at all (the host embedded as a library with
//!      no `tracing` subscriber installed);
//!    - `log`: the log at info (`-v`), formatted as text to a sink, so the
//!      formatting is counted and a terminal's speed is not;
//!    - `otlp`: the same log, and every span exported over OTLP/HTTP to a
//!      collector on loopback (`OTEL_EXPORTER_OTLP_ENDPOINT`), through the
//!      SDK's batch processor as `serve` does;
//!
//!    each side its own process (a `tracing` subscriber is per process),
//!    the sides taking turns round after round, so that whatever else the
//!    machine does falls on all of them alike. An action makes two spans
//!    here (`action users.me` and its request to X); the collector decodes
//!    what it receives and the bench checks that every action's spans
//!    arrived.
//! 2. metrics: the recording calls an action makes (its count and latency
//!    histogram), and a store operation's, timed in a loop: metrics are
//!    always on, so their share is shown against the action's time.
//!
//! `cargo bench -p host-harness --bench telemetry` (results on stdout;
//! `BENCH_SAMPLES` actions per side and round, default 400; `BENCH_ROUNDS`,
//! default 5). The emulator and the collector run in a child process
//! (`--serve`).

mod support;

use axum::extract::State;
use host_harness::manifest::AuthKind;
use host_harness::{
    CompileCache, Connection, ConnectionFacts, HostConfig, Manifest, Origin, Runtime,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::env_number;

/// The set-ups of part 1, in the order of the first round.
const SIDES: [&str; 3] = ["none", "log", "otlp"];

/// Actions each side runs before it starts timing (connections opened,
/// instances' code paged in, the histogram's labels created).
const WARM_UP: usize = 30;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve") => serve(),
        Some("--side") => side(&args[2..]),
        _ => compare(),
    }
}

/// The child: the emulator and a collector that counts the spans it gets.
#[tokio::main]
async fn serve() {
    let x = x_emulator::Emulator::start().await.unwrap();
    x.set_rate_limit(x_emulator::Endpoint::UsersMe, 1_000_000_000);
    let spans = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .route(
            "/spans",
            axum::routing::get(|State(spans): State<Arc<AtomicU64>>| async move {
                spans.load(Ordering::Relaxed).to_string()
            }),
        )
        .with_state(spans);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("{}", x.base_url());
    println!(
        "{}",
        x.issue_user_token("ada", &["tweet.read", "users.read"])
    );
    println!("{collector}");
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}

/// `POST /v1/traces`: decoded, its spans counted, nothing kept.
async fn export(
    State(spans): State<Arc<AtomicU64>>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, [(&'static str, &'static str); 1]) {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "text/plain")],
        );
    };
    let count: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    spans.fetch_add(count as u64, Ordering::Relaxed);
    // An empty ExportTraceServiceResponse: everything was taken.
    (
        axum::http::StatusCode::OK,
        [("content-type", "application/x-protobuf")],
    )
}

/// A side of part 1, in a process of its own:
/// `--side NAME URL TOKEN CACHE_DIR SAMPLES`. Prints each action's time in
/// nanoseconds, one per line.
fn side(args: &[String]) {
    let [name, url, token, cache, samples] = args else {
        panic!("--side NAME URL TOKEN CACHE_DIR SAMPLES");
    };
    let samples: usize = samples.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let entered = runtime.enter();
    let export = install_subscriber(name);
    drop(entered);

    let times = runtime.block_on(async {
        let mut connector = Runtime::new(HostConfig::default())
            .unwrap()
            .with_compile_cache(CompileCache::new(std::path::Path::new(cache)))
            .load(
                component_artifacts::x_connector(),
                Manifest::from_json(support::X_MANIFEST).unwrap(),
            )
            .await
            .unwrap();
        connector.route_api_hosts(&Origin::parse(url).unwrap());
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
        let mut times = Vec::with_capacity(samples);
        for i in 0..WARM_UP + samples {
            let started = Instant::now();
            let out = connector
                .invoke(&connection, "users.me", "{}")
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(out["user"]["username"], "ada");
            if i >= WARM_UP {
                times.push(took);
            }
        }
        times
    });
    if let Some(export) = export {
        // Sends what the batch processor still holds before the process
        // ends, so the collector's count is complete.
        let _entered = runtime.enter();
        export.shutdown();
    }
    let mut out = std::io::stdout().lock();
    for t in times {
        writeln!(out, "{}", t.as_nanos()).unwrap();
    }
}

/// The subscriber of side `name`, installed for the whole process; the
/// exporter when the side exports.
fn install_subscriber(name: &str) -> Option<host_harness::telemetry::TraceExport> {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // The log at info, formatted and thrown away.
    macro_rules! log {
        () => {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::new("info"))
        };
    }
    match name {
        "none" => None,
        "log" => {
            tracing_subscriber::registry().with(log!()).init();
            None
        }
        "otlp" => {
            let export = host_harness::telemetry::TraceExport::from_env()
                .unwrap()
                .expect("OTEL_EXPORTER_OTLP_ENDPOINT is set for this side");
            // As `serve` installs it: spans at info, whatever the log shows.
            let spans = export
                .layer()
                .with_filter(Targets::new().with_default(LevelFilter::INFO));
            tracing_subscriber::registry()
                .with(spans)
                .with(log!())
                .init();
            Some(export)
        }
        other => panic!("no side {other}"),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn compare() {
    let samples = env_number("BENCH_SAMPLES", 400);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let me = std::env::current_exe().unwrap();
    let mut child = Command::new(&me)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    let collector = lines.next().unwrap().unwrap();
    let cache = tempfile::tempdir().unwrap();
    println!(
        "machine: {} cores; {rounds} rounds of {samples} actions per side",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Each side's times, all rounds together, and each round's median.
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); SIDES.len()];
    let mut round_medians: Vec<Vec<Duration>> = vec![Vec::new(); SIDES.len()];
    let mut exported_actions = 0u64;
    for round in 0..rounds {
        for turn in 0..SIDES.len() {
            let index = (turn + round) % SIDES.len();
            let name = SIDES[index];
            let spans_before = spans_received(&collector);
            let mut command = Command::new(&me);
            command
                .args(["--side", name, &url, &token])
                .arg(cache.path())
                .arg(samples.to_string())
                .env_remove("HOST_HARNESS_LOG")
                .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .env_remove("OTEL_SDK_DISABLED")
                .env_remove("OTEL_TRACES_EXPORTER")
                .stderr(Stdio::inherit());
            if name == "otlp" {
                command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector);
            } else {
                command.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
            }
            let output = command.output().unwrap();
            assert!(output.status.success(), "side {name} failed");
            let side: Vec<Duration> = String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .map(|l| Duration::from_nanos(l.parse().unwrap()))
                .collect();
            assert_eq!(side.len(), samples);
            let spans = spans_received(&collector) - spans_before;
            let actions = (WARM_UP + samples) as u64;
            if name == "otlp" {
                assert!(
                    spans >= 2 * actions,
                    "{spans} spans reached the collector for {actions} actions"
                );
                exported_actions += actions;
            } else {
                assert_eq!(spans, 0, "side {name} exported spans");
            }
            round_medians[index].push(median(side.clone()));
            times[index].extend(side);
        }
    }

    println!("\n1. users.me through the X connector, per action");
    println!("   side   median      p90     round medians (us)");
    let medians: Vec<Duration> = times.iter().map(|t| median(t.clone())).collect();
    for (i, name) in SIDES.iter().enumerate() {
        let rounds: Vec<String> = round_medians[i]
            .iter()
            .map(|d| format!("{:.0}", us(*d)))
            .collect();
        println!(
            "   {name:5} {:7.1} us {:7.1} us   {}",
            us(medians[i]),
            us(percentile(times[i].clone(), 0.9)),
            rounds.join(" ")
        );
    }
    let ratio = |a: usize, b: usize| medians[a].as_secs_f64() / medians[b].as_secs_f64();
    println!(
        "   log/none {:.3}x; otlp/log {:.3}x; otlp/none {:.3}x ({exported_actions} actions exported)",
        ratio(1, 0),
        ratio(2, 1),
        ratio(2, 0)
    );

    metrics(medians[0]);
    child.kill().ok();
    child.wait().ok();
}

/// How many spans the collector has decoded so far.
fn spans_received(collector: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use http_body_util::BodyExt;
        let client = support::http_client(1);
        let response = client
            .get(format!("{collector}/spans").parse().unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        std::str::from_utf8(&body).unwrap().parse().unwrap()
    })
}

/// Part 2: the metric calls an action makes, in a loop.
fn metrics(action: Duration) {
    const CALLS: u32 = 1_000_000;
    let took = Duration::from_micros(900);
    let time = |call: &dyn Fn()| {
        // The labels' series exist after the first call, as in a host that
        // has run for a while.
        call();
        let started = Instant::now();
        for _ in 0..CALLS {
            call();
        }
        started.elapsed() / CALLS
    };
    let per_action = time(&|| host_metrics::action("users.me", "ok", Some("acme"), took));
    let per_store = time(&|| host_metrics::store_operation("sqlite", took));
    println!("\n2. metrics, mean of {CALLS} calls each");
    println!(
        "   an action's count and latency:    {:6.0} ns ({:.3}% of the median action with no subscriber)",
        per_action.as_nanos(),
        100.0 * per_action.as_secs_f64() / action.as_secs_f64()
    );
    println!(
        "   a store operation's latency:      {:6.0} ns",
        per_store.as_nanos()
    );
    let exposition = host_metrics::metrics();
    let started = Instant::now();
    let text = exposition.encode();
    println!(
        "   GET /metrics' text ({} bytes): {:.0} us to encode",
        text.len(),
        us(started.elapsed())
    );
}
