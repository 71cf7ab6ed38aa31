//! Texts whose counts X's JavaScript library (twitter-text 3.1.0's
//! `parseTweet`) is known to give, each figure below read off it: the
//! texts the `twitter-text` 0.2 crate counted wrongly, the must-not-extract
//! cases, the limits of URL length, t.co slugs and domain labels, NFC, the
//! valid range, and the emoji rules.

use x_text::{
    count, count_with_limit, count_with_unicode_emoji, extract_emoji, extract_emoji_unicode,
    extract_urls,
};

fn weighs(text: &str) -> u32 {
    count(text).weighted_length
}

fn urls(text: &str) -> Vec<(String, usize, usize)> {
    extract_urls(text)
        .into_iter()
        .map(|u| (u.url, u.start, u.end))
        .collect()
}

#[test]
fn texts_that_the_peg_grammar_counted_wrongly_weigh_what_x_counts() {
    // Arrange: each text and the weight JavaScript's parseTweet gives it.
    let cases = [
        ("see docs/readme.md", 18),
        ("example.com?ref=twitter", 35),
        ("example.com#top", 27),
        ("my--site.com", 23),
        ("ASP.NETCore", 11),
        ("https://user:pass@example.com/", 30),
        ("http://192.168.0.1", 18),
        ("https://twitter.llc", 23),
        ("seehttps://example.com", 22),
    ];
    for (text, expected) in cases {
        // Act
        let weight = weighs(text);
        // Assert
        assert_eq!(weight, expected, "{text:?}");
    }
}

#[test]
fn a_query_or_fragment_without_a_path_is_not_part_of_a_url_without_protocol() {
    assert_eq!(
        urls("example.com?ref=twitter"),
        [("example.com".to_owned(), 0, 11)]
    );
    assert_eq!(
        urls("visit example.com/path?q=1 now"),
        [("example.com/path?q=1".to_owned(), 6, 26)]
    );
}

#[test]
fn what_x_must_not_extract_is_not_extracted() {
    for text in [
        "text http://domain.com-that-you-should-have-put-a-space-after",
        "Email me at name.al-lastname@foo.com or name.al+lastname@foo.com",
        "john.doe.gov@mail.com",
        "ASP.NETCore",
        "http://192.168.0.1",
        "https://user:pass@example.com/",
    ] {
        assert_eq!(urls(text), [], "{text:?}");
        assert_eq!(
            weighs(text),
            text.chars().count() as u32,
            "{text:?} weighs its characters"
        );
    }
}

#[test]
fn a_url_may_be_4096_characters_with_its_protocol_counted_twice() {
    // extractUrlsWithIndices adds the protocol's length to the URL's, which
    // already holds it: an https URL may be 4088 characters long.
    let https = |length: usize| format!("https://x.com/{}", "a".repeat(length - 14));
    assert_eq!(weighs(&https(4088)), 23);
    assert_eq!(weighs(&https(4089)), 4089);
    let http = |length: usize| format!("http://x.com/{}", "a".repeat(length - 13));
    assert_eq!(weighs(&http(4089)), 23);
    assert_eq!(weighs(&http(4090)), 4090);
    // Without a protocol, `https://` is assumed.
    let bare = |length: usize| format!("x.com/{}", "a".repeat(length - 6));
    assert_eq!(weighs(&bare(4088)), 23);
    assert_eq!(weighs(&bare(4089)), 4089);
}

#[test]
fn a_tco_slug_may_be_40_characters() {
    assert_eq!(weighs(&format!("https://t.co/{}", "a".repeat(40))), 23);
    assert_eq!(weighs(&format!("https://t.co/{}", "a".repeat(41))), 54);
    // A t.co URL keeps only its slug and query.
    assert_eq!(
        urls("http://t.co/abc/def"),
        [("http://t.co/abc".to_owned(), 0, 15)]
    );
}

#[test]
fn a_domain_label_may_be_63_characters_once_punycode_encoded() {
    assert_eq!(weighs(&format!("{}.com", "a".repeat(63))), 23);
    assert_eq!(weighs(&format!("{}.com", "a".repeat(64))), 68);
    // punycode.js 1.4.1 (which twitter-text pins and bundles) encodes a
    // label holding a control character: 58 characters become 63, and 59
    // become 64 (Node's built-in punycode would leave both as they are).
    assert_eq!(weighs(&format!("http://a\u{1}{}.com", "b".repeat(56))), 23);
    assert_eq!(weighs(&format!("http://a\u{1}{}.com", "b".repeat(57))), 70);
}

#[test]
fn the_i_flag_folds_greek_iota_into_the_latin_characters() {
    // U+0399's upper case is that of U+0345, a combining mark the Latin
    // class holds; JavaScript therefore takes these as URLs.
    assert_eq!(urls("\u{399}.com"), [("\u{399}.com".to_owned(), 0, 5)]);
    assert_eq!(
        urls("x.com/\u{3B9}\u{3B9}"),
        [("x.com/\u{3B9}\u{3B9}".to_owned(), 0, 8)]
    );
}

