//! `users.me` as an MCP tool call against the same action through the JSON
//! API and through `host-harness run`, side by side in one run:
//!
//! 1. latency: one `host-harness serve` (release build, SQLite store, a
//!    bearer connection of `ada`) answers `POST /mcp?connection=ID` with a
//!    `tools/call` (protocol 2025-11-25, the version the TypeScript SDK
//!    speaks, JSON responses) and `POST /api/v1/connections/ID/actions/
//!    users.me`, one request after another over a kept-alive connection,
//!    the two taking turns in rounds; and `host-harness run users.me
//!    --connection ID`, a process per call, as a desktop client would
//!    start one without MCP;
//! 2. CPU per call: the server's user and system time (`/proc/PID/stat`)
//!    over each round, divided by its calls; the `run` processes' own
//!    (`wait4`'s rusage);
//! 3. memory: the server's resident set after each side's rounds. The MCP
//!    endpoint keeps no session, so a node holds none however many
//!    clients call it.
//!
//! `cargo bench -p host-harness --bench mcp` (results on stdout;
//! `BENCH_SAMPLES` calls per side and round, default 300; `BENCH_ROUNDS`,
//! default 5). The emulator runs in a child process (`--serve-emulator`).

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{HttpClient, env_number, free_port, http_client};

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("--serve-emulator") => support::serve_emulator(1_000_000_000),
        _ => compare(),
    }
}

/// The host process with the bench's data directory and routes.
fn host(dir: &Path, emulator: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-harness"));
    command
        .env(
            "HOST_HARNESS_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled"),
        )
        .env_remove("HOST_HARNESS_MASTER_KEY")
        .env_remove("HOST_HARNESS_MASTER_KEYS")
        .env_remove("HOST_HARNESS_API_KEY")
        .env_remove("HOST_HARNESS_DATABASE_URL")
        .env_remove("HOST_HARNESS_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--route",
            &format!("api.x.com={emulator}"),
            "--route",
            &format!("x.com={emulator}"),
        ])
        .args(args);
    command
}

async fn post(client: &HttpClient, url: &str, headers: &[(&str, &str)], body: &Value) -> Value {
    let mut request = http::Request::post(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answer: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{status}: {}", String::from_utf8_lossy(&bytes)));
    assert!(status.is_success(), "{status}: {answer}");
    answer
}

/// Clock ticks of CPU (user and system) process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime
    // are the 14th and 15th of the line.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median_f64(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// The server and what a call of each side needs.
struct Server {
    child: Child,
    origin: String,
    connection: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn compare() {
    let samples = env_number("BENCH_SAMPLES", 300);
    let rounds = env_number("BENCH_ROUNDS", 5);
    let me = std::env::current_exe().unwrap();
    let mut emulator = Command::new(&me)
        .arg("--serve-emulator")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(emulator.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "machine: {} cores; {rounds} rounds of {samples} calls per side",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let child = host(
        dir.path(),
        &url,
        &["serve", "--bind", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let client = http_client(4);
    let deadline = Instant::now() + Duration::from_secs(120);
    let created = loop {
        let request = http::Request::post(format!("{origin}/api/v1/connections"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({"method": "bearer", "fields": {"bearer_token": token}}).to_string(),
            )))
            .unwrap();
        if let Ok(response) = client.request(request).await {
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            break serde_json::from_slice::<Value>(&bytes).unwrap();
        }
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let server = Server {
        child,
        origin,
        connection: created["id"].as_str().unwrap().to_string(),
    };
    let pid = server.child.id();

    let api_url = format!(
        "{}/api/v1/connections/{}/actions/users.me",
        server.origin, server.connection
    );
    let mcp_url = format!("{}/mcp?connection={}", server.origin, server.connection);
    let mcp_headers = [
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "users.me", "arguments": {}}});
    let api = || async {
        let answer = post(&client, &api_url, &[], &json!({})).await;
        assert_eq!(answer["output"]["user"]["username"], "ada");
    };
    let mcp = || async {
        let answer = post(&client, &mcp_url, &mcp_headers, &call).await;
        assert_eq!(
            answer["result"]["structuredContent"]["user"]["username"], "ada",
            "{answer}"
        );
    };
    for _ in 0..30 {
        api().await;
        mcp().await;
    }
    let rss_start = rss_kib(pid);

    let mut times = (Vec::new(), Vec::new());
    let mut cpu = (Vec::new(), Vec::new());
    let mut rss = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for turn in 0..2 {
            let is_mcp = (turn + round) % 2 == 1;
            let before = cpu_ticks(pid);
            let mut round_times = Vec::with_capacity(samples);
            for _ in 0..samples {
                let started = Instant::now();
                if is_mcp {
                    mcp().await;
                } else {
                    api().await;
                }
                round_times.push(started.elapsed());
            }
            let per_call =
                (cpu_ticks(pid) - before) as f64 / ticks_per_second() / samples as f64 * 1e6;
            let (t, c, r) = if is_mcp {
                (&mut times.1, &mut cpu.1, &mut rss.1)
            } else {
                (&mut times.0, &mut cpu.0, &mut rss.0)
            };
            t.extend(round_times);
            c.push(per_call);
            r.push(rss_kib(pid));
        }
    }

    // `run`: a process per call, on the stored connection.
    let runs = samples.clamp(5, 20);
    let mut run_times = Vec::new();
    let mut run_cpu = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = host(
            dir.path(),
            &url,
            &["run", "users.me", "--connection", &server.connection],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on a child this process started, once.
        let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        assert_eq!(waited, child.id() as i32);
        assert_eq!(status, 0, "host-harness run failed");
        run_times.push(started.elapsed());
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        run_cpu.push((seconds(usage.ru_utime) + seconds(usage.ru_stime)) * 1e6);
        // Reaped already: nothing left for `Child` to wait for.
        let _ = child.try_wait();
    }

    let (api_median, mcp_median, run_median) =
        (median(times.0), median(times.1), median(run_times));
    let (api_cpu, mcp_cpu, run_cpu) = (median_f64(cpu.0), median_f64(cpu.1), median_f64(run_cpu));
    println!("\n1-2. users.me, median latency and CPU per call");
    println!(
        "   JSON API:        {:8.1} us  {:8.1} us CPU",
        us(api_median),
        api_cpu
    );
    println!(
        "   MCP tools/call:  {:8.1} us  {:8.1} us CPU   ({:.2}x the API's latency, {:.2}x its CPU)",
        us(mcp_median),
        mcp_cpu,
        mcp_median.as_secs_f64() / api_median.as_secs_f64(),
        mcp_cpu / api_cpu
    );
    println!(
        "   host-harness run: {:8.1} us  {:8.1} us CPU   (a process per call, median of {runs})",
        us(run_median),
        run_cpu
    );
    println!("\n3. the server's resident set");
    println!("   after warming up:             {rss_start} KiB");
    println!(
        "   after each API round (KiB):   {}",
        rss.0
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "   after each MCP round (KiB):   {}",
        rss.1
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    drop(server);
    emulator.kill().ok();
    emulator.wait().ok();
}
