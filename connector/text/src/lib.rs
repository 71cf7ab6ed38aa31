//! How long a post's text is, as X counts it: twitter-text 3.1.0's
//! `parseTweet` with configuration v3, in time linear in the text.
//!
//! X weighs a post rather than counting its characters: a character in
//! the Latin, general punctuation and similar ranges weighs 1, any other
//! 2; an emoji sequence (a family, a flag, a skin tone) weighs 2 however
//! many code points it has; and a URL weighs 23 however long it is, since
//! X shortens every URL to a t.co link. The text is normalised to NFC
//! first. A post is valid when it weighs more than 0 and at most the limit
//! (280, or 25,000 for Premium accounts) and holds no invalid character.
//!
//! X's clients compute this with twitter-text (its figures in the
//! conformance data come from the JavaScript library), so this follows
//! the JavaScript library's behaviour to the code unit, bugs included,
//! emoji too: they are found with the regular expression of the
//! twemoji-parser version twitter-text 3.1.0 ships (see
//! [`extract_emoji`]), so a text called valid here is one X's library
//! accepts. Reading emoji by current Unicode instead is an explicit
//! option ([`count_with_unicode_emoji`]). Where twitter-text's Java library differs, the
//! source says so and follows JavaScript. The JavaScript URL regex
//! backtracks, which makes it quadratic in long runs without spaces; here
//! the same matches are computed without backtracking (see
//! [`extract_urls`]), so a 25,000-character post costs about as much per
//! character as a short one.

mod classes;
mod emoji;
mod punycode;
mod tld;
mod twemoji;
mod url;

pub use emoji::{EmojiEntity, extract_emoji_unicode};
pub use url::{UrlEntity, extract_urls};

use unicode_normalization::UnicodeNormalization;

/// Counting configuration v3 (twitter-text's config/v3.json), the one X
/// uses today, and X's limits.
pub mod config {
    /// The most a post may weigh on a standard account.
    pub const MAX_WEIGHTED_LENGTH: u32 = 280;
    /// The most a post may weigh on a Premium account.
    pub const PREMIUM_MAX_WEIGHTED_LENGTH: u32 = 25_000;
    /// Weights are in hundredths of a character.
    pub const SCALE: u32 = 100;
    /// The weight of a character outside [`RANGES`], and of an emoji
    /// sequence.
    pub const DEFAULT_WEIGHT: u32 = 200;
    /// Code point ranges (inclusive) and their weights: Latin and other
    /// scripts up to U+10FF, and the spaces, dashes, quotes and primes of
    /// general punctuation.
    pub const RANGES: [(u32, u32, u32); 4] = [
        (0, 4351, 100),
        (8192, 8205, 100),
        (8208, 8223, 100),
        (8242, 8247, 100),
    ];
    /// What a URL counts as, in characters, whatever its length.
    pub const TRANSFORMED_URL_LENGTH: u32 = 23;
    /// Whether emoji sequences weigh [`DEFAULT_WEIGHT`] each.
    pub const EMOJI_PARSING_ENABLED: bool = true;
}

/// What X makes of a post's text: twitter-text's `parseTweet` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The weighted length X counts (`weightedLength`).
    pub weighted_length: u32,
    /// The limit it was counted against.
    pub max_weighted_length: u32,
    /// Whether X accepts the text: it weighs more than 0 and at most the
    /// limit, and holds no invalid character (U+FFFE, U+FEFF, U+FFFF).
    pub valid: bool,
    /// The weighted length in thousandths of the limit, rounded down, for
    /// a meter (`permillage`).
    pub permillage: u32,
    /// The part of the text within the limit and before any invalid
    /// character, as inclusive UTF-16 offsets `[start, end]` into the text
    /// as given (`validRangeStart`, `validRangeEnd`): what a counter shows
    /// as fitting. Like X's, the end is shifted by what NFC changed in the
    /// text's length, and is `[0, 0]` for an empty text.
    pub valid_range: [i32; 2],
    /// The whole text as inclusive UTF-16 offsets (`displayRangeStart`,
    /// `displayRangeEnd`); `[0, 0]` for an empty text.
    pub display_range: [i32; 2],
}

/// The emoji in `text` as twitter-text 3.1.0 finds them (twemoji-parser
/// 11.0.2's expression), each of which weighs 2 in a post, in order, with
/// UTF-16 indices. The text is taken as it is. Sequences added to Unicode
/// since Emoji 11 count as their parts, and a lone U+FE0F is an emoji of
/// its own, as in X's library.
pub fn extract_emoji(text: &str) -> Vec<EmojiEntity> {
    let t: Vec<u16> = text.encode_utf16().collect();
    twemoji::find_emoji(&t)
        .into_iter()
        .map(|span| EmojiEntity {
            emoji: String::from_utf16_lossy(&t[span.clone()]),
            start: span.start,
            end: span.end,
        })
        .collect()
}

/// Counts `text` as X does for a standard account (limit 280).
pub fn count(text: &str) -> Counted {
    count_with_limit(text, config::MAX_WEIGHTED_LENGTH)
}

