//! Warm start: a whole `host-harness run users.me` process (release build,
//! compile cache filled) against processes that only make the request:
//! `curl`, a tweepy script (Python) and a twitter-api-v2 script (Node),
//! each making one `GET /2/users/me` to the same emulator on loopback,
//! over HTTPS as to X (the emulator's certificate from a CA made at start,
//! which each side is told to trust).
//!
//! Each process's CPU time (user and system, `ru_utime + ru_stime` from
//! `wait4`) and wall time are taken; rounds run every side once, rotating
//! which goes first, so that the sides are measured side by side.
//!
//! `cargo bench -p host-harness --bench start` (results on stdout;
//! `BENCH_ROUNDS` sets the rounds, default 31). The scripts' libraries are
//! installed on first use under `target/bench-clients` (pip and npm); a
//! side whose tools are missing is left out, and says so.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    cpu: Duration,
    wall: Duration,
}

/// The tweepy script: the library's own client, its host swapped for the
/// emulator's address at the HTTP session.
const TWEEPY: &str = r#"
import os, sys, requests, tweepy
base = sys.argv[1]
send = requests.Session.request
def routed(self, method, url, *args, **kwargs):
    return send(self, method, url.replace("https://api.twitter.com", base), *args, **kwargs)
requests.Session.request = routed
me = tweepy.Client(bearer_token=os.environ["BENCH_X_TOKEN"]).get_me(user_auth=False)
assert me.data.username == "ada", me
"#;

/// The twitter-api-v2 script: the library's own client, its v2 prefix
/// pointed at the emulator.
const TWITTER_API_V2: &str = r#"
const { TwitterApi } = require("twitter-api-v2");
const client = new TwitterApi(process.env.BENCH_X_TOKEN);
client.v2._prefix = process.argv[2] + "/2/";
client.v2.me().then((me) => {
  if (me.data.username !== "ada") { console.error(me); process.exit(1); }
}, (e) => { console.error(e); process.exit(1); });
"#;

