//! How long a post's text is, as X counts it: twitter-text with
//! configuration v3. Code points in the Latin and general-punctuation
//! ranges weigh 1 and all others 2; a whole emoji sequence (a family, a flag,
//! a skin tone) weighs 2; every URL weighs 23 whatever its length; the text
//! is NFC-normalised first; a post may weigh at most 280 and must not be
//! empty or hold invalid characters.
//!
//! The counting is twitter-text's own grammar (its URL and TLD rules, its
//! emoji list), through the `twitter-text` crate; `tests/twitter-text/`
//! holds X's conformance data, which a test runs in full. The grammar costs
//! about 5 ms for a 280-character post inside the component, and more than
//! linearly more for longer runs without spaces; so a text in which it can
//! find nothing (see [`is_plain`]) is counted character by character with
//! the same configuration, and another one within the limit a word at a
//! time, the grammar parsing only the words that need it (see
//! [`word_by_word_check`]). Tests hold both to the grammar's results.

use schemars::JsonSchema;
use serde::Serialize;

/// The most a post may weigh.
pub const MAX_WEIGHTED_LENGTH: usize = 280;

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
    /// False for a text of more than 1,000 characters that is certainly
    /// past the limit: `weighted_length` is then a lower bound, counted
    /// without X's URL grammar (whose cost grows with the square of a long
    /// run of characters without spaces), and `valid_range` is counted on
    /// the first 1,000 characters.
    pub exact: bool,
}

/// Texts up to this many characters are always counted exactly.
const EXACT_MAX_CHARS: usize = 1000;

/// Counts `text` as X does.
pub fn check(text: &str) -> TextCheck {
    if text.chars().count() > EXACT_MAX_CHARS {
        let floor = weight_floor(text);
        if floor > MAX_WEIGHTED_LENGTH {
            let head: String = text.chars().take(EXACT_MAX_CHARS).collect();
            let utf16_len = text.encode_utf16().count() as i32;
            return TextCheck {
                weighted_length: floor as u32,
                valid: false,
                permillage: (floor * 1000 / MAX_WEIGHTED_LENGTH) as u32,
                display_range: [0, utf16_len - 1],
                exact: false,
                ..exact_check(&head)
            };
        }
    }
    exact_check(text)
}

fn exact_check(text: &str) -> TextCheck {
    if is_plain(text) {
        return plain_check(text);
    }
    word_by_word_check(text).unwrap_or_else(|| grammar_check(text))
}

/// Counts `text` a word at a time: the whitespace between words by its
/// configured weights, each word plainly or with the grammar. Nothing the
/// grammar matches (a URL, an emoji sequence) holds whitespace, and NFC
/// neither composes nor reorders across it, so a word weighs the same alone
/// as in the text. `None` for a text past the limit or holding an invalid
/// character: there the valid range needs the whole text's scan, so the
/// grammar counts it all.
fn word_by_word_check(text: &str) -> Option<TextCheck> {
    if text.is_empty() {
        return None;
    }
    let config = twitter_text_config::config_v3();
    let (mut weighted, mut units) = (0, 0);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            weighted += char_weight(config, c);
            units += c.len_utf16() as i32;
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        let counted = if is_plain(word) {
            plain_check(word)
        } else {
            grammar_check(word)
        };
        if !counted.valid {
            return None;
        }
        weighted += counted.weighted_length as i32 * config.scale;
        // The word's units as the grammar counts them (with NFC's changes).
        units += counted.display_range[1] + 1;
        rest = &rest[end..];
    }
    // Within the limit, the whole text is the valid range.
    Some(counted(weighted / config.scale, units, units)).filter(|check| check.valid)
}

/// The check of a text counted outside the grammar: its weighted length,
/// the UTF-16 units of the part within the limit, and of the whole.
fn counted(weighted_length: i32, valid_units: i32, units: i32) -> TextCheck {
    let max = MAX_WEIGHTED_LENGTH as i32;
    TextCheck {
        weighted_length: weighted_length as u32,
        max_weighted_length: MAX_WEIGHTED_LENGTH as u32,
        valid: weighted_length <= max,
        permillage: (weighted_length * 1000 / max) as u32,
        valid_range: [0, valid_units - 1],
        display_range: [0, units - 1],
        exact: true,
    }
}

