//! Counting takes time linear in the text, whatever the text: 25,000
//! UTF-16 units of every kind (tests/support/texts.rs), including those
//! that make twitter-text's backtracking regex quadratic, are counted in
//! well under a second each, even in a debug build. (Under the old PEG
//! crate a 25,000-character run of `a.` took minutes.)

#[path = "support/texts.rs"]
mod texts;

use std::time::{Duration, Instant};
use x_text::count_with_limit;

/// A generous ceiling: a debug build counts 25,000 units in a few
/// milliseconds; quadratic work would take seconds to minutes.
const CEILING: Duration = Duration::from_secs(1);

#[test]
fn every_kind_of_25000_unit_text_is_counted_in_well_under_a_second() {
    for kind in texts::KINDS {
        // Arrange
        let text = (kind.make)(25_000);
        assert!(
            text.encode_utf16().count() > 24_000,
            "{}: {} units",
            kind.name,
            text.encode_utf16().count()
        );

        // Act
        let started = Instant::now();
        let counted = count_with_limit(&text, 25_000);
        let elapsed = started.elapsed();

        // Assert
        println!(
            "{:<24} {:>8.2} ms, weighs {}",
            kind.name,
            elapsed.as_secs_f64() * 1e3,
            counted.weighted_length
        );
        assert!(counted.weighted_length > 0, "{}", kind.name);
        assert!(elapsed < CEILING, "{} took {elapsed:?}", kind.name);
    }
}
