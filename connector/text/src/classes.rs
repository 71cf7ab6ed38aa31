//! The character classes of twitter-text's URL regular expressions
//! (js/src/regexp/*.js), as the JavaScript engine applies them.
//!
//! JavaScript matches those expressions one UTF-16 code unit at a time
//! (they have no `u` flag), so every class here is a predicate on a `u16`:
//! the two halves of a surrogate pair are two characters to the regex, each
//! of them a domain character and nothing else.
//!
//! The expressions carry the `i` flag, and without `u` the engine compares
//! characters by their upper-case forms (ECMAScript's `Canonicalize`: a
//! character whose upper case is one character, unless that maps a
//! non-ASCII character to an ASCII one). That folds a few characters into
//! the Latin and Cyrillic ranges that their source lists do not name: the
//! Greek iota (U+0399, U+03B9, U+1FBE), whose upper case is that of
//! U+0345 in the combining range U+0300–U+036F; U+0260 and its kin, whose
//! upper cases are in U+0100–U+024F; U+1C80–U+1C87, old Cyrillic forms of
//! U+0412 and its kin; and so on. The tables below are the classes as
//! V8 (Node.js 20, Unicode 17) applies them, read off by testing every code
//! unit against the library's own expressions; a unit test in this file
//! holds each predicate to them. Java's twitter-text has no such folding
//! (its patterns are ASCII-case-insensitive); X's figures came from the
//! JavaScript library, so this follows JavaScript.

/// Latin letters with accents (latinAccentChars.js) and the characters the
/// `i` flag folds into them.
const LATIN: &[(u16, u16)] = &[
    (0x00C0, 0x00D6),
    (0x00D8, 0x00F6),
    (0x00F8, 0x024F),
    (0x0253, 0x0254),
    (0x0256, 0x0257),
    (0x0259, 0x0259),
    (0x025B, 0x025B),
    (0x0260, 0x0260),
    (0x0263, 0x0263),
    (0x0268, 0x0269),
    (0x026F, 0x026F),
    (0x0272, 0x0272),
    (0x0275, 0x0275),
    (0x0280, 0x0280),
    (0x0283, 0x0283),
    (0x0288, 0x028C),
    (0x0292, 0x0292),
    (0x02BB, 0x02BB),
    (0x0300, 0x036F),
    (0x0399, 0x0399),
    (0x03B9, 0x03B9),
    (0x1E00, 0x1EFF),
    (0x1FBE, 0x1FBE),
    (0x2C65, 0x2C66),
    (0x2C7E, 0x2C7F),
    (0xA7DC, 0xA7DC),
];

