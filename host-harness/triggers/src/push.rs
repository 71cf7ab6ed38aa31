//! Push: the API sends a trigger's events to the host's webhook instead of
//! the host polling for them.
//!
//! An operator names an app-level connection (of the manifest's
//! `push.auth_method`) and the public URL of the servers. The host then
//! registers its webhook at the API once for every server sharing the store
//! (a lease in the store), answers the API's challenges and checks the
//! signature of each delivery itself, with the connection's
//! `push.secret_field` as the key, so that the key never reaches the
//! component. A verified delivery goes to the component of every pushed
//! subscription, which turns it into that subscription's events (or none);
//! they join the subscription's outbox, where an event id already queued
//! is dropped. After downtime, the host asks the API to replay what it
//! pushed since the last delivery it received.
//!
//! A pushable trigger is pushed when push is set up and the API takes the
//! subscription; otherwise it is polled, as before.

use base64::Engine as _;
use credential_store::StoreError;
use hmac::{Hmac, Mac};
use host_auth::connections::{ConnectError, ConnectionManager};
use host_core::error::ActionError;
use host_core::manifest::{Push, PushDigest};
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::time::Duration;

/// The path of the webhook of push connection `id`, under the public URL.
pub fn webhook_path(connection_id: &str) -> String {
    format!("/webhooks/{connection_id}")
}

/// Where the API pushes, and through which app-level connection.
#[derive(Debug, Clone)]
pub struct PushSetup {
    /// The app-level connection that registers the webhook.
    pub connection_id: String,
    /// The webhook's public URL.
    pub url: String,
}

impl PushSetup {
    /// The setup for `connection_id` behind `public_url`.
    pub fn new(connection_id: &str, public_url: &str) -> PushSetup {
        PushSetup {
            connection_id: connection_id.to_string(),
            url: format!(
                "{}{}",
                public_url.trim_end_matches('/'),
                webhook_path(connection_id)
            ),
        }
    }
}

/// Why push could not be set up or a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the connector pushes nothing: its manifest has no `push` section")]
    NotPushed,
    #[error("the delivery's `{0}` header is missing or does not verify")]
    BadSignature(String),
    #[error("the delivery carries more than one `{0}` header; it must carry exactly one")]
    SeveralSignatures(String),
    #[error("`{parameter}` {reason}")]
    NotAChallenge { parameter: String, reason: String },
    #[error("too many challenges to this webhook; try again in {retry_after_secs} s")]
    TooManyChallenges { retry_after_secs: u64 },
    #[error("the delivery is not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another server has been registering the webhook for {0} s; try again")]
    RegistrationBusy(u64),
}

/// How long one server may take to register the webhook before another
/// may try.
const REGISTRATION_LEASE: Duration = Duration::from_secs(60);

/// How far back the API replays.
const REPLAY_WINDOW_SECS: u64 = 24 * 3600;

/// The longest challenge token answered. X's are about 48 characters.
const MAX_CHALLENGE_LENGTH: usize = 128;

/// Challenges one webhook answers per [`CHALLENGE_WINDOW`], across every
/// server sharing the store. X challenges at registration, about once a
/// day after, and when asked to; this leaves room for retries and manual
/// checks, not for an oracle.
const CHALLENGES_PER_WINDOW: u64 = 30;
const CHALLENGE_WINDOW: Duration = Duration::from_secs(60);

/// Whether `token` is shaped as the API's challenge tokens are, and why
/// not.
///
/// The API signs a challenge answer and a delivery with the same key and
/// the same construction (`sha256=` + Base64(HMAC-SHA256(secret, text))).
/// Answering any text would sign any delivery body for whoever sends it as
/// a challenge: a forgery the signature check then accepts. So only a
/// short run of the characters the API's tokens are made of (Base64 and
/// its URL-safe form) is answered. A delivery is a JSON object, which
/// always holds `{`, never one of these, so no answer is ever a valid
/// delivery's signature.
pub fn check_challenge_token(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("is empty");
    }
    if token.len() > MAX_CHALLENGE_LENGTH {
        return Err("is longer than any challenge token the API sends");
    }
    let shaped = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='));
    if !shaped {
        return Err("is not a challenge token: the API sends letters, digits and - _ + / = only");
    }
    Ok(())
}

fn digest(push: &Push, key: &[u8], message: &[u8]) -> String {
    match push.digest {
        PushDigest::HmacSha256Base64 => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
            mac.update(message);
            let tag = mac.finalize().into_bytes();
            format!(
                "sha256={}",
                base64::engine::general_purpose::STANDARD.encode(tag)
            )
        }
    }
}