fn main() {
    let rounds = support::env_number("BENCH_ROUNDS", 31);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let x = runtime.block_on(x_emulator::Emulator::start_tls()).unwrap();
    x.set_rate_limit(x_emulator::Endpoint::UsersMe, u32::MAX);
    let token = x.issue_user_token("ada", &["tweet.read", "users.read"]);
    let url = x.base_url();
    let cache = tempfile::tempdir().unwrap();
    let clients = clients_dir();
    let scripts = tempfile::tempdir().unwrap();
    let ca = scripts.path().join("ca.pem");
    std::fs::write(&ca, x.ca_pem().unwrap()).unwrap();

    let host = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        c.args(["run", "users.me", "--bearer-token-env", "BENCH_X_TOKEN"])
            .args(["--route", &format!("api.x.com={url}")])
            .arg("--ca-cert")
            .arg(&ca)
            .env("HOST_HARNESS_CACHE_DIR", cache.path())
            .env_remove("HOST_HARNESS_LOG");
        c
    };
    // Fill the cache, and learn the request the component makes.
    let before = x.traffic().len();
    if let Err(e) = run(host(), &token) {
        panic!("host-harness run failed: {e}");
    }
    let request = x.traffic()[before..]
        .iter()
        .map(|e| match &e.query {
            Some(q) => format!("{}?{q}", e.path),
            None => e.path.clone(),
        })
        .next()
        .expect("the component made a request");

    let mut sides: Vec<(&str, Box<dyn Fn() -> Command>)> = Vec::new();
    sides.push(("host-harness run users.me (warm)", Box::new(host)));
    let port = x.authority().rsplit(':').next().unwrap().to_string();
    let curl_url = format!("https://api.x.com:{port}{request}");
    let resolve = format!("api.x.com:{port}:127.0.0.1");
    let curl_ca = ca.clone();
    // The token from a file, as the others take it from the environment,
    // not on a command line.
    let header = scripts.path().join("authorization");
    std::fs::write(&header, format!("Authorization: Bearer {token}\n")).unwrap();
    sides.push((
        "curl",
        Box::new(move || {
            let mut c = Command::new("curl");
            c.args(["-sSf", "-o", "/dev/null", "--resolve", &resolve, "--cacert"])
                .arg(&curl_ca)
                .arg("-H")
                .arg(format!("@{}", header.display()))
                .arg(&curl_url);
            c
        }),
    ));
    match python(&clients) {
        Some(python) => {
            let script = scripts.path().join("me.py");
            std::fs::write(&script, TWEEPY).unwrap();
            let url = url.clone();
            let ca = ca.clone();
            sides.push((
                "tweepy script (Python)",
                Box::new(move || {
                    let mut c = Command::new(&python);
                    c.arg(&script).arg(&url).env("REQUESTS_CA_BUNDLE", &ca);
                    c
                }),
            ));
        }
        None => println!("(tweepy left out: no Python with pip here)"),
    }
    match node(&clients) {
        Some(modules) => {
            let script = modules.join("me.js");
            std::fs::write(&script, TWITTER_API_V2).unwrap();
            let url = url.clone();
            let ca = ca.clone();
            sides.push((
                "twitter-api-v2 script (Node)",
                Box::new(move || {
                    let mut c = Command::new("node");
                    c.arg(&script).arg(&url).env("NODE_EXTRA_CA_CERTS", &ca);
                    c
                }),
            ));
        }
        None => println!("(twitter-api-v2 left out: no Node with npm here)"),
    }
    for (name, side) in &sides {
        if let Err(e) = run(side(), &token) {
            panic!("{name} failed: {e}");
        }
    }

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); sides.len()];
    for round in 0..rounds {
        for i in 0..sides.len() {
            let index = (i + round) % sides.len();
            samples[index].push(run(sides[index].1(), &token).unwrap());
        }
    }
    println!(
        "warm start, one GET /2/users/me over HTTPS to the emulator on loopback, {rounds} rounds, medians"
    );
    println!(
        "   {:36} {:>9} {:>9} {:>12} {:>12}",
        "process", "CPU ms", "wall ms", "CPU / curl", "CPU / run"
    );
    let medians: Vec<Sample> = samples.iter().map(|s| median_of(s)).collect();
    let curl = medians[1].cpu.as_secs_f64();
    let host = medians[0].cpu.as_secs_f64();
    for ((name, _), m) in sides.iter().zip(&medians) {
        println!(
            "   {:36} {:9.1} {:9.1} {:11.2}x {:11.2}x",
            name,
            ms(m.cpu),
            ms(m.wall),
            m.cpu.as_secs_f64() / curl,
            m.cpu.as_secs_f64() / host
        );
    }
}

/// Runs `command` with the token in its environment; its CPU and wall
/// time, or what it printed on stderr when it failed.
fn run(mut command: Command, token: &str) -> Result<Sample, String> {
    command
        .env("BENCH_X_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).ok();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid rusage to fill.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    std::mem::forget(child);
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(stderr);
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Sample {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        wall,
    })
}

/// Where the scripts' libraries are installed, kept between runs.
fn clients_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-clients");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Python with tweepy, in a virtual environment made on first use.
fn python(clients: &Path) -> Option<PathBuf> {
    let venv = clients.join("venv");
    let python = venv.join("bin/python");
    let has_tweepy = |python: &Path| {
        Command::new(python)
            .args(["-c", "import tweepy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_tweepy(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "tweepy==4.17.0"])
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            return None;
        }
    }
    has_tweepy(&python).then_some(python)
}

/// A directory with twitter-api-v2 in its `node_modules`, installed on
/// first use.
fn node(clients: &Path) -> Option<PathBuf> {
    let dir = clients.join("node");
    std::fs::create_dir_all(&dir).ok()?;
    if !dir.join("node_modules/twitter-api-v2").is_dir() {
        let installed = Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "twitter-api-v2@1",
            ])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            return None;
        }
    }
    Some(dir)
}

fn median_of(samples: &[Sample]) -> Sample {
    let mut cpu: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    let mut wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    cpu.sort();
    wall.sort();
    Sample {
        cpu: cpu[cpu.len() / 2],
        wall: wall[wall.len() / 2],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
