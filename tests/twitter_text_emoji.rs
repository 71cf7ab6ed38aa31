//! The connector counts a post's emoji exactly as X's own library does:
//! generated texts dense with what makes emoji hard (joiners, variation
//! selectors, skin tones, regional indicators, tag characters, keycaps,
//! and emoji older and newer than the library's table) are segmented and
//! weighed by `x_text` and by twitter-text 3.1.0 with its twemoji-parser
//! (installed from npm by the test), and must agree on every one.

mod support;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// How many texts are generated.
const TEXTS: usize = 4000;

/// The pieces texts are made of: each a few code points.
const PIECES: &[&str] = &[
    // Joiners, selectors, modifiers, keycap, tags, the black flag.
    "\u{200D}",
    "\u{FE0F}",
    "\u{FE0E}",
    "🏻",
    "🏽",
    "🏿",
    "\u{20E3}",
    "🏴",
    "\u{E0067}",
    "\u{E0062}",
    "\u{E0065}",
    "\u{E006E}",
    "\u{E0073}",
    "\u{E0063}",
    "\u{E0074}",
    "\u{E007F}",
    // Regional indicators.
    "🇦",
    "🇫",
    "🇷",
    "🇺",
    "🇸",
    "🇯",
    "🇵",
    "🇬",
    "🇧",
    // Keycap bases and plain text.
    "1",
    "#",
    "*",
    "a",
    " ",
    "é",
    "\u{301}",
    // Characters with text presentation, and emoji of Emoji 11 and before.
    "©",
    "®",
    "™",
    "☺",
    "❤",
    "♀",
    "♂",
    "⚕",
    "✈",
    "⛹",
    "👍",
    "👋",
    "👨",
    "👩",
    "👧",
    "👦",
    "🏃",
    "💋",
    "🔥",
    "🐦",
    "🍕",
    "🤝",
    "🌈",
    "🏳",
    "🧑",
    "🦰",
    // Emoji newer than the library's table.
    "🫱",
    "🫲",
    "🫨",
    "🐦‍⬛",
    "🧑‍🚀",
    "🦩",
    "🪿",
];

/// Texts of 1 to 12 pieces, the same ones on every run.
fn texts() -> Vec<String> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = proptest::collection::vec(proptest::sample::select(PIECES), 1..12)
        .prop_map(|pieces| pieces.concat());
    (0..TEXTS)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// What twitter-text 3.1.0 makes of each text.
fn x_library(texts: &[String]) -> Vec<Value> {
    let script = support::npm::script_with_packages(
        "twitter-text-js",
        "twitter-text-js/package.json",
        "twitter-text",
        "twitter-text-js/count.mjs",
    );
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (this test needs Node.js and npm)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(texts).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "twitter-text failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("twitter-text's counts as JSON")
}

#[test]
fn emoji_are_segmented_and_weighed_as_x_s_library_does() {
    // Arrange: the texts, and X's library's reading of them.
    let texts = texts();
    let expected = x_library(&texts);

    // Act: the connector's reading.
    let mut disagreements = Vec::new();
    for (text, theirs) in texts.iter().zip(&expected) {
        let emoji: Vec<Value> = x_text::extract_emoji(text)
            .iter()
            .map(|e| serde_json::json!([e.start, e.end]))
            .collect();
        let counted = x_text::count(text);
        let ours = serde_json::json!({
            "emoji": emoji,
            "weighted_length": counted.weighted_length,
            "valid": counted.valid,
        });
        if &ours != theirs {
            let code_points: Vec<String> = text
                .chars()
                .map(|c| format!("U+{:04X}", c as u32))
                .collect();
            disagreements.push(format!(
                "{} → x-text {ours}, twitter-text {theirs}",
                code_points.join(" ")
            ));
        }
    }

    // Assert: every text, the same.
    assert_eq!(texts.len(), expected.len());
    assert!(
        disagreements.is_empty(),
        "{} of {} texts differ, such as:\n{}",
        disagreements.len(),
        texts.len(),
        disagreements[..disagreements.len().min(10)].join("\n")
    );
}
