//! X's own conformance data for twitter-text (tests/twitter-text/, from
//! twitter/twitter-text), run in full for everything that decides how a
//! post is counted under configuration v3:
//!
//! * extract.yml's URL groups (`urls`, `urls_with_indices`,
//!   `urls_with_directional_markers`, `tco_urls_with_params`): which spans
//!   are URLs, and so weigh 23;
//! * tlds.yml (`country`, `generic`): every TLD X recognises;
//! * validate.yml's `WeightedTweetsWithDiscountedEmojiCounterTest` (v3)
//!   and `UnicodeDirectionalMarkerCounterTest` (the default, v3): every
//!   figure parseTweet returns; and `tweets`: validity.
//!
//! Not run: extract.yml's mention, reply, hashtag and cashtag groups (they
//! weigh as their characters), validate.yml's `WeightedTweetsCounterTest`
//! (configuration v2, no emoji parsing), and its `urls`,
//! `urls_without_protocol`, `usernames`, `lists` and `hashtags` groups,
//! which test twitter-text's `isValidUrl`, `isValidUsername` and the like:
//! validators of a whole string as one URL or name, which counting never
//! calls.
//!
//! Each test runs every case of its group and reports every case that
//! fails, by its description, before failing.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use x_text::{Counted, count, extract_urls};

fn data(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/twitter-text")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn group<'a>(file: &'a Value, name: &str) -> &'a [Value] {
    file["tests"][name]
        .as_sequence()
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn text_of(case: &Value) -> &str {
    case["text"].as_str().expect("a case has a text")
}

fn description_of(case: &Value) -> &str {
    case["description"].as_str().unwrap_or("(no description)")
}

/// Runs `check` on every case of a group; fails listing every failure.
fn run_group(name: &str, cases: &[Value], check: impl Fn(&Value) -> Result<(), String>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case)
                .err()
                .map(|why| format!("  {}: {why}", description_of(case)))
        })
        .collect();
    println!(
        "{name}: {} of {} cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(!cases.is_empty(), "{name} has no cases");
}

/// The URLs twitter-text's `extractUrls` returns: the texts only.
fn url_texts(text: &str) -> Vec<String> {
    extract_urls(text).into_iter().map(|url| url.url).collect()
}

fn expected_strings(case: &Value) -> Vec<String> {
    match &case["expected"] {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| item.as_str().expect("a URL").to_owned())
            .collect(),
        other => panic!("unexpected expectation {other:?}"),
    }
}

fn expected_with_indices(case: &Value) -> Vec<(String, usize, usize)> {
    match &case["expected"] {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let indices = item["indices"].as_sequence().expect("indices");
                let index = |i: usize| indices[i].as_u64().expect("an index") as usize;
                (
                    item["url"].as_str().expect("a URL").to_owned(),
                    index(0),
                    index(1),
                )
            })
            .collect(),
        other => panic!("unexpected expectation {other:?}"),
    }
}

fn check_url_texts(case: &Value) -> Result<(), String> {
    let (actual, expected) = (url_texts(text_of(case)), expected_strings(case));
    (actual == expected)
        .then_some(())
        .ok_or_else(|| format!("got {actual:?}, X expects {expected:?}"))
}

fn check_urls_with_indices(case: &Value) -> Result<(), String> {
    let actual: Vec<_> = extract_urls(text_of(case))
        .into_iter()
        .map(|u| (u.url, u.start, u.end))
        .collect();
    let expected = expected_with_indices(case);
    (actual == expected)
        .then_some(())
        .ok_or_else(|| format!("got {actual:?}, X expects {expected:?}"))
}

#[test]
fn extract_yml_has_exactly_the_url_groups_run_here() {
    // Arrange
    let extract = data("extract.yml");
    let groups: BTreeSet<&str> = extract["tests"]
        .as_mapping()
        .expect("groups")
        .keys()
        .filter_map(Value::as_str)
        .filter(|name| name.contains("url"))
        .collect();

    // Assert: a new URL group in the data must be added to the tests below.
    assert_eq!(
        groups,
        BTreeSet::from([
            "tco_urls_with_params",
            "urls",
            "urls_with_directional_markers",
            "urls_with_indices"
        ])
    );
}

#[test]
fn every_url_of_extract_yml_urls_is_extracted_and_nothing_else() {
    let extract = data("extract.yml");
    run_group("urls", group(&extract, "urls"), check_url_texts);
}

#[test]
fn every_url_of_extract_yml_tco_urls_with_params_is_extracted() {
    let extract = data("extract.yml");
    run_group(
        "tco_urls_with_params",
        group(&extract, "tco_urls_with_params"),
        check_url_texts,
    );
}