#[test]
fn a_url_after_a_character_outside_the_bmp_starts_after_it() {
    // Indices are UTF-16 code units.
    assert_eq!(urls("\u{1F600}a.com"), [("a.com".to_owned(), 2, 7)]);
    assert_eq!(
        urls("\u{1F600}https://a.com"),
        [("https://a.com".to_owned(), 2, 15)]
    );
    assert_eq!(weighs("\u{1F600}a.com"), 25);
}

#[test]
fn text_is_counted_after_nfc_and_the_ranges_are_in_the_original() {
    // Three e + combining acute: NFC makes three é, weighing 1 each; the
    // ranges still index the six original code units.
    let counted = count("e\u{301}e\u{301}e\u{301}");
    assert_eq!(counted.weighted_length, 3);
    assert_eq!(counted.valid_range, [0, 5]);
    assert_eq!(counted.display_range, [0, 5]);
    // U+0958 decomposes under NFC (a composition exclusion): the valid
    // range's end moves back by the unit NFC added.
    let counted = count("\u{958}abc");
    assert_eq!(
        (
            counted.weighted_length,
            counted.valid_range,
            counted.display_range
        ),
        (5, [0, 3], [0, 3])
    );
}

#[test]
fn validity_needs_weight_within_the_limit_and_no_invalid_character() {
    let empty = count("");
    assert_eq!(
        (
            empty.weighted_length,
            empty.valid,
            empty.valid_range,
            empty.display_range
        ),
        (0, false, [0, 0], [0, 0])
    );
    assert!(count(" ").valid, "whitespace weighs 1");
    let bom = count("\u{FEFF}");
    assert_eq!(
        (bom.weighted_length, bom.valid, bom.valid_range),
        (2, false, [0, 0])
    );
    // The invalid character after a URL stops the valid range before it.
    let after_url = count("x.com\u{FEFF}");
    assert_eq!(
        (
            after_url.weighted_length,
            after_url.valid,
            after_url.valid_range
        ),
        (25, false, [0, 4])
    );
    let over = count(&"a".repeat(281));
    assert_eq!(
        (
            over.valid,
            over.permillage,
            over.valid_range,
            over.display_range
        ),
        (false, 1003, [0, 279], [0, 280])
    );
}

#[test]
fn premium_posts_are_counted_against_25000() {
    let fits = count_with_limit(
        &"a".repeat(25_000),
        x_text::config::PREMIUM_MAX_WEIGHTED_LENGTH,
    );
    assert_eq!(
        (fits.weighted_length, fits.valid, fits.permillage),
        (25_000, true, 1000)
    );
    assert_eq!(fits.max_weighted_length, 25_000);
    let over = count_with_limit(&"a".repeat(25_001), 25_000);
    assert_eq!(
        (
            over.valid,
            over.permillage,
            over.valid_range,
            over.display_range
        ),
        (false, 1000, [0, 24_999], [0, 25_000])
    );
}

#[test]
fn every_emoji_sequence_weighs_2() {
    // Arrange: sequences and what they weigh as one emoji, against their
    // parts' weights.
    let cases = [
        ("👨‍👩‍👧‍👦", "a family"),
        ("🇯🇵", "a flag"),
        ("👋🏽", "a skin tone"),
        ("1️⃣", "a keycap"),
        ("1⃣", "a keycap without its variation selector"),
        ("©️", "a text-style character with its variation selector"),
        (
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "a subdivision flag",
        ),
    ];
    for (text, what) in cases {
        // Act
        let emoji = extract_emoji(text);
        // Assert
        assert_eq!(emoji.len(), 1, "{what} is one emoji");
        assert_eq!(weighs(text), 2, "{what} weighs 2");
    }
    // Newer than X's library's table (Emoji 11): a ZWJ sequence counts as
    // its parts (2 + 1 + 2), and a new character as any character outside
    // the ranges, not as an emoji.
    assert_eq!(extract_emoji("🐦‍🔥").len(), 2);
    assert_eq!(weighs("🐦‍🔥"), 5);
    assert!(extract_emoji("🫨").is_empty());
    assert_eq!(weighs("🫨"), 2);
    // By current Unicode, on request, both are one emoji.
    assert_eq!(count_with_unicode_emoji("🐦‍🔥", 280).weighted_length, 2);
    assert_eq!(extract_emoji_unicode("🫨").len(), 1);
    // A copyright sign alone is a Latin-1 character.
    assert_eq!(weighs("©"), 1);
    // Two regional indicators that name no region are two emoji.
    assert_eq!(weighs("🇺🇺"), 4);
}
