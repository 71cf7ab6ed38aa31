//! Counting a post's text inside the component against the same counter
//! natively, side by side in one run: `post.validate` through the X
//! connector (a fresh instance per call, as every action has) and
//! `x_text::count` in the bench's process, on texts of each kind
//! (`connector/text/tests/support/texts.rs`) at 280, 1,000, 5,000 and
//! 25,000 UTF-16 units. Both must give the same count. The component's
//! fixed cost (instantiation, the input's schema check, JSON both ways) is
//! measured apart with a one-character text, so the ratio of what is left
//! says what counting costs in wasm against native code.
//!
//! `cargo bench -p host-harness --bench text` (`BENCH_SAMPLES`, default 31
//! per text and side, interleaved).

// Only its `env_number` and `x_connector` are used here.
#[allow(dead_code)]
mod support;
#[path = "../../connector/text/tests/support/texts.rs"]
mod texts;

use host_harness::manifest::AuthKind;
use host_harness::{Connection, ConnectionFacts};
use std::hint::black_box;
use std::time::{Duration, Instant};

const LENGTHS: [usize; 4] = [280, 1_000, 5_000, 25_000];

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// X's limit for an account whose subscription allows long posts.
const LONG_POST_LIMIT: u32 = 25_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let samples = support::env_number("BENCH_SAMPLES", 31);
    let connector = support::x_connector().await;
    // post.validate sends nothing; a connection is needed only to invoke.
    let connection = Connection::bearer(
        ConnectionFacts {
            id: "bench".into(),
            auth_kind: AuthKind::BearerToken,
            granted_scopes: None,
            account_id: None,
            account_facts: Default::default(),
        },
        secrecy::SecretString::from("unused".to_string()),
    );
    // At the limit of an account whose subscription allows long posts.
    let validate = |text: &str| {
        serde_json::json!({ "text": text, "max_weighted_length": LONG_POST_LIMIT }).to_string()
    };

    let component = |input: String| {
        let (connector, connection) = (&connector, &connection);
        async move {
            let started = Instant::now();
            let out = connector
                .invoke(connection, "post.validate", &input)
                .await
                .unwrap();
            (started.elapsed(), out["weighted_length"].as_u64().unwrap())
        }
    };

    let one = validate("a");
    let mut fixed = Vec::new();
    for _ in 0..samples.max(101) {
        fixed.push(component(one.clone()).await.0);
    }
    let fixed = median(fixed);
    println!(
        "post.validate of one character (the component's fixed cost): {fixed:.3} ms, median of {}",
        samples.max(101)
    );
    println!(
        "\n{:<24} {:>7} {:>12} {:>12} {:>12} {:>8}",
        "text", "units", "component", "minus fixed", "native", "ratio"
    );
    for kind in texts::KINDS {
        for length in LENGTHS {
            let text = (kind.make)(length);
            let input = validate(&text);
            let (mut wasm, mut native) = (Vec::new(), Vec::new());
            for _ in 0..samples {
                let (elapsed, weighed) = component(input.clone()).await;
                wasm.push(elapsed);
                let started = Instant::now();
                let counted =
                    black_box(x_text::count_with_limit(black_box(&text), LONG_POST_LIMIT));
                native.push(started.elapsed());
                assert_eq!(weighed, u64::from(counted.weighted_length), "{}", kind.name);
            }
            let (wasm, native) = (median(wasm), median(native));
            let counting = (wasm - fixed).max(0.0);
            println!(
                "{:<24} {:>7} {:>9.3} ms {:>9.3} ms {:>9.3} ms {:>7.1}x",
                kind.name,
                length,
                wasm,
                counting,
                native,
                counting / native
            );
        }
    }
}
