//! X's side of webhooks: the challenge-response check (CRC) of a callback
//! URL, and the signed POSTs of activity events, sent one at a time in the
//! order the events happened, from a task of their own.
//!
//! X calls only `https` URLs without a port. The emulator also calls
//! `http://127.0.0.1:PORT/…` and `http://localhost:PORT/…`, the receivers a
//! test runs on loopback, and nothing else: an `https` URL passes the URL
//! rule but fails its CRC without a connection, since the emulator reaches
//! no host but this one.

use crate::Shared;
use crate::world::random_token;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

/// How long X waits for the answer to a CRC.
pub const CRC_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the emulator waits for a receiver to take a pushed event. X
/// asks receivers to answer within 10 seconds; a test's should be quicker.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest answer read from a receiver.
const MAX_ANSWER: usize = 64 * 1024;

/// The header that carries a push's signature.
pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";

/// One event to push: its record, by event id, and the webhook it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub webhook_id: u64,
    pub event_uuid: u64,
}

/// Where events are queued for the pusher.
pub type Pusher = mpsc::UnboundedSender<Job>;

/// `sha256=` + base64(HMAC-SHA256(`secret`, `message`)): the CRC's
/// `response_token` (the message is the `crc_token`) and each push's
/// signature (the message is the raw body), keyed with the app's API Key
/// Secret.
pub fn signature(secret: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(message);
    format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a callback URL as X does, plus the loopback exception; the
/// refusal says why.
pub fn check_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("The URL is not valid: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("The URL must not have a fragment".into());
    }
    match url.scheme() {
        "https" if url.port().is_some() => Err("The URL must not specify a port".into()),
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" if loopback(&url).is_some() => Ok(url),
        _ => Err("The URL must use https".into()),
    }
}

/// The address of a loopback `http` URL the emulator may call.
fn loopback(url: &Url) -> Option<SocketAddr> {
    if url.scheme() != "http" {
        return None;
    }
    match url.host_str()? {
        "127.0.0.1" | "localhost" => Some(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            url.port().unwrap_or(80),
        ))),
        _ => None,
    }
}

/// Runs a CRC: `GET <url>?crc_token=<fresh token>` (after `&` when the URL
/// has a query already); it passes when the answer, within three seconds,
/// is 200 with JSON whose `response_token` is the token signed with
/// `secret`.
pub async fn crc(url: &str, secret: &str) -> bool {
    let Ok(url) = check_url(url) else {
        return false;
    };
    let token = random_token();
    let separator = if url.query().is_some() { '&' } else { '?' };
    let Ok(challenge) = Url::parse(&format!("{url}{separator}crc_token={token}")) else {
        return false;
    };
    let Some((status, body)) =
        exchange(&challenge, Method::GET, None, Bytes::new(), CRC_TIMEOUT).await
    else {
        return false;
    };
    let answered = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("response_token")?.as_str().map(str::to_string));
    status == StatusCode::OK && answered == Some(signature(secret, token.as_bytes()))
}

/// POSTs `body` to `url` as X pushes an event, signed with `secret`;
/// whether the receiver answered with a 2xx status within five seconds.
async fn post_event(url: &str, secret: &str, body: Bytes) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    let signed = signature(secret, &body);
    matches!(
        exchange(&url, Method::POST, Some(&signed), body, PUSH_TIMEOUT).await,
        Some((status, _)) if status.is_success()
    )
}

/// One request on a connection of its own, bounded by `limit`: the status
/// and the body of the answer, or `None` when the URL is not one the
/// emulator calls, the connection fails or the time runs out.
async fn exchange(
    url: &Url,
    method: Method,
    signed: Option<&str>,
    body: Bytes,
    limit: Duration,
) -> Option<(StatusCode, Bytes)> {
    let addr = loopback(url)?;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_string(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, authority)
        .header(header::CONNECTION, "close")
        .header(header::USER_AGENT, "x-emulator-webhooks");
    if let Some(signed) = signed {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, HeaderValue::from_str(signed).ok()?);
    }
    let request = request.body(Full::new(body)).ok()?;
    let call = async {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        // The connection is driven alongside the request, and both end
        // together: nothing outlives the time limit.
        let answer = async move {
            let response = sender.send_request(request).await.ok()?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .ok()?
                .to_bytes();
            Some((status, body))
        };
        let (answer, _) = tokio::join!(answer, connection);
        answer
    };
    tokio::time::timeout(limit, call).await.ok().flatten()
}

/// Starts the pusher: it takes jobs in order and sends each event to its
/// webhook, if the webhook is still there and valid, then records whether
/// it was taken. It ends with the emulator.
pub fn start(shared: Weak<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            let Some(shared) = shared.upgrade() else {
                break;
            };
            push(&shared, job).await;
        }
    })
}

/// Sends one event; records the attempt and its outcome.
async fn push(shared: &Shared, job: Job) {
    let target = {
        let world = shared.world.lock().unwrap();
        let webhook = world
            .activity
            .webhooks
            .iter()
            .find(|w| w.id == job.webhook_id && w.valid);
        let secret = webhook
            .and_then(|w| world.app_by_consumer_key(&w.app))
            .map(|a| a.consumer_secret.clone());
        let body = world
            .activity
            .pushes
            .iter()
            .find(|p| p.event_uuid == job.event_uuid)
            .map(|p| p.body.clone());
        match (webhook, secret, body) {
            (Some(w), Some(secret), Some(body)) => Some((w.url.clone(), secret, body)),
            _ => None,
        }
    };
    let Some((url, secret, body)) = target else {
        return;
    };
    let taken = post_event(&url, &secret, body).await;
    let mut world = shared.world.lock().unwrap();
    if let Some(push) = world.activity.push_mut(job.event_uuid) {
        push.attempts += 1;
        push.delivered |= taken;
    }
}

/// Runs the CRC of every webhook now, as X's periodic check does, and marks
/// each valid or not by its outcome.
pub async fn recheck_all(shared: &Shared) {
    let webhooks: Vec<(u64, String, String)> = {
        let world = shared.world.lock().unwrap();
        world
            .activity
            .webhooks
            .iter()
            .filter_map(|w| {
                let secret = world.app_by_consumer_key(&w.app)?.consumer_secret.clone();
                Some((w.id, w.url.clone(), secret))
            })
            .collect()
    };
    for (id, url, secret) in webhooks {
        let valid = crc(&url, &secret).await;
        let mut world = shared.world.lock().unwrap();
        if let Some(w) = world.activity.webhooks.iter_mut().find(|w| w.id == id) {
            w.valid = valid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_hmac_sha256_with_their_prefix() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            format!(
                "sha256={}",
                STANDARD.encode([
                    0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08,
                    0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec,
                    0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
                ])
            )
        );
    }

    #[test]
    fn callback_urls_are_https_without_a_port_or_loopback_http() {
        assert!(check_url("https://example.com/webhooks/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook?a=1").is_ok());
        assert!(check_url("http://localhost:8080/hook").is_ok());
        assert!(check_url("https://example.com:5000/webhook").is_err());
        assert!(check_url("http://example.com/webhook").is_err());
        assert!(check_url("http://10.0.0.1:8080/webhook").is_err());
        assert!(check_url("ftp://example.com/webhook").is_err());
        assert!(check_url("not a url").is_err());
    }
}