#[test]
fn every_url_of_extract_yml_urls_with_indices_is_extracted_where_x_places_it() {
    // The indices are UTF-16 code units, as the JavaScript library gives
    // them (no case has a character outside the BMP, where code points
    // would differ).
    let extract = data("extract.yml");
    run_group(
        "urls_with_indices",
        group(&extract, "urls_with_indices"),
        check_urls_with_indices,
    );
}

#[test]
fn every_url_of_extract_yml_urls_with_directional_markers_is_extracted_where_x_places_it() {
    let extract = data("extract.yml");
    run_group(
        "urls_with_directional_markers",
        group(&extract, "urls_with_directional_markers"),
        check_urls_with_indices,
    );
}

#[test]
fn every_country_tld_of_tlds_yml_ends_a_url() {
    let tlds = data("tlds.yml");
    run_group("country", group(&tlds, "country"), check_url_texts);
}

#[test]
fn every_generic_tld_of_tlds_yml_ends_a_url() {
    let tlds = data("tlds.yml");
    run_group("generic", group(&tlds, "generic"), check_url_texts);
}

/// parseTweet's results as validate.yml spells them.
fn parse_tweet_fields(counted: &Counted) -> Vec<(&'static str, i64)> {
    vec![
        ("weightedLength", i64::from(counted.weighted_length)),
        ("valid", i64::from(counted.valid)),
        ("permillage", i64::from(counted.permillage)),
        ("validRangeStart", i64::from(counted.valid_range[0])),
        ("validRangeEnd", i64::from(counted.valid_range[1])),
        ("displayRangeStart", i64::from(counted.display_range[0])),
        ("displayRangeEnd", i64::from(counted.display_range[1])),
    ]
}

fn check_parse_tweet(case: &Value) -> Result<(), String> {
    let counted = count(text_of(case));
    let expected = &case["expected"];
    let wrong: Vec<String> = parse_tweet_fields(&counted)
        .into_iter()
        .filter_map(|(field, actual)| {
            let want = match &expected[field] {
                Value::Bool(b) => i64::from(*b),
                value => value.as_i64().unwrap_or_else(|| panic!("{field} missing")),
            };
            (actual != want).then(|| format!("{field} {actual}, X expects {want}"))
        })
        .collect();
    wrong
        .is_empty()
        .then_some(())
        .ok_or_else(|| wrong.join(", "))
}

#[test]
fn every_v3_weighted_length_case_of_validate_yml_counts_as_x_counts() {
    let validate = data("validate.yml");
    run_group(
        "WeightedTweetsWithDiscountedEmojiCounterTest",
        group(&validate, "WeightedTweetsWithDiscountedEmojiCounterTest"),
        check_parse_tweet,
    );
}

#[test]
fn every_directional_marker_case_of_validate_yml_counts_as_x_counts() {
    let validate = data("validate.yml");
    run_group(
        "UnicodeDirectionalMarkerCounterTest",
        group(&validate, "UnicodeDirectionalMarkerCounterTest"),
        check_parse_tweet,
    );
}

#[test]
fn every_tweet_of_validate_yml_is_valid_as_under_v3() {
    // Arrange: the group dates from the 140-character limit. Two texts are
    // invalid there for being 141 characters long; under v3's 280 they are
    // valid, as X's parseTweet says.
    let validate = data("validate.yml");
    let cases = group(&validate, "tweets");
    let written_for_140 =
        |case: &Value| description_of(case).starts_with("Invalid Tweet: 141 characters");
    assert_eq!(cases.iter().filter(|case| written_for_140(case)).count(), 2);

    // Act and assert
    run_group("tweets", cases, |case| {
        let expected = written_for_140(case) || case["expected"].as_bool().expect("a validity");
        let counted = count(text_of(case));
        (counted.valid == expected)
            .then_some(())
            .ok_or_else(|| format!("valid {}, expected {expected} ({counted:?})", counted.valid))
    });
}

#[test]
fn the_configuration_is_config_v3_json() {
    // Arrange
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/twitter-text/config-v3.json");
    let config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("config-v3.json"))
            .expect("JSON");
    let number = |key: &str| config[key].as_u64().unwrap_or_else(|| panic!("{key}")) as u32;

    // Assert
    use x_text::config::*;
    assert_eq!(number("version"), 3);
    assert_eq!(number("maxWeightedTweetLength"), MAX_WEIGHTED_LENGTH);
    assert_eq!(number("scale"), SCALE);
    assert_eq!(number("defaultWeight"), DEFAULT_WEIGHT);
    assert_eq!(number("transformedURLLength"), TRANSFORMED_URL_LENGTH);
    assert_eq!(
        config["emojiParsingEnabled"].as_bool(),
        Some(EMOJI_PARSING_ENABLED)
    );
    let ranges: Vec<(u32, u32, u32)> = config["ranges"]
        .as_sequence()
        .expect("ranges")
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_u64().expect(k) as u32;
            (field("start"), field("end"), field("weight"))
        })
        .collect();
    assert_eq!(ranges, RANGES);
}
