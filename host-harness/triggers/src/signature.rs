//! The signature on every delivery a server sends: HMAC-SHA256, under the
//! subscription's signing key, of the delivery's time and body, so a
//! receiver can tell a delivery of this host from a forgery and a replay of
//! an old one.
//!
//! The header is `X-Host-Harness-Signature: t=<unix seconds>,v1=<hex>`,
//! where `<hex>` is HMAC-SHA256(key, "<t>.<body>").

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The delivery header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-host-harness-signature";

fn mac(key: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp`.
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(key, timestamp, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` signs `body` under `key`, at most `tolerance_secs` from
/// `now`: what a receiver checks.
pub fn verify(key: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tag = decode_hex(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(tag)) = (timestamp, tag) else {
        return false;
    };
    (now - timestamp).abs() <= tolerance_secs
        && mac(key, timestamp, body).verify_slice(&tag).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_key_body_and_time() {
        let header = sign(b"key", 1_800_000_000, b"{\"id\":\"1\"}");

        assert!(verify(
            b"key",
            &header,
            b"{\"id\":\"1\"}",
            1_800_000_010,
            300
        ));
        assert!(!verify(
            b"other",
            &header,
            b"{\"id\":\"1\"}",
            1_800_000_010,
            300
        ));
        assert!(!verify(
            b"key",
            &header,
            b"{\"id\":\"2\"}",
            1_800_000_010,
            300
        ));
        assert!(
            !verify(b"key", &header, b"{\"id\":\"1\"}", 1_800_001_000, 300),
            "replayed late"
        );
        assert!(!verify(b"key", "t=1,v1=zz", b"", 1, 300));
    }
}