/// The JSON answer to a challenge.
pub fn challenge_answer(push: &Push, key: &[u8], challenge: &str) -> serde_json::Value {
    serde_json::json!({ push.challenge_response_field.clone(): digest(push, key, challenge.as_bytes()) })
}

/// Whether `header` is the signature of `body` under `key`, compared in
/// constant time.
pub fn signature_matches(push: &Push, key: &[u8], header: &str, body: &[u8]) -> bool {
    let expected = digest(push, key, body);
    let (a, b) = (expected.as_bytes(), header.trim().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn manifest_push(manager: &ConnectionManager) -> Result<&Push, PushError> {
    manager.manifest().push.as_ref().ok_or(PushError::NotPushed)
}

/// Answers a challenge for the webhook of `connection_id`: only a token
/// shaped as the API's ([`check_challenge_token`]), and only so many a
/// minute.
pub async fn answer_challenge(
    manager: &ConnectionManager,
    connection_id: &str,
    challenge: &str,
) -> Result<serde_json::Value, PushError> {
    let push = manifest_push(manager)?;
    check_challenge_token(challenge).map_err(|reason| PushError::NotAChallenge {
        parameter: push.challenge_parameter.clone(),
        reason: reason.to_string(),
    })?;
    let counted = manager
        .store()
        .count_request(
            &format!("webhook-challenge:{connection_id}"),
            CHALLENGE_WINDOW,
        )
        .await?;
    if counted.count > CHALLENGES_PER_WINDOW {
        return Err(PushError::TooManyChallenges {
            retry_after_secs: counted.resets_in_secs,
        });
    }
    let key = manager.push_key(connection_id).await?;
    Ok(challenge_answer(
        push,
        key.expose_secret().as_bytes(),
        challenge,
    ))
}

/// Checks and takes a delivery to the webhook of `connection_id`: each
/// pushed subscription's new events join its outbox. Returns how many.
pub async fn receive(
    manager: &ConnectionManager,
    connection_id: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<u64, PushError> {
    let push = manifest_push(manager)?;
    let key = manager.push_key(connection_id).await?;
    let verified =
        signature.is_some_and(|s| signature_matches(push, key.expose_secret().as_bytes(), s, body));
    if !verified {
        return Err(PushError::BadSignature(push.signature_header.clone()));
    }
    let payload = std::str::from_utf8(body).map_err(|e| PushError::NotJson(e.to_string()))?;
    let parsed = serde_json::from_str::<serde_json::Value>(payload)
        .map_err(|e| PushError::NotJson(e.to_string()))?;
    // The API delivers objects; only a non-object could share its text
    // with a challenge token (a number), so none is taken.
    if !parsed.is_object() {
        return Err(PushError::NotJson("a delivery is a JSON object".into()));
    }
    let store = manager.store();
    store.touch_webhook(connection_id).await?;
    let mut queued = 0;
    for subscription in store.push_subscriptions().await? {
        let connection = match manager.connection(&subscription.connection_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(subscription = %subscription.id, error = %e, "a pushed subscription's connection is unusable");
                continue;
            }
        };
        let events = match manager
            .connector()
            .deliver(
                &connection,
                &subscription.trigger,
                &subscription.configuration,
                payload,
            )
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(subscription = %subscription.id, error = %e, "the connector refused a pushed delivery");
                continue;
            }
        };
        let events: Vec<(String, String)> = events
            .into_iter()
            .map(|e| (e.id, e.data.to_string()))
            .collect();
        if !events.is_empty() {
            // Their deliveries continue the trace of the request that
            // brought them.
            let trace = host_telemetry::propagation::traceparent(&tracing::Span::current());
            let new = store
                .queue_events(&subscription.id, &events, trace.as_deref())
                .await?;
            tracing::info!(subscription = %subscription.id, new, "pushed events queued");
            queued += new;
        }
    }
    Ok(queued)
}