/// A character's weight in `config`, scaled.
fn char_weight(config: &twitter_text_config::Configuration, c: char) -> i32 {
    config
        .ranges
        .iter()
        .find(|range| range.contains(c as i32))
        .map_or(config.default_weight, |range| range.weight)
}

/// Whether twitter-text's grammar can find nothing in `text` that weighs
/// other than its characters, and NFC leaves it as it is. Every URL it
/// matches holds a `.` followed by a label of its host, or `://` before an
/// IPv6 literal; its emoji sequences and invalid characters are all
/// outside the characters allowed here (ASCII, Latin-1 letters, the
/// general-punctuation dashes and quotes, the ellipsis), which are also
/// ones NFC neither replaces nor composes.
fn is_plain(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let allowed = c.is_ascii()
            || ('\u{C0}'..='\u{FF}').contains(&c)
            || ('\u{2010}'..='\u{201F}').contains(&c)
            || c == '\u{2026}';
        if !allowed {
            return false;
        }
        // After a host's dot comes a label: anything but a space or
        // punctuation other than `-` and `_`.
        let label_follows = chars.peek().is_some_and(|next| {
            !next.is_whitespace() && (!next.is_ascii_punctuation() || matches!(next, '-' | '_'))
        });
        if c == '.' && label_follows {
            return false;
        }
    }
    !text.is_empty() && !text.contains("://")
}

/// Counts a text for which [`is_plain`] holds, as twitter-text counts text
/// between entities: each character by its configured weight, the valid
/// range ending where the count passes the limit.
fn plain_check(text: &str) -> TextCheck {
    let config = twitter_text_config::config_v3();
    let max_scaled = config.max_weighted_tweet_length * config.scale;
    let (mut weighted, mut offset, mut valid_offset) = (0, 0, 0);
    for c in text.chars() {
        weighted += char_weight(config, c);
        let units = c.len_utf16() as i32;
        offset += units;
        if weighted <= max_scaled {
            valid_offset += units;
        }
    }
    counted(weighted / config.scale, valid_offset, offset)
}

/// Counts `text` with twitter-text's grammar alone, whole: the reference
/// [`check`]'s faster paths are held to, public for the text bench.
pub fn grammar_check(text: &str) -> TextCheck {
    let results = twitter_text::parse(text, twitter_text_config::config_v3(), true);
    let range = |r: twitter_text_config::Range| [r.start(), r.end()];
    TextCheck {
        weighted_length: results.weighted_length.max(0) as u32,
        max_weighted_length: MAX_WEIGHTED_LENGTH as u32,
        valid: results.is_valid,
        permillage: results.permillage.max(0) as u32,
        valid_range: range(results.valid_text_range),
        display_range: range(results.display_text_range),
        exact: true,
    }
}

