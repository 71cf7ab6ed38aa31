//! How long a post's text is, as X counts it.
//!
//! X weighs characters (configuration v3): code points in the Latin and
//! general-punctuation ranges weigh 1, all others 2, and every URL weighs 23
//! whatever its length. A post may weigh at most 280.
//!
//! This is the counting rule without twitter-text's full URL grammar (bare
//! domains such as `example.com` count as text here) and without its emoji
//! sequences (each code point of an emoji weighs 2 here, where X weighs a
//! whole sequence 2): it never accepts text that X refuses for length, and
//! may refuse text with many emoji sequences that X would accept.

/// The most a post may weigh.
pub const MAX_WEIGHTED_LENGTH: usize = 280;

/// What any URL weighs.
const URL_WEIGHT: usize = 23;

/// Code point ranges that weigh 1 (configuration v3); the rest weigh 2.
const LIGHT_RANGES: [(u32, u32); 4] = [(0, 4351), (8192, 8205), (8208, 8223), (8242, 8247)];

/// The weighted length of `text`.
pub fn weighted_length(text: &str) -> usize {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(len) = url_at(rest) {
            total += URL_WEIGHT;
            rest = &rest[len..];
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        total += char_weight(c);
        rest = &rest[c.len_utf8()..];
    }
    total
}

fn char_weight(c: char) -> usize {
    let cp = c as u32;
    if LIGHT_RANGES
        .iter()
        .any(|&(start, end)| (start..=end).contains(&cp))
    {
        1
    } else {
        2
    }
}

/// Byte length of an `http://` or `https://` URL at the start of `text`.
fn url_at(text: &str) -> Option<usize> {
    let lower = text
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let scheme = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return None;
    };
    let host_and_path = text[scheme..]
        .find(|c: char| c.is_whitespace())
        .unwrap_or(text.len() - scheme);
    // A URL ends before trailing punctuation, as in "see https://x.com.".
    let trimmed = text[scheme..scheme + host_and_path]
        .trim_end_matches(['.', ',', '!', '?', ':', ';', ')', '"', '\'']);
    (trimmed.contains('.') && trimmed.len() > 2).then_some(scheme + trimmed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_text_weighs_one_per_character() {
        assert_eq!(weighted_length("hello"), 5);
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
    }

    #[test]
    fn cjk_weighs_two() {
        assert_eq!(weighted_length("日本語"), 6);
        assert_eq!(weighted_length(&"日".repeat(140)), 280);
    }

    #[test]
    fn urls_weigh_twenty_three_whatever_their_length() {
        let long = format!("https://example.com/{}", "a".repeat(100));
        assert_eq!(weighted_length(&long), 23);
        assert_eq!(weighted_length("see http://x.com."), 4 + 23 + 1);
    }
}
