//! The top-level domains twitter-text recognises (validGTLD.js,
//! validCCTLD.js) and how its regex matches one at a position.
//!
//! The regex tries the generic TLDs, then the country ones, each list in
//! its file's order, then punycode (`xn--[-0-9a-z]+`); every TLD must be
//! followed by a character other than an ASCII letter, digit, `@`, `+` or
//! `-`, or by the end of the text. The first alternative that passes wins.
//! For ASCII TLDs at most one can pass (a longer one leaves a letter after
//! a shorter one); for some non-ASCII ones both can (भारत and भारतम्,
//! 嘉里 and 嘉里大酒店), and the lists put the longer first, which
//! [`match_at`] honours by taking the passing TLD that comes first in them.

use crate::classes::{ends_tld, punycode_char, starts_with_ignore_case};

// validGTLD.js's and validCCTLD.js's lists (`tlds/*.txt`), sorted by the
// build script: `BYTES`, `ENDS`, `PLACES`.
include!(concat!(env!("OUT_DIR"), "/tld_table.rs"));

/// Non-ASCII characters that the `i` flag lets match a character of a TLD:
/// `(character, the TLD's character)`, sorted. Read off V8 by testing every
/// code unit against every non-ASCII character of the lists with
/// `new RegExp(tldChar, 'i')`: upper-case Cyrillic, Greek and Armenian
/// letters, Ö, Georgian Mtavruli, and old Cyrillic forms such as U+1C80.
const FOLD: &[(u16, u16)] = &[
    (0x00D6, 0x00F6),
    (0x0395, 0x03B5),
    (0x039B, 0x03BB),
    (0x03A5, 0x03C5),
    (0x03F5, 0x03B5),
    (0x0410, 0x0430),
    (0x0411, 0x0431),
    (0x0412, 0x0432),
    (0x0413, 0x0433),
    (0x0414, 0x0434),
    (0x0415, 0x0435),
    (0x0417, 0x0437),
    (0x0418, 0x0438),
    (0x0419, 0x0439),
    (0x041A, 0x043A),
    (0x041B, 0x043B),
    (0x041C, 0x043C),
    (0x041D, 0x043D),
    (0x041E, 0x043E),
    (0x0420, 0x0440),
    (0x0421, 0x0441),
    (0x0422, 0x0442),
    (0x0423, 0x0443),
    (0x0424, 0x0444),
    (0x042E, 0x044E),
    (0x049A, 0x049B),
    (0x0531, 0x0561),
    (0x0540, 0x0570),
    (0x0545, 0x0575),
    (0x1C80, 0x0432),
    (0x1C81, 0x0434),
    (0x1C82, 0x043E),
    (0x1C83, 0x0441),
    (0x1C84, 0x0442),
    (0x1C85, 0x0442),
    (0x1C92, 0x10D2),
    (0x1C94, 0x10D4),
];

/// The form of `c` in which it is compared with a TLD's character (all of
/// which are in this form already).
fn fold(c: u16) -> u16 {
    match c {
        0x41..=0x5A => c + 32,
        0x00..=0x7F => c,
        _ => FOLD
            .binary_search_by_key(&c, |&(from, _)| from)
            .map_or(c, |i| FOLD[i].1),
    }
}

/// The `i`-th TLD of the sorted table, as UTF-8.
fn entry(i: usize) -> &'static [u8] {
    let start = if i == 0 { 0 } else { usize::from(ENDS[i - 1]) };
    &BYTES[start..usize::from(ENDS[i])]
}