/// Makes sure the webhook is registered at the API at `setup.url` (once
/// for every server sharing the store), then asks the API to replay what
/// it pushed since the last delivery the servers received. Returns the
/// API's id of the webhook.
pub async fn start(
    manager: &ConnectionManager,
    setup: &PushSetup,
    host: &str,
) -> Result<String, PushError> {
    manifest_push(manager)?;
    // The key must be there before the API challenges the URL.
    manager.push_key(&setup.connection_id).await?;
    let store = manager.store();
    let waited = std::time::Instant::now();
    let webhook_id = loop {
        if let Some(webhook) = store.webhook(&setup.connection_id).await?
            && webhook.url == setup.url
            && let Some(id) = webhook.remote_id
        {
            replay_gap(manager, setup, &id, webhook.last_event_at).await;
            break id;
        }
        if store
            .claim_webhook(&setup.connection_id, &setup.url, host, REGISTRATION_LEASE)
            .await?
        {
            let connection = manager.connection(&setup.connection_id).await?;
            let id = manager
                .connector()
                .register_webhook(&connection, &setup.url)
                .await?;
            store.save_webhook(&setup.connection_id, &id).await?;
            tracing::info!(webhook = %id, url = %setup.url, "webhook registered");
            break id;
        }
        if waited.elapsed() > REGISTRATION_LEASE * 2 {
            return Err(PushError::RegistrationBusy(waited.elapsed().as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    Ok(webhook_id)
}

/// Asks the API to push again what came since `last_event_at` (a minute
/// early: its window counts whole minutes), within the window it keeps.
async fn replay_gap(
    manager: &ConnectionManager,
    setup: &PushSetup,
    webhook_id: &str,
    last_event_at: Option<i64>,
) {
    let Some(last) = last_event_at else { return };
    let now = super::runner::now().max(0) as u64;
    let since = (last.max(0) as u64)
        .saturating_sub(60)
        .max(now.saturating_sub(REPLAY_WINDOW_SECS - 60));
    let replayed = match manager.connection(&setup.connection_id).await {
        Ok(connection) => manager
            .connector()
            .replay_push(&connection, webhook_id, since, now)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match replayed {
        Ok(()) => {
            tracing::info!(webhook = %webhook_id, since, "asked the API to replay what it pushed")
        }
        Err(error) => {
            tracing::warn!(webhook = %webhook_id, %error, "cannot ask the API to replay; events pushed while no server ran may be missing")
        }
    }
}

/// Asks the API to push a new subscription's events to the webhook; on
/// success no server polls it. Returns why not, when it stays polled.
pub async fn push_subscription(
    manager: &ConnectionManager,
    webhook_id: &str,
    subscription_id: &str,
) -> Result<String, PushError> {
    let store = manager.store();
    let subscription = store.subscription(subscription_id).await?;
    let connection = manager.connection(&subscription.connection_id).await?;
    let push_id = manager
        .connector()
        .subscribe_push(
            &connection,
            &subscription.trigger,
            &subscription.configuration,
            webhook_id,
        )
        .await?;
    store.set_push(subscription_id, Some(&push_id)).await?;
    Ok(push_id)
}

/// Ends a pushed subscription at the API, on the app-level connection.
pub async fn end_push(
    manager: &ConnectionManager,
    setup: &PushSetup,
    trigger: &str,
    push_id: &str,
) -> Result<(), PushError> {
    let connection = manager.connection(&setup.connection_id).await?;
    manager
        .connector()
        .unsubscribe_push(&connection, trigger, push_id)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x_push() -> Push {
        serde_json::from_value(serde_json::json!({
            "auth_method": "app_only",
            "secret_field": "client_secret",
            "challenge_parameter": "crc_token",
            "challenge_response_field": "response_token",
            "signature_header": "x-twitter-webhooks-signature",
            "digest": "hmac-sha256-base64"
        }))
        .unwrap()
    }

    #[test]
    fn a_challenge_is_answered_with_the_documented_hmac() {
        // The response is sha256= + Base64(HMAC-SHA256(secret, crc_token)).
        let answer = challenge_answer(
            &x_push(),
            b"key",
            "The quick brown fox jumps over the lazy dog",
        );
        assert_eq!(
            answer,
            serde_json::json!({"response_token": "sha256=97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="})
        );
    }

    #[test]
    fn only_tokens_shaped_as_the_apis_are_challenges() {
        for token in [
            "challenge-from-x",
            "dGhlIHF1aWNrIGJyb3duIGZveA==",
            "a_b-c+d/e=",
            "0123456789abcdefghijABCDEFGHIJ0123456789",
        ] {
            assert_eq!(check_challenge_token(token), Ok(()), "{token}");
        }
        let delivery = r#"{"data":{"event_type":"follow.follow"}}"#;
        for token in [
            "",
            delivery,
            "has space",
            "line\nbreak",
            "semi;colon",
            "quote\"",
            &"a".repeat(MAX_CHALLENGE_LENGTH + 1),
        ] {
            assert!(check_challenge_token(token).is_err(), "{token:?} was taken");
        }
    }

    #[test]
    fn only_the_signature_of_the_exact_body_verifies() {
        let push = x_push();
        let good = digest(&push, b"secret", b"{\"a\":1}");
        assert!(signature_matches(&push, b"secret", &good, b"{\"a\":1}"));
        assert!(!signature_matches(&push, b"secret", &good, b"{\"a\":2}"));
        assert!(!signature_matches(&push, b"other", &good, b"{\"a\":1}"));
        assert!(!signature_matches(
            &push,
            b"secret",
            "sha256=",
            b"{\"a\":1}"
        ));
    }
}