/// A lower bound of the weighted length, in linear time.
///
/// It counts only characters whose weight nothing can lower: letters of
/// the Latin ranges and digits not starting a keycap emoji (1 each), and
/// CJK ideographs, kana and Hangul syllables (2 each); NFC can merge a
/// combining mark into such a character but not make it lighter. A URL
/// weighs 23 whatever its length, has no whitespace, holds a character
/// none of these (its dots) and is shorter than 4,096 bytes
/// (twitter-text's `MAX_URL_LENGTH`); so a token that could hold URLs
/// counts at least the least that its URLs and the counted characters
/// left outside them could weigh.
fn weight_floor(text: &str) -> usize {
    const URL_WEIGHT: usize = 23;
    const URL_MAX_CHARS: usize = 4095;
    let mut total = 0;
    for token in text.split_whitespace() {
        let mut counted: usize = 0;
        let mut maybe_url = false;
        let mut chars = token.chars().peekable();
        while let Some(c) = chars.next() {
            let keycap =
                c.is_ascii_digit() && matches!(chars.peek(), Some('\u{FE0F}' | '\u{20E3}'));
            match c {
                _ if keycap => maybe_url = true,
                'a'..='z' | 'A'..='Z' | '0'..='9' => counted += 1,
                '\u{C0}'..='\u{24F}' if c != '\u{D7}' && c != '\u{F7}' => counted += 1,
                '\u{3041}'..='\u{3096}'
                | '\u{30A1}'..='\u{30FA}'
                | '\u{4E00}'..='\u{9FFF}'
                | '\u{AC00}'..='\u{D7A3}' => counted += 2,
                _ => maybe_url = true,
            }
        }
        total += if maybe_url {
            // With k URLs: 23k, plus what they cannot cover.
            let most_urls = counted.div_ceil(URL_MAX_CHARS);
            (0..=most_urls)
                .map(|k| URL_WEIGHT * k + counted.saturating_sub(URL_MAX_CHARS * k))
                .min()
                .unwrap_or(counted)
        } else {
            counted
        };
    }
    total
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
        let extractor = twitter_text::extractor::Extractor::new();
        let mut shaped = text.to_string();
        for url in extractor.extract_urls(text) {
            shaped = shaped.replacen(&url, "\u{1}", 1);
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
    use proptest::prelude::*;

    #[test]
    fn the_floor_never_passes_the_exact_count() {
        let samples = [
            "hello world",
            "https://example.com/a/very/long/path/that/weighs/twenty/three",
            "see example.com, and x.org",
            "日本語のテキスト and Latin",
            "e\u{301}e\u{301} composed by NFC",
            "1\u{FE0F}\u{20E3} keycaps 2\u{FE0F}\u{20E3}",
            "👨‍👩‍👧‍👦 family 🇬🇧 flag",
            "#hashtag @mention $CASH",
            "a.b.c.d.e.f.g.h",
        ];
        for text in samples {
            let exact = exact_check(text).weighted_length as usize;
            assert!(
                weight_floor(text) <= exact,
                "{text}: {} > {exact}",
                weight_floor(text)
            );
        }
        assert_eq!(weight_floor("hello world"), 10);
    }

    #[test]
    fn a_huge_text_is_refused_quickly_with_a_lower_bound() {
        let started = std::time::Instant::now();
        let huge = check(&"é".repeat(100_000));
        let digits = check(&"1234567890".repeat(1000));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(!huge.valid && !huge.exact);
        assert_eq!(huge.weighted_length, 100_000);
        assert_eq!(huge.valid_range, [0, 279]);
        assert!(!digits.valid && !digits.exact);
        // Up to 1,000 characters the count is exact.
        let fits = check(&"a".repeat(280));
        assert!(fits.valid && fits.exact);
    }

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
        assert_eq!(weighted_length("see example.com"), 4 + 23);
    }

    #[test]
    fn an_emoji_sequence_weighs_two() {
        assert_eq!(weighted_length("👨\u{200d}👩\u{200d}👧\u{200d}👦"), 2);
        assert_eq!(weighted_length("🙋🏽"), 2);
    }

    /// Texts made of the characters the plain path allows, with the pieces
    /// URLs are made of among them, so that some hold a URL and most not.
    fn nearly_plain() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            "([a-zA-Z0-9 \\n.,:;/@#$%&*+=_'!?()\\[\\]-]|é|ß|Ø|’|“|—|…|com|co|xn--|www|http){0,150}",
        )
        .unwrap()
    }

    /// Texts of words that hold URLs, emoji sequences, entities, combining
    /// marks, CJK and directional marks, between every kind of whitespace;
    /// most within the limit.
    fn mixed_words() -> impl Strategy<Value = String> {
        let word = proptest::string::string_regex(
            "(https://|http://|www\\.|t\\.co/|example|\\.com|\\.co\\.uk|xn--p1ai|/path|\\?q=1|#tag|@ada|\\$AAPL|[a-z0-9.,:/_()-]|é|e\u{301}|漢字|🧮|👩\u{200d}👩\u{200d}👧|🇫🇷|1\u{fe0f}\u{20e3}|©\u{fe0f}|\u{202e}){1,6}",
        )
        .unwrap();
        let space = proptest::sample::select(vec![
            " ", "  ", "\n", "\t", "\u{3000}", "\u{a0}", "\u{2000}", "\u{2028}",
        ]);
        proptest::collection::vec((space, word), 0..14).prop_map(|pieces| {
            pieces
                .into_iter()
                .map(|(space, word)| format!("{space}{word}"))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Wherever the plain path is taken, it agrees with the grammar.
        #[test]
        fn the_plain_path_agrees_with_the_grammar(text in nearly_plain()) {
            if is_plain(&text) {
                prop_assert_eq!(plain_check(&text), grammar_check(&text), "{:?}", text);
            }
        }

        /// Wherever counting a word at a time gives a result, it is the
        /// grammar's.
        #[test]
        fn counting_word_by_word_agrees_with_the_grammar(text in mixed_words()) {
            if let Some(by_words) = word_by_word_check(&text) {
                prop_assert_eq!(by_words, grammar_check(&text), "{:?}", text);
            }
        }
    }

    #[test]
    fn each_character_the_plain_path_allows_counts_as_the_grammar_counts_it() {
        let allowed = (0u32..0x80)
            .chain(0xC0..=0xFF)
            .chain(0x2010..=0x201F)
            .chain([0x2026])
            .filter_map(char::from_u32);
        for c in allowed {
            // Alone, after a word, and repeated past the limit.
            for text in [c.to_string(), format!("word{c}"), c.to_string().repeat(290)] {
                if is_plain(&text) {
                    assert_eq!(plain_check(&text), grammar_check(&text), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn a_text_past_the_limit_or_with_an_invalid_character_is_counted_whole() {
        assert!(word_by_word_check("see https://example.com now").is_some());
        assert!(word_by_word_check("bad \u{fffe} char").is_none());
        assert!(word_by_word_check(&"🧮 ".repeat(141)).is_none());
        assert!(word_by_word_check("").is_none());
    }

    #[test]
    fn text_that_may_hold_a_url_or_an_emoji_goes_to_the_grammar() {
        for text in [
            "see example.com",
            "v2.0",
            "http://[::1]/",
            "a 🧮",
            "1\u{fe0f}\u{20e3}",
            "e\u{301}",
            "",
        ] {
            assert!(!is_plain(text), "{text:?}");
        }
        for text in [
            "The end. Or is it...",
            "Don’t stop — ever!",
            "Crème brûlée, 3 ways",
        ] {
            assert!(is_plain(text), "{text:?}");
        }
    }

    #[test]
    fn empty_text_is_invalid() {
        assert!(!check("").valid);
        assert!(check("a").valid);
    }

    /// X's own conformance cases (twitter-text's `validate.yml`) that apply
    /// to configuration v3: the discounted-emoji counter, the directional
    /// markers, and plain validity, less the two `tweets` cases that encode
    /// the old 140-character limit (141 characters is valid under v3's 280).
    #[test]
    fn agrees_with_every_v3_case_of_xs_conformance_data() {
        let data: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../tests/twitter-text/validate.yml")).unwrap();
        let tests = &data["tests"];
        let mut checked = 0;
        for group in [
            "WeightedTweetsWithDiscountedEmojiCounterTest",
            "UnicodeDirectionalMarkerCounterTest",
        ] {
            for case in tests[group].as_sequence().unwrap() {
                let text = case["text"].as_str().unwrap();
                let expected = &case["expected"];
                let got = check(text);
                let description = case["description"].as_str().unwrap_or_default();
                let number = |k: &str| expected[k].as_i64().unwrap();
                assert_eq!(
                    got.weighted_length as i64,
                    number("weightedLength"),
                    "{group}: {description}"
                );
                assert_eq!(
                    got.valid,
                    expected["valid"].as_bool().unwrap(),
                    "{group}: {description}"
                );
                assert_eq!(
                    got.permillage as i64,
                    number("permillage"),
                    "{group}: {description}"
                );
                assert_eq!(
                    got.valid_range,
                    [
                        number("validRangeStart") as i32,
                        number("validRangeEnd") as i32
                    ],
                    "{group}: {description}"
                );
                assert_eq!(
                    got.display_range,
                    [
                        number("displayRangeStart") as i32,
                        number("displayRangeEnd") as i32
                    ],
                    "{group}: {description}"
                );
                checked += 1;
            }
        }
        for case in tests["tweets"].as_sequence().unwrap() {
            let text = case["text"].as_str().unwrap();
            let description = case["description"].as_str().unwrap_or_default();
            if description.contains("141 characters") {
                assert!(check(text).valid, "{description}: valid under v3");
                continue;
            }
            assert_eq!(
                check(text).valid,
                case["expected"].as_bool().unwrap(),
                "tweets: {description}"
            );
            checked += 1;
        }
        assert_eq!(checked, 22 + 2 + 6);
    }
}