/// The first index in `lo..hi` for which `before` is false (`before`
/// being true for a prefix of that range).
fn partition(mut lo: usize, mut hi: usize, before: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Where the regex's TLD alternative `(?:gTLD|ccTLD|punycode)` ends when
/// tried at `pos` of `t`, `t[..end]` being the whole string (its `$`), or
/// `None` if no alternative matches. Costs O(longest TLD × log TLDs), plus
/// the punycode label's length.
pub(crate) fn match_at(t: &[u16], pos: usize, end: usize) -> Option<usize> {
    let (mut lo, mut hi) = (0, PLACES.len());
    // The passing TLD that comes first in the alternation, and its end.
    let mut best: Option<(u16, usize)> = None;
    // Invariant: the entries in lo..hi are those that start with the UTF-8
    // of the k folded code units at pos, `depth` bytes.
    let (mut k, mut depth) = (0, 0);
    loop {
        if lo < hi && entry(lo).len() == depth {
            let after = pos + k;
            if (after == end || ends_tld(t[after]))
                && best.is_none_or(|(place, _)| PLACES[lo] < place)
            {
                best = Some((PLACES[lo], after));
            }
            lo += 1;
        }
        if lo >= hi || pos + k >= end {
            break;
        }
        // A surrogate is in no TLD.
        let Some(c) = char::from_u32(u32::from(fold(t[pos + k]))) else {
            break;
        };
        let mut utf8 = [0u8; 4];
        for &byte in c.encode_utf8(&mut utf8).as_bytes() {
            let key = |i: usize| entry(i).get(depth).copied();
            let first = partition(lo, hi, |i| key(i) < Some(byte));
            (lo, hi) = (first, partition(first, hi, |i| key(i) == Some(byte)));
            depth += 1;
        }
        k += 1;
    }
    if let Some((_, after)) = best {
        return Some(after);
    }
    // validPunycode.js: no lookahead, greedy.
    if starts_with_ignore_case(&t[pos..end], b"xn--") {
        let run = t[pos + 4..end]
            .iter()
            .take_while(|&&c| punycode_char(c))
            .count();
        if run > 0 {
            return Some(pos + 4 + run);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tld_end(text: &str) -> Option<usize> {
        let t: Vec<u16> = text.encode_utf16().collect();
        match_at(&t, 0, t.len())
    }

    #[test]
    fn a_tld_must_be_followed_by_other_than_a_letter_digit_at_plus_or_minus() {
        assert_eq!(tld_end("com"), Some(3));
        assert_eq!(tld_end("com/"), Some(3));
        assert_eq!(tld_end("com_x"), Some(3));
        assert_eq!(tld_end("COM."), Some(3));
        assert_eq!(tld_end("comx"), None);
        assert_eq!(tld_end("com-"), None);
        assert_eq!(tld_end("com@"), None);
        assert_eq!(tld_end("com+"), None);
        assert_eq!(tld_end("com1"), None);
    }

    #[test]
    fn the_longer_of_two_non_ascii_tlds_comes_first() {
        assert_eq!(tld_end("भारतम्"), Some("भारतम्".encode_utf16().count()));
        assert_eq!(tld_end("भारतx"), None);
        assert_eq!(tld_end("भारतक"), Some("भारत".encode_utf16().count()));
        assert_eq!(tld_end("嘉里大酒店"), Some(5));
        assert_eq!(tld_end("嘉里大"), Some(2));
    }

    #[test]
    fn non_ascii_tlds_match_their_upper_case() {
        assert_eq!(tld_end("РФ"), Some(2));
        assert_eq!(tld_end("ΕΛ"), Some(2));
        assert_eq!(tld_end("VERMÖGENSBERATER"), Some(16));
    }

    #[test]
    fn the_embedded_lists_are_exactly_the_tlds_of_tlds_yml_in_their_order() {
        // Arrange: X's conformance data lists every TLD, in the order of
        // validGTLD.js and validCCTLD.js, as `https://twitter.<tld>`.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/twitter-text/tlds.yml"
        );
        let tlds: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(path).expect("tlds.yml")).expect("YAML");
        let listed = |group: &str| -> Vec<String> {
            tlds["tests"][group]
                .as_sequence()
                .expect("a group")
                .iter()
                .map(|case| {
                    case["text"]
                        .as_str()
                        .and_then(|t| t.strip_prefix("https://twitter."))
                        .expect("a TLD")
                        .to_owned()
                })
                .collect()
        };
        let embedded = |list: &str| -> Vec<String> { list.lines().map(str::to_owned).collect() };
        let (generic, country) = (
            include_str!("tlds/generic.txt"),
            include_str!("tlds/country.txt"),
        );

        // Assert: the lists, and the table built from them.
        assert_eq!(embedded(generic), listed("generic"));
        assert_eq!(embedded(country), listed("country"));
        let in_order: Vec<String> = embedded(generic)
            .into_iter()
            .chain(embedded(country))
            .collect();
        let mut from_table = vec![String::new(); PLACES.len()];
        for (i, place) in PLACES.iter().enumerate() {
            from_table[usize::from(*place)] = String::from_utf8(entry(i).to_vec()).unwrap();
        }
        assert_eq!(from_table, in_order);
    }

    #[test]
    fn every_character_the_fold_table_maps_matches_under_canonicalize() {
        // Each pair: the TLD character is the lower case of the other, or
        // shares its upper case (U+1C80 and U+0432 both upper-case to U+0412).
        for &(from, to) in FOLD {
            let upper = |c: u16| {
                char::from_u32(u32::from(c))
                    .unwrap()
                    .to_uppercase()
                    .collect::<String>()
            };
            assert_eq!(upper(from), upper(to), "U+{from:04X} and U+{to:04X}");
        }
        assert!(FOLD.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    }

    #[test]
    fn punycode_takes_the_whole_run_without_lookahead() {
        assert_eq!(tld_end("xn--p1ai"), Some(8));
        assert_eq!(tld_end("XN--p1ai@x"), Some(8));
        assert_eq!(tld_end("xn--"), None);
    }
}
