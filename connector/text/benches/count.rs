//! How long `count_with_limit(text, 25_000)` takes on texts of each kind
//! (tests/support/texts.rs) at 280, 1,000, 5,000 and 25,000 UTF-16 units:
//! the median of many runs, in microseconds, natively; then, at 25,000,
//! the default reading of emoji (X's library's) against the Unicode one.
//!
//! `cargo bench -p x-text --bench count`

#[path = "../tests/support/texts.rs"]
mod texts;

use std::hint::black_box;
use std::time::{Duration, Instant};
use x_text::{count_with_limit, count_with_unicode_emoji};

const LENGTHS: [usize; 4] = [280, 1_000, 5_000, 25_000];

/// The median time of `run`, timed often enough to fill about 100 ms
/// (at least 11 runs).
fn median(mut run: impl FnMut()) -> Duration {
    let started = Instant::now();
    run();
    let once = started.elapsed().max(Duration::from_nanos(1));
    let runs = (Duration::from_millis(100).as_nanos() / once.as_nanos()).clamp(11, 10_001) as usize;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    print!("{:<24}", "text (µs, median)");
    for length in LENGTHS {
        print!(" {length:>9}");
    }
    println!(" {:>11}", "ns/unit@25k");
    for kind in texts::KINDS {
        print!("{:<24}", kind.name);
        let mut last = Duration::ZERO;
        for length in LENGTHS {
            let text = (kind.make)(length);
            last = median(|| {
                black_box(count_with_limit(black_box(&text), 25_000));
            });
            print!(" {:>9.1}", last.as_secs_f64() * 1e6);
        }
        println!(" {:>11.1}", last.as_secs_f64() * 1e9 / 25_000.0);
    }
    // X's library's emoji (twemoji-parser's expression, the default)
    // against emoji by current Unicode (the option), side by side at
    // 25,000 units.
    println!();
    println!(
        "{:<24} {:>12} {:>12} {:>7}",
        "at 25,000 (µs, median)", "x's library", "unicode", "ratio"
    );
    for kind in texts::KINDS {
        let text = (kind.make)(25_000);
        let library = median(|| {
            black_box(count_with_limit(black_box(&text), 25_000));
        });
        let unicode = median(|| {
            black_box(count_with_unicode_emoji(black_box(&text), 25_000));
        });
        println!(
            "{:<24} {:>12.1} {:>12.1} {:>6.2}×",
            kind.name,
            library.as_secs_f64() * 1e6,
            unicode.as_secs_f64() * 1e6,
            library.as_secs_f64() / unicode.as_secs_f64()
        );
    }
}
