//! Emoji sequences by current Unicode: the reading
//! [`crate::count_with_unicode_emoji`] offers beside X's own (the default,
//! in `twemoji.rs`).
//!
//! twitter-text 3.1.0 finds them with twemoji-parser 11's regex, a list of
//! the sequences of Emoji 12 (2019), which knows nothing of the emoji added
//! since. This recognises the sequences of UTS #51 from current Unicode
//! properties (the `unicode-properties` crate) rather than from a list:
//!
//! * a flag: two regional indicators that make one of the RGI flags (the
//!   259 of Unicode 17's emoji-sequences.txt);
//! * a keycap: `0`–`9`, `#` or `*`, then U+FE0F (which twemoji, and X's
//!   conformance data, let be left out), then U+20E3;
//! * a tag sequence: the three RGI subdivision flags (England, Scotland,
//!   Wales);
//! * otherwise an element — an Emoji character other than ASCII and
//!   regional indicators, with an Emoji_Modifier after a modifier base or
//!   U+FE0F after it — or several joined by U+200D (ZWJ). An element
//!   alone counts only if it displays as an emoji: it has Emoji_Presentation,
//!   a modifier or U+FE0F. So `©` alone (text presentation) weighs 1 as
//!   any Latin-1 character, while `©️` weighs 2.
//!
//! Every fully-qualified, minimally-qualified and component sequence of
//! Unicode's emoji-test.txt (Emoji 17) is one emoji here. Where this
//! differs from twitter-text with a list of today's sequences: ZWJ
//! sequences are recognised by the grammar, not by Unicode's list of
//! recommended (RGI) ones, so a new RGI sequence counts as one emoji as
//! soon as its characters are emoji, at the price of also counting as one
//! a sequence no platform draws as one glyph (`👨‍🍕`, or `👨‍👩` cut out of
//! a family), which twemoji counts as its parts; and U+FE0F after a
//! character that already has emoji presentation (`👍️`) is part of it,
//! where twemoji counts it apart. The RGI list would be some 1,600 ZWJ
//! sequences (261 once skin tones and U+FE0F are set aside) of data for
//! cases no keyboard produces.

use unicode_properties::{EmojiStatus, UnicodeEmoji};

const ZWJ: char = '\u{200D}';
const VS16: char = '\u{FE0F}';
const KEYCAP: char = '\u{20E3}';
const BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';

/// The regions of the RGI flag sequences (Unicode 17), as pairs of
/// letters, sorted.
const FLAGS: &str = "ACADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCPCQCRCUCVCWCXCYCZDEDGDJDKDMDODZEAECEEEGEHERESETEUFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUICIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTATCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUNUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";

/// The tags of the RGI subdivision flags: gbeng, gbsct, gbwls.
const SUBDIVISIONS: [&str; 3] = ["gbeng", "gbsct", "gbwls"];

/// An emoji sequence found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiEntity {
    /// The sequence's characters.
    pub emoji: String,
    /// Where it starts, in UTF-16 code units.
    pub start: usize,
    /// Where it ends (exclusive), in UTF-16 code units.
    pub end: usize,
}

/// The emoji sequences in `text` by current Unicode, in order, with UTF-16
/// indices: what [`crate::count_with_unicode_emoji`] weighs 2 each. The
/// text is taken as it is. X's own library reads emoji differently (see
/// [`crate::extract_emoji`]), so this is an option, never the default.
///
/// The sequences are those of UTS #51 with today's Unicode properties
/// (twitter-text's own table dates from 2019): RGI flags, keycaps (with or
/// without U+FE0F), the RGI subdivision flags, and emoji characters with
/// a skin tone or U+FE0F, alone or joined by U+200D. A character with
/// text presentation (`©`, `❤`) is an emoji only with U+FE0F or in a ZWJ
/// sequence. Any ZWJ sequence of emoji counts as one, RGI or not: where
/// twitter-text would count a sequence that is not in Unicode's list
/// (`👨‍🍕`) as its parts, this counts it as one emoji.
pub fn extract_emoji_unicode(text: &str) -> Vec<EmojiEntity> {
    let t: Vec<u16> = text.encode_utf16().collect();
    find_emoji(&t)
        .into_iter()
        .map(|span| EmojiEntity {
            emoji: String::from_utf16_lossy(&t[span.clone()]),
            start: span.start,
            end: span.end,
        })
        .collect()
}

/// [`extract_emoji_unicode`] on UTF-16 text, as UTF-16 ranges.
pub(crate) fn find_emoji(t: &[u16]) -> Vec<std::ops::Range<usize>> {
    // The code points, each with its UTF-16 offset, and the end.
    let mut chars = Vec::with_capacity(t.len());
    let mut offset = 0;
    for c in char::decode_utf16(t.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        chars.push((c, offset));
        offset += c.len_utf16();
    }
    let cs: Vec<char> = chars.iter().map(|&(c, _)| c).collect();
    let offset_of = |i: usize| chars.get(i).map_or(t.len(), |&(_, offset)| offset);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        match sequence_at(&cs, i) {
            Some(end) => {
                spans.push(offset_of(i)..offset_of(end));
                i = end;
            }
            None => i += 1,
        }
    }
    spans
}

