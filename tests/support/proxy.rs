//! A forward proxy on loopback, as a corporate network runs one: it opens
//! `CONNECT` tunnels (and nothing else) and records each one: where to,
//! the `Proxy-Authorization` it was given, and the bytes the client sent
//! through it, so a test can tell what the proxy could read.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One tunnel a client asked for.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// `host:port`, as the CONNECT line named it.
    pub target: String,
    pub authorization: Option<String>,
    /// What the client sent through the tunnel (the first 64 KiB).
    pub client_bytes: Vec<u8>,
}

pub struct ForwardProxy {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    /// A proxy that opens every tunnel it is asked for; with
    /// `required_authorization`, only for requests carrying it (407
    /// otherwise).
    pub async fn start(required_authorization: Option<&str>) -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let required = required_authorization.map(str::to_string);
        let (t, r) = (tunnels.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (t, r, required) = (t.clone(), r.clone(), required.clone());
                tokio::spawn(async move {
                    let _ = serve(client, t, r, required).await;
                });
            }
        });
        ForwardProxy {
            origin,
            tunnels,
            requests,
        }
    }

    /// The tunnels opened so far.
    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }

    /// The first line of every request the proxy received, tunnelled or
    /// refused.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut client: TcpStream,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
    requests: Arc<Mutex<Vec<String>>>,
    required: Option<String>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().to_string();
    requests.lock().unwrap().push(first.clone());
    let authorization = lines.find_map(|l| {
        l.split_once(':')
            .filter(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
            .map(|(_, value)| value.trim().to_string())
    });
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "CONNECT" {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    if required.is_some() && authorization != required {
        client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    let index = {
        let mut tunnels = tunnels.lock().unwrap();
        tunnels.push(Tunnel {
            target: target.to_string(),
            authorization,
            client_bytes: Vec::new(),
        });
        tunnels.len() - 1
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.split();
    let upward = async {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let n = from_client.read(&mut buffer).await?;
            if n == 0 {
                return to_upstream.shutdown().await;
            }
            {
                let mut tunnels = tunnels.lock().unwrap();
                let seen = &mut tunnels[index].client_bytes;
                let room = (64 * 1024usize).saturating_sub(seen.len());
                seen.extend_from_slice(&buffer[..n.min(room)]);
            }
            to_upstream.write_all(&buffer[..n]).await?;
        }
    };
    let downward = tokio::io::copy(&mut from_upstream, &mut to_client);
    let _ = tokio::join!(upward, downward);
    Ok(())
}
