//! How long a post's text is, as X counts it: the `x-text` crate, which
//! follows X's own twitter-text (configuration v3) in linear time and
//! passes X's conformance data (`tests/twitter-text/`). This module gives
//! its results the shape the actions return, with a JSON Schema.

use schemars::JsonSchema;
use serde::Serialize;

/// The most a post may weigh on a standard account.
pub const MAX_WEIGHTED_LENGTH: usize = x_text::config::MAX_WEIGHTED_LENGTH as usize;

/// What X makes of a post's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TextCheck {
    /// The weighted length X counts.
    pub weighted_length: u32,
    /// The most a post may weigh.
    pub max_weighted_length: u32,
    /// Whether X accepts the text: not empty, within the limit, no invalid
    /// characters.
    pub valid: bool,
    /// The weighted length in thousandths of the limit, for a meter.
    pub permillage: u32,
    /// The part of the text that fits, as UTF-16 offsets `[start, end]`
    /// (inclusive), as X reports it; a counter highlights what is past it.
    pub valid_range: [i32; 2],
    /// The whole text's range, as UTF-16 offsets `[start, end]`.
    pub display_range: [i32; 2],
}

impl From<x_text::Counted> for TextCheck {
    fn from(counted: x_text::Counted) -> Self {
        TextCheck {
            weighted_length: counted.weighted_length,
            max_weighted_length: counted.max_weighted_length,
            valid: counted.valid,
            permillage: counted.permillage,
            valid_range: counted.valid_range,
            display_range: counted.display_range,
        }
    }
}

/// Counts `text` as X does for a standard account.
pub fn check(text: &str) -> TextCheck {
    x_text::count(text).into()
}

/// Counts `text` as X does against `max_weighted_length` (25,000 for an
/// account whose subscription allows long posts).
pub fn check_with_limit(text: &str, max_weighted_length: u32) -> TextCheck {
    x_text::count_with_limit(text, max_weighted_length).into()
}

/// The most a post may weigh for an account with X subscription `kind`
/// (X's `subscription_type`): 25,000 for any subscription, 280 for `None`.
pub fn limit_for_subscription(kind: &str) -> u32 {
    match kind {
        "" | "None" => x_text::config::MAX_WEIGHTED_LENGTH,
        _ => x_text::config::PREMIUM_MAX_WEIGHTED_LENGTH,
    }
}

/// The weighted length of `text`.
pub fn weighted_length(text: &str) -> usize {
    check(text).weighted_length as usize
}

/// Whether `published`, a post's text as X returns it, is the text `sent`.
/// X escapes `&`, `<` and `>` as HTML entities, replaces each URL with a
/// t.co link and appends the link of attached media; so entities are
/// unescaped, URLs compared as placeholders, and trailing ones ignored.
pub fn same_published_text(sent: &str, published: &str) -> bool {
    fn shape(text: &str) -> String {
        let mut shaped = text.to_string();
        for url in x_text::extract_urls(text) {
            shaped = shaped.replacen(&url.url, "\u{1}", 1);
        }
        shaped
            .trim_end_matches(|c: char| c == '\u{1}' || c.is_whitespace())
            .to_string()
    }
    let unescaped = published
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    shape(sent) == shape(&unescaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_text_matches_what_was_sent() {
        assert!(same_published_text("hello", "hello"));
        assert!(same_published_text(
            "read https://example.com/a/very/long/path now",
            "read https://t.co/abc123 now"
        ));
        assert!(same_published_text("a photo", "a photo https://t.co/xyz"));
        assert!(same_published_text(
            "fish & chips <3",
            "fish &amp; chips &lt;3"
        ));
        assert!(!same_published_text("hello", "hello there"));
        assert!(!same_published_text(
            "see https://a.com",
            "saw https://t.co/x"
        ));
    }

    #[test]
    fn a_check_carries_what_x_counts() {
        let checked = check("see https://example.com/a/long/path 日本");
        assert_eq!(checked.weighted_length, 4 + 23 + 1 + 4);
        assert!(checked.valid);
        assert_eq!(checked.max_weighted_length, 280);
        let long = check(&"a".repeat(281));
        assert!(!long.valid);
        assert_eq!(long.valid_range, [0, 279]);
        assert_eq!(long.display_range, [0, 280]);
    }
}