fn latin(c: u16) -> bool {
    c >= 0xC0
        && LATIN
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    core::cmp::Ordering::Less
                } else if lo > c {
                    core::cmp::Ordering::Greater
                } else {
                    core::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// cyrillicLettersAndMarks.js (U+0400–U+04FF) and the old forms the `i`
/// flag folds into it.
fn cyrillic(c: u16) -> bool {
    matches!(c, 0x0400..=0x04FF | 0x1C80..=0x1C87)
}

fn ascii_alnum(c: u16) -> bool {
    matches!(c, 0x30..=0x39 | 0x41..=0x5A | 0x61..=0x7A)
}

/// validDomainChars.js: anything but punctuation (punct.js, which holds
/// `-` and `_`), spaces (spacesGroup.js), the invalid characters and the
/// directional marks.
pub(crate) fn domain_char(c: u16) -> bool {
    !matches!(
        c,
        0x09..=0x0D
            | 0x20..=0x21
            | 0x23..=0x2F
            | 0x3A..=0x40
            | 0x5B..=0x5F
            | 0x7B..=0x7E
            | 0x85
            | 0xA0
            | 0x061C
            | 0x1680
            | 0x180E
            | 0x2000..=0x200A
            | 0x200E..=0x200F
            | 0x2028..=0x202F
            | 0x205F
            | 0x2066..=0x2069
            | 0x3000
            | 0xFEFF
            | 0xFFFE..=0xFFFF
    )
}

/// What a label of a domain may hold between its first and last
/// characters: domain characters, `-` and `_` (validSubdomain.js).
pub(crate) fn label_char(c: u16) -> bool {
    domain_char(c) || c == u16::from(b'-') || c == u16::from(b'_')
}

/// validUrlPrecedingChars.js: the character before a URL, which the match
/// consumes; anything but an ASCII letter or digit, `@`, `$`, `#`, their
/// full-width forms and the invalid characters. (Its second alternative,
/// the directional marks, is already in the first.)
pub(crate) fn preceding(c: u16) -> bool {
    !(ascii_alnum(c)
        || matches!(
            c,
            0x23 | 0x24 | 0x40 | 0xFF03 | 0xFF20 | 0xFEFF | 0xFFFE | 0xFFFF
        ))
}

/// The lookahead after every TLD, `(?=[^0-9a-zA-Z@+-]|$)`, for a character.
pub(crate) fn ends_tld(c: u16) -> bool {
    !(ascii_alnum(c) || matches!(c, 0x2B | 0x2D | 0x40))
}

/// validPunycode.js after `xn--`: `[\-0-9a-z]` with the `i` flag.
pub(crate) fn punycode_char(c: u16) -> bool {
    ascii_alnum(c) || c == 0x2D
}

/// validGeneralUrlPathChars.js.
pub(crate) fn path_char(c: u16) -> bool {
    matches!(
        c,
        0x21 | 0x23..=0x27
            | 0x2A..=0x3B
            | 0x3D
            | 0x40..=0x5B
            | 0x5D
            | 0x5F
            | 0x61..=0x7A
            | 0x7C
            | 0x7E
            | 0x2013
    ) || latin(c)
        || cyrillic(c)
}

/// The character class of validUrlPathEndingChars.js (its other
/// alternative, a balanced parenthesis group, is handled by the path
/// scanner).
pub(crate) fn path_ending_char(c: u16) -> bool {
    matches!(c, 0x23 | 0x2B | 0x2D | 0x2F..=0x39 | 0x3D | 0x41..=0x5A | 0x5F | 0x61..=0x7A)
        || latin(c)
        || cyrillic(c)
}

/// validUrlQueryChars.js.
pub(crate) fn query_char(c: u16) -> bool {
    matches!(c, 0x21 | 0x23..=0x3B | 0x3D | 0x3F..=0x5B | 0x5D | 0x5F | 0x61..=0x7A | 0x7C | 0x7E)
}

/// validUrlQueryEndingChars.js.
pub(crate) fn query_ending_char(c: u16) -> bool {
    matches!(c, 0x23 | 0x26 | 0x2D | 0x2F..=0x39 | 0x3D | 0x41..=0x5A | 0x5F | 0x61..=0x7A)
}

/// A label character of validAsciiDomain.js: `[\-a-z0-9latinAccentChars]`.
pub(crate) fn ascii_domain_char(c: u16) -> bool {
    ascii_alnum(c) || c == 0x2D || latin(c)
}

/// validPortNumber.js.
pub(crate) fn digit(c: u16) -> bool {
    matches!(c, 0x30..=0x39)
}

/// The slug of validTcoUrl.js: `[a-z0-9]` with the `i` flag.
pub(crate) fn tco_slug_char(c: u16) -> bool {
    ascii_alnum(c)
}

/// invalidChars.js: what makes a post invalid.
pub(crate) fn invalid(c: u16) -> bool {
    matches!(c, 0xFFFE | 0xFEFF | 0xFFFF)
}

/// Whether `t` starts with the ASCII `lit` (lower case), compared as the
/// `i` flag compares ASCII letters: only with their ASCII other case.
pub(crate) fn starts_with_ignore_case(t: &[u16], lit: &[u8]) -> bool {
    t.len() >= lit.len()
        && t.iter().zip(lit).all(|(&c, &l)| {
            let l = u16::from(l);
            c == l || ((0x61..=0x7A).contains(&l) && c == l - 32)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every BMP code unit the JavaScript engine matches, as ranges, read
    /// off V8 (Node.js 20.20, ICU 78, Unicode 17) with twitter-text 3.1.0's
    /// own expressions: `new RegExp('^' + validGeneralUrlPathChars.source +
    /// '$', 'i').test(String.fromCharCode(c))` for each `c`, and likewise
    /// for the others.
    /// A class's name, its predicate, and the code units JavaScript matches.
    type Class = (&'static str, fn(u16) -> bool, &'static [(u16, u16)]);

    const JS: &[Class] = &[
        (
            "validDomainChars",
            domain_char,
            &[
                (0x0000, 0x0008),
                (0x000E, 0x001F),
                (0x0022, 0x0022),
                (0x0030, 0x0039),
                (0x0041, 0x005A),
                (0x0060, 0x007A),
                (0x007F, 0x0084),
                (0x0086, 0x009F),
                (0x00A1, 0x061B),
                (0x061D, 0x167F),
                (0x1681, 0x180D),
                (0x180F, 0x1FFF),
                (0x200B, 0x200D),
                (0x2010, 0x2027),
                (0x2030, 0x205E),
                (0x2060, 0x2065),
                (0x206A, 0x2FFF),
                (0x3001, 0xFEFE),
                (0xFF00, 0xFFFD),
            ],
        ),
        (
            "validGeneralUrlPathChars",
            path_char,
            &[
                (0x0021, 0x0021),
                (0x0023, 0x0027),
                (0x002A, 0x003B),
                (0x003D, 0x003D),
                (0x0040, 0x005B),
                (0x005D, 0x005D),
                (0x005F, 0x005F),
                (0x0061, 0x007A),
                (0x007C, 0x007C),
                (0x007E, 0x007E),
                (0x00C0, 0x00D6),
                (0x00D8, 0x00F6),
                (0x00F8, 0x024F),
                (0x0253, 0x0254),
                (0x0256, 0x0257),
                (0x0259, 0x0259),
                (0x025B, 0x025B),
                (0x0260, 0x0260),
                (0x0263, 0x0263),
                (0x0268, 0x0269),
                (0x026F, 0x026F),
                (0x0272, 0x0272),
                (0x0275, 0x0275),
                (0x0280, 0x0280),
                (0x0283, 0x0283),
                (0x0288, 0x028C),
                (0x0292, 0x0292),
                (0x02BB, 0x02BB),
                (0x0300, 0x036F),
                (0x0399, 0x0399),
                (0x03B9, 0x03B9),
                (0x0400, 0x04FF),
                (0x1C80, 0x1C87),
                (0x1E00, 0x1EFF),
                (0x1FBE, 0x1FBE),
                (0x2013, 0x2013),
                (0x2C65, 0x2C66),
                (0x2C7E, 0x2C7F),
                (0xA7DC, 0xA7DC),
            ],
        ),
        (
            "validUrlPathEndingChars",
            path_ending_char,
            &[
                (0x0023, 0x0023),
                (0x002B, 0x002B),
                (0x002D, 0x002D),
                (0x002F, 0x0039),
                (0x003D, 0x003D),
                (0x0041, 0x005A),
                (0x005F, 0x005F),
                (0x0061, 0x007A),
                (0x00C0, 0x00D6),
                (0x00D8, 0x00F6),
                (0x00F8, 0x024F),
                (0x0253, 0x0254),
                (0x0256, 0x0257),
                (0x0259, 0x0259),
                (0x025B, 0x025B),
                (0x0260, 0x0260),
                (0x0263, 0x0263),
                (0x0268, 0x0269),
                (0x026F, 0x026F),
                (0x0272, 0x0272),
                (0x0275, 0x0275),
                (0x0280, 0x0280),
                (0x0283, 0x0283),
                (0x0288, 0x028C),
                (0x0292, 0x0292),
                (0x02BB, 0x02BB),
                (0x0300, 0x036F),
                (0x0399, 0x0399),
                (0x03B9, 0x03B9),
                (0x0400, 0x04FF),
                (0x1C80, 0x1C87),
                (0x1E00, 0x1EFF),
                (0x1FBE, 0x1FBE),
                (0x2C65, 0x2C66),
                (0x2C7E, 0x2C7F),
                (0xA7DC, 0xA7DC),
            ],
        ),
        (
            "validUrlQueryChars",
            query_char,
            &[
                (0x0021, 0x0021),
                (0x0023, 0x003B),
                (0x003D, 0x003D),
                (0x003F, 0x005B),
                (0x005D, 0x005D),
                (0x005F, 0x005F),
                (0x0061, 0x007A),
                (0x007C, 0x007C),
                (0x007E, 0x007E),
            ],
        ),
        (
            "validUrlQueryEndingChars",
            query_ending_char,
            &[
                (0x0023, 0x0023),
                (0x0026, 0x0026),
                (0x002D, 0x002D),
                (0x002F, 0x0039),
                (0x003D, 0x003D),
                (0x0041, 0x005A),
                (0x005F, 0x005F),
                (0x0061, 0x007A),
            ],
        ),
        (
            "validAsciiDomain label",
            ascii_domain_char,
            &[
                (0x002D, 0x002D),
                (0x0030, 0x0039),
                (0x0041, 0x005A),
                (0x0061, 0x007A),
                (0x00C0, 0x00D6),
                (0x00D8, 0x00F6),
                (0x00F8, 0x024F),
                (0x0253, 0x0254),
                (0x0256, 0x0257),
                (0x0259, 0x0259),
                (0x025B, 0x025B),
                (0x0260, 0x0260),
                (0x0263, 0x0263),
                (0x0268, 0x0269),
                (0x026F, 0x026F),
                (0x0272, 0x0272),
                (0x0275, 0x0275),
                (0x0280, 0x0280),
                (0x0283, 0x0283),
                (0x0288, 0x028C),
                (0x0292, 0x0292),
                (0x02BB, 0x02BB),
                (0x0300, 0x036F),
                (0x0399, 0x0399),
                (0x03B9, 0x03B9),
                (0x1E00, 0x1EFF),
                (0x1FBE, 0x1FBE),
                (0x2C65, 0x2C66),
                (0x2C7E, 0x2C7F),
                (0xA7DC, 0xA7DC),
            ],
        ),
        (
            "validUrlPrecedingChars",
            preceding,
            &[
                (0x0000, 0x0022),
                (0x0025, 0x002F),
                (0x003A, 0x003F),
                (0x005B, 0x0060),
                (0x007B, 0xFEFE),
                (0xFF00, 0xFF02),
                (0xFF04, 0xFF1F),
                (0xFF21, 0xFFFD),
            ],
        ),
        (
            "TLD lookahead",
            ends_tld,
            &[
                (0x0000, 0x002A),
                (0x002C, 0x002C),
                (0x002E, 0x002F),
                (0x003A, 0x003F),
                (0x005B, 0x0060),
                (0x007B, 0xFFFF),
            ],
        ),
        (
            "validPunycode",
            punycode_char,
            &[(0x2D, 0x2D), (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        ),
        (
            "validTcoUrl slug",
            tco_slug_char,
            &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        ),
        ("validPortNumber", digit, &[(0x30, 0x39)]),
    ];

    #[test]
    fn every_class_matches_exactly_the_code_units_javascript_matches() {
        for &(name, class, ranges) in JS {
            for c in 0..=u16::MAX {
                let expected = ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
                assert_eq!(class(c), expected, "{name} at U+{c:04X}");
            }
        }
    }

    #[test]
    fn ignoring_case_folds_only_ascii_letters() {
        assert!(starts_with_ignore_case(&[0x58, 0x6E, 0x2D, 0x2D], b"xn--"));
        assert!(
            !starts_with_ignore_case(&[0x212A], b"k"),
            "the Kelvin sign is not a k"
        );
        assert!(!starts_with_ignore_case(&[0x78], b"xn"));
    }
}
