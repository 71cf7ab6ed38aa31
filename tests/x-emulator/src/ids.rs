//! Snowflake ids, as X makes them: the creation time in milliseconds since
//! X's epoch, shifted left 22 bits, plus a sequence number. Newer posts have
//! larger ids, which `since_id` and pagination rely on.

use chrono::{DateTime, Utc};

/// X's snowflake epoch, 2010-11-04T01:42:54.657Z, in Unix milliseconds.
const EPOCH_MS: i64 = 1_288_834_974_657;

/// The id of an object created at `at`, with sequence number `seq`.
pub fn snowflake(at: DateTime<Utc>, seq: u64) -> u64 {
    let ms = (at.timestamp_millis() - EPOCH_MS).max(0) as u64;
    (ms << 22) | (seq & 0x3f_ffff)
}

/// Encodes `n` in base 36, the alphabet of X's pagination tokens.
pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

/// Decodes a base-36 token, if it is one.
pub fn from_base36(token: &str) -> Option<u64> {
    u64::from_str_radix(token, 36).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_round_trips_and_ids_grow_with_time() {
        for n in [0, 1, 35, 36, 1_234_567_890_123_456_789] {
            assert_eq!(from_base36(&base36(n)), Some(n));
        }
        let t = Utc::now();
        assert!(snowflake(t, 0) < snowflake(t + chrono::Duration::milliseconds(1), 0));
        assert_eq!(snowflake(t, 0).to_string().len(), 19);
    }
}
