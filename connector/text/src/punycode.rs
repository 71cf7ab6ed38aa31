//! The one use twitter-text makes of IDNA (js/src/lib/idna.js): every
//! label of a URL's domain must be 1 to 63 characters long once
//! `punycode.toASCII` (punycode.js 1.4.1, the version twitter-text pins
//! and bundles; Node's built-in 2.1.0 differs only in leaving the ASCII
//! control characters unencoded) has encoded it. That needs the
//! length of RFC 3492's encoding and nothing else, so this computes only
//! that, exactly as punycode.js would.

/// The longest label DNS allows.
const MAX_LABEL_LENGTH: usize = 63;

/// Whether `punycode.toASCII(label)` is 1 to 63 characters long, `label`
/// being one of the `.`-separated labels of a domain, as UTF-16.
///
/// punycode.js splits its input again at the other full stops (U+3002,
/// U+FF0E, U+FF61) and encodes each part that holds a character outside
/// U+0020–U+007E as `xn--` and the encoding, joining them with `.`. Each
/// part's encoding is at least as long as its code points, so a label of
/// more than 63 code points is refused without encoding it (punycode.js
/// would throw an overflow error on the longest such labels).
pub(crate) fn label_fits(label: &[u16]) -> bool {
    let code_points = decode(label);
    if code_points.len() > MAX_LABEL_LENGTH {
        return false;
    }
    let mut length = 0;
    for (i, part) in code_points
        .split(|&c| matches!(c, 0x2E | 0x3002 | 0xFF0E | 0xFF61))
        .enumerate()
    {
        length += usize::from(i > 0);
        length += if part.iter().any(|&c| !(0x20..=0x7E).contains(&c)) {
            4 + encoded_length(part)
        } else {
            part.len()
        };
    }
    (1..=MAX_LABEL_LENGTH).contains(&length)
}

/// punycode.js's `ucs2decode`: surrogate pairs to code points; a lone
/// surrogate stays as it is.
fn decode(units: &[u16]) -> Vec<u32> {
    let mut out = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        let unit = u32::from(units[i]);
        i += 1;
        if (0xD800..=0xDBFF).contains(&unit)
            && let Some(&next) = units.get(i)
            && (0xDC00..=0xDFFF).contains(&next)
        {
            out.push(((unit & 0x3FF) << 10) + (u32::from(next) & 0x3FF) + 0x10000);
            i += 1;
            continue;
        }
        out.push(unit);
    }
    out
}

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

fn adapt(mut delta: u32, num_points: u32, first_time: bool) -> u32 {
    delta = if first_time { delta / DAMP } else { delta >> 1 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) >> 1 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

/// The length of RFC 3492's encoding of `input` (without `xn--`), as
/// punycode.js's `encode` produces it. `input` has at most 63 code points,
/// so no arithmetic here can overflow.
fn encoded_length(input: &[u32]) -> usize {
    let basic = input.iter().filter(|&&c| c < 0x80).count();
    let mut length = basic + usize::from(basic > 0);
    let mut handled = basic as u32;
    let (mut n, mut delta, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    while (handled as usize) < input.len() {
        let m = input.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (m - n) * (handled + 1);
        n = m;
        for &c in input {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    length += 1;
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                length += 1;
                bias = adapt(delta, handled + 1, handled as usize == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(label: &str) -> usize {
        let units: Vec<u16> = label.encode_utf16().collect();
        4 + encoded_length(&decode(&units))
    }

    #[test]
    fn lengths_agree_with_known_encodings() {
        // Encodings from RFC 3492 section 7.1 and punycode.js.
        assert_eq!(encoded("mañana"), "xn--maana-pta".len());
        assert_eq!(encoded("ああ"), "xn--l8ja".len());
        assert_eq!(encoded("☃-⌘"), "xn----dqo34k".len());
        assert_eq!(
            encoded("ليهمابتكلموشعربي؟"),
            "xn--egbpdaj6bu4bxfgehfvwxn".len()
        );
        assert_eq!(
            encoded("他们为什么不说中文"),
            "xn--ihqwcrb4cv8a8dqg056pqjye".len()
        );
        assert_eq!(
            encoded("3年B組金八先生"),
            "xn--3B-ww4c5e180e575a65lsy2b".len()
        );
        assert_eq!(encoded("😀"), "xn--e28h".len());
    }

    #[test]
    fn a_label_fits_in_1_to_63_characters_once_encoded() {
        let fits = |label: &str| label_fits(&label.encode_utf16().collect::<Vec<_>>());
        assert!(fits("a"));
        assert!(fits(&"a".repeat(63)));
        assert!(!fits(&"a".repeat(64)));
        // 20 kana encode to 26 characters; 60 to 71.
        assert!(fits(&"あ".repeat(20)));
        assert!(!fits(&"あいうえおかきくけこ".repeat(6)));
        // An ideographic full stop splits the label for punycode.js.
        assert!(fits(&format!("{}。{}", "a".repeat(31), "b".repeat(31))));
        assert!(!fits(&format!("{}。{}", "a".repeat(32), "b".repeat(31))));
    }
}
