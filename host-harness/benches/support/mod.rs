//! What the benches that drive `host-harness serve` over HTTP share.

// Each bench uses a part of what is here.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::io::Write;
use std::path::Path;

/// A kept-alive HTTP/1 client, as a workflow engine has.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client that keeps up to `idle` connections to a server open.
pub fn http_client(idle: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    // A request's head and body leave at once, not a delayed ACK apart.
    connector.set_nodelay(true);
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(idle)
        .build(connector)
}

/// The number in the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A loopback port nothing listens on now, for a server to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The child process of a bench that needs the emulator apart from what
/// it measures (`--serve-emulator`): prints the emulator's URL and a user
/// token of `ada` (reading scopes), a line each, then serves until killed.
/// `users.me` allows `limit` requests a window.
#[tokio::main]
pub async fn serve_emulator(limit: u32) {
    let x = x_emulator::Emulator::start().await.unwrap();
    x.set_rate_limit(x_emulator::Endpoint::UsersMe, limit);
    println!("{}", x.base_url());
    println!(
        "{}",
        x.issue_user_token("ada", &["tweet.read", "users.read"])
    );
    std::io::stdout().flush().unwrap();
    std::future::pending::<()>().await;
}

/// The X connector's manifest, as installed.
pub const X_MANIFEST: &str = include_str!("../../../manifests/x.json");

/// The X connector with its manifest, loaded on a host with the default
/// configuration.
pub async fn x_connector() -> host_harness::LoadedConnector {
    host_harness::Runtime::new(host_harness::HostConfig::default())
        .unwrap()
        .load(
            component_artifacts::x_connector(),
            host_harness::Manifest::from_json(X_MANIFEST).unwrap(),
        )
        .await
        .unwrap()
}

/// A file that starts like an MP4 video, with bytes that do not repeat.
pub fn write_video(path: &Path, len: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"\0\0\0\x18ftypmp42\0\0\0\0").unwrap();
    let mut state = 0x2545_F491u32;
    let mut written = 16;
    let mut block = vec![0u8; 64 * 1024];
    while written < len {
        for chunk in block.chunks_mut(4) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = (len - written).min(block.len() as u64) as usize;
        out.write_all(&block[..n]).unwrap();
        written += n as u64;
    }
}