/// The end of the emoji sequence that starts at `cs[i]`, if one does.
fn sequence_at(cs: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| cs.get(k).copied();
    let c = cs[i];
    if is_regional_indicator(c) {
        let flag = at(i + 1).is_some_and(|next| is_regional_indicator(next) && is_flag(c, next));
        // A lone regional indicator has Emoji_Presentation.
        return Some(i + 1 + usize::from(flag));
    }
    if matches!(c, '0'..='9' | '#' | '*') {
        return match (at(i + 1), at(i + 2)) {
            (Some(VS16), Some(KEYCAP)) => Some(i + 3),
            (Some(KEYCAP), _) => Some(i + 2),
            _ => None,
        };
    }
    if c == BLACK_FLAG
        && let Some(end) = subdivision_flag_end(cs, i)
    {
        return Some(end);
    }
    let (mut end, displays_as_emoji) = element(cs, i)?;
    let mut joined = false;
    while at(end) == Some(ZWJ) {
        match element(cs, end + 1) {
            Some((next, _)) => {
                end = next;
                joined = true;
            }
            None => break,
        }
    }
    (joined || displays_as_emoji).then_some(end)
}

/// An element of a ZWJ sequence at `cs[i]` (UTS #51's emoji_zwj_element:
/// an emoji character, presentation sequence or modifier sequence): its
/// end, and whether it displays as an emoji alone.
fn element(cs: &[char], i: usize) -> Option<(usize, bool)> {
    let c = *cs.get(i)?;
    if c.is_ascii() || is_regional_indicator(c) || !c.is_emoji_char() {
        return None;
    }
    let status = c.emoji_status();
    match cs.get(i + 1) {
        Some(&next) if is_modifier(next) && is_modifier_base(status) => Some((i + 2, true)),
        Some(&VS16) => Some((i + 2, true)),
        _ => Some((i + 1, has_emoji_presentation(status))),
    }
}

fn is_regional_indicator(c: char) -> bool {
    unicode_properties::emoji::is_regional_indicator(c)
}

fn is_flag(first: char, second: char) -> bool {
    let letter = |c: char| b'A' + (c as u32 - 0x1F1E6) as u8;
    let pair = [letter(first), letter(second)];
    let flags = FLAGS.as_bytes();
    let (mut lo, mut hi) = (0, flags.len() / 2);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match flags[2 * mid..2 * mid + 2].cmp(&pair[..]) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// The end of an RGI subdivision flag at `cs[i]` (U+1F3F4), if there is one.
fn subdivision_flag_end(cs: &[char], i: usize) -> Option<usize> {
    SUBDIVISIONS.iter().find_map(|tags| {
        let end = i + 1 + tags.len();
        let matches = cs
            .get(i + 1..end)?
            .iter()
            .zip(tags.chars())
            .all(|(&c, tag)| c as u32 == 0xE0000 + tag as u32)
            && cs.get(end) == Some(&CANCEL_TAG);
        matches.then_some(end + 1)
    })
}

fn is_modifier(c: char) -> bool {
    matches!(c, '\u{1F3FB}'..='\u{1F3FF}')
}

fn is_modifier_base(status: EmojiStatus) -> bool {
    matches!(
        status,
        EmojiStatus::EmojiModifierBase | EmojiStatus::EmojiPresentationAndModifierBase
    )
}

fn has_emoji_presentation(status: EmojiStatus) -> bool {
    matches!(
        status,
        EmojiStatus::EmojiPresentation
            | EmojiStatus::EmojiPresentationAndModifierBase
            | EmojiStatus::EmojiPresentationAndEmojiComponent
            | EmojiStatus::EmojiPresentationAndModifierAndEmojiComponent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emoji(text: &str) -> Vec<String> {
        extract_emoji_unicode(text)
            .into_iter()
            .map(|e| e.emoji)
            .collect()
    }

    #[test]
    fn flags_are_the_rgi_pairs_only() {
        assert_eq!(emoji("🇺🇸"), ["🇺🇸"]);
        assert_eq!(emoji("🇺🇺🇸"), ["🇺", "🇺🇸"]);
        assert_eq!(FLAGS.len(), 2 * 259);
        let pairs: Vec<&[u8]> = FLAGS.as_bytes().chunks(2).collect();
        assert!(pairs.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn keycaps_may_leave_out_the_variation_selector() {
        assert_eq!(emoji("1\u{FE0F}\u{20E3}"), ["1\u{FE0F}\u{20E3}"]);
        assert_eq!(emoji("#\u{20E3}"), ["#\u{20E3}"]);
        assert!(emoji("1").is_empty());
    }

    #[test]
    fn text_presentation_characters_count_only_with_a_variation_selector() {
        assert!(emoji("©").is_empty());
        assert_eq!(emoji("©\u{FE0F}"), ["©\u{FE0F}"]);
        assert!(emoji("\u{2764}").is_empty());
        assert_eq!(emoji("\u{2764}\u{FE0F}"), ["\u{2764}\u{FE0F}"]);
    }

    #[test]
    fn modifier_zwj_and_tag_sequences_are_one_emoji() {
        assert_eq!(emoji("👋🏽"), ["👋🏽"]);
        assert_eq!(emoji("👨‍👩‍👧‍👦"), ["👨‍👩‍👧‍👦"]);
        assert_eq!(emoji("👨🏽‍🌾"), ["👨🏽‍🌾"]);
        assert_eq!(emoji("🐦‍🔥"), ["🐦‍🔥"]);
        assert_eq!(emoji("❤‍🔥"), ["❤‍🔥"]);
        let england = "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert_eq!(emoji(england), [england]);
        // Not an RGI subdivision: the black flag alone.
        assert_eq!(emoji("🏴\u{E0067}\u{E0062}\u{E007F}"), ["🏴"]);
    }

    #[test]
    fn a_dangling_joiner_is_not_part_of_the_sequence() {
        assert_eq!(emoji("👨\u{200D}"), ["👨"]);
        assert_eq!(emoji("👨\u{200D}a"), ["👨"]);
    }
}
