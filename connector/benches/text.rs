//! Counting a post's text: `text::check` (plain texts by their characters,
//! others a word at a time) against twitter-text's grammar on the whole
//! text, side by side in one run, natively.
//!
//! `cargo bench -p x-connector --bench text`

use std::hint::black_box;
use std::time::{Duration, Instant};
use x_connector::text;

const SAMPLES: usize = 201;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(count: impl Fn() -> text::TextCheck) -> Duration {
    let samples = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            black_box(count());
            started.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let sentence = "The workflow engine posts an update about the release. ";
    let texts = [
        ("17 characters, plain", "How long is this?".to_string()),
        (
            "280 characters, plain",
            sentence.repeat(6)[..280].to_string(),
        ),
        (
            "a URL, two emoji, a hashtag and a mention",
            "Launch day 🚀🎉 for the connector: https://example.com/launch?utm=x #release @ada"
                .to_string(),
        ),
        (
            "200 characters of text and three URLs",
            format!(
                "{} https://example.com/a example.org/b?c=d t.co/xyz",
                &sentence.repeat(4)[..200]
            ),
        ),
        ("330 characters, plain, past the limit", sentence.repeat(6)),
        (
            "past the limit with a URL (grammar either way)",
            format!("{} https://example.com/a", sentence.repeat(6)),
        ),
    ];
    println!("median of {SAMPLES}, microseconds");
    println!(
        "{:<45} {:>10} {:>10} {:>8}",
        "text", "check", "grammar", "ratio"
    );
    for (label, text) in &texts {
        let fast = time(|| text::check(text));
        let grammar = time(|| text::grammar_check(text));
        assert_eq!(text::check(text), text::grammar_check(text), "{label}");
        println!(
            "{label:<45} {:>10.1} {:>10.1} {:>7.1}x",
            fast.as_secs_f64() * 1e6,
            grammar.as_secs_f64() * 1e6,
            grammar.as_secs_f64() / fast.as_secs_f64()
        );
    }
}