/// Counts `text` as X does with the limit `max_weighted_length` (280 for a
/// standard account, [`config::PREMIUM_MAX_WEIGHTED_LENGTH`] for
/// Premium). A limit of 0 makes every text invalid.
pub fn count_with_limit(text: &str, max_weighted_length: u32) -> Counted {
    count_reading(text, max_weighted_length, twemoji::find_emoji)
}

/// Counts `text` as [`count_with_limit`] does, but with emoji read by
/// current Unicode ([`extract_emoji_unicode`]): newer sequences weigh 2
/// each where X's library weighs their parts, so this calls valid some
/// texts X's library refuses. An option for a platform that prefers it,
/// never what the connector checks posts with.
pub fn count_with_unicode_emoji(text: &str, max_weighted_length: u32) -> Counted {
    count_reading(text, max_weighted_length, emoji::find_emoji)
}

/// The count, with `find_emoji` finding the emoji of the NFC text.
fn count_reading(
    text: &str,
    max_weighted_length: u32,
    find_emoji: fn(&[u16]) -> Vec<std::ops::Range<usize>>,
) -> Counted {
    use config::*;
    let original_length = text.encode_utf16().count();
    // NFC changes nothing in a text without a character from U+0300 on
    // (the combining marks start there, and nothing below decomposes).
    let t: Vec<u16> = if text.chars().all(|c| c < '\u{300}') {
        text.encode_utf16().collect()
    } else {
        let mut t = Vec::with_capacity(original_length);
        let mut buffer = [0u16; 2];
        for c in text.nfc() {
            t.extend_from_slice(c.encode_utf16(&mut buffer));
        }
        t
    };
    let n = t.len();

    // The length of the entity starting at each index, as parseTweet's
    // maps by start index have it (a later entity replacing an earlier one
    // at the same index).
    let mut url_at = vec![0u32; n];
    for found in url::find_urls(&t) {
        if found.start < n {
            url_at[found.start] = found.len() as u32;
        }
    }
    let mut emoji_at = vec![0u32; if EMOJI_PARSING_ENABLED { n } else { 0 }];
    if EMOJI_PARSING_ENABLED {
        for span in find_emoji(&t) {
            emoji_at[span.start] = span.len() as u32;
        }
    }

    let max_scaled = u64::from(max_weighted_length) * u64::from(SCALE);
    let mut weighted: u64 = 0;
    let mut valid = true;
    let mut valid_display_index = 0usize;
    let mut i = 0;
    while i < n {
        if url_at[i] > 0 {
            weighted += u64::from(TRANSFORMED_URL_LENGTH * SCALE);
            i += url_at[i] as usize - 1;
        } else if EMOJI_PARSING_ENABLED && emoji_at[i] > 0 {
            weighted += u64::from(DEFAULT_WEIGHT);
            i += emoji_at[i] as usize - 1;
        } else {
            // A surrogate pair weighs as its low half, which is outside
            // every range.
            if i + 1 < n
                && (0xD800..=0xDBFF).contains(&t[i])
                && (0xDC00..=0xDFFF).contains(&t[i + 1])
            {
                i += 1;
            }
            weighted += u64::from(weight(t[i]));
        }
        // parseTweet tests only the entity's last code unit, and stops
        // testing at the first invalid one.
        if valid {
            valid = !t.get(i).is_some_and(|&c| classes::invalid(c));
        }
        if valid && weighted <= max_scaled {
            valid_display_index = i;
        }
        i += 1;
    }

    let weighted_length = weighted / u64::from(SCALE);
    let valid = valid && weighted_length > 0 && weighted_length <= u64::from(max_weighted_length);
    // As JavaScript computes it, in floating point.
    let permillage = (weighted_length as f64 / f64::from(max_weighted_length) * 1000.0).floor();
    let normalization_offset = original_length as i64 - n as i64;
    let to_i32 = |x: i64| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    Counted {
        weighted_length: u32::try_from(weighted_length).unwrap_or(u32::MAX),
        max_weighted_length,
        valid,
        permillage: permillage as u32,
        valid_range: [0, to_i32(valid_display_index as i64 + normalization_offset)],
        display_range: [0, to_i32(original_length.saturating_sub(1) as i64)],
    }
}

/// getCharacterWeight: a code unit's weight by the configured ranges.
fn weight(c: u16) -> u32 {
    config::RANGES
        .iter()
        .find(|&&(start, end, _)| (start..=end).contains(&u32::from(c)))
        .map_or(config::DEFAULT_WEIGHT, |&(_, _, weight)| weight)
}

#[cfg(test)]
mod tests {
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn nfc_leaves_every_character_below_u0300_as_it_is() {
        for c in ('\0'..'\u{300}').filter(|c| !c.is_ascii_control() || *c == '\n') {
            let alone = c.to_string();
            assert_eq!(alone.nfc().collect::<String>(), alone, "U+{:04X}", c as u32);
            let pair = format!("{c}a{c}");
            assert_eq!(pair.nfc().collect::<String>(), pair, "U+{:04X}", c as u32);
        }
    }
}
