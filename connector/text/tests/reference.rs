//! The linear-time URL extractor held to a slow, literal reference on
//! generated texts.
//!
//! The reference is twitter-text's own: its regular expressions, built
//! from the sources of js/src/regexp/*.js exactly as `regexSupplant` and
//! `stringSupplant` build them (the TLDs coming from tlds.yml, in the
//! library's order), run by a small backtracking engine with JavaScript's
//! semantics (UTF-16 code units, ordered alternation, greedy repetition
//! that gives back one step at a time, an iteration that matches nothing
//! ending a repetition, and the `i` flag's `Canonicalize`), and
//! `extractUrlsWithIndices` transcribed line by line. It tries every start
//! position and every way to split a domain, as the regex does, and so
//! takes time quadratic and worse: fine for texts of a few dozen
//! characters.

use proptest::prelude::*;
use serde_yaml::Value;
use std::collections::HashMap;
use std::path::PathBuf;

// ---------------------------------------------------------------------
// A backtracking regex engine with JavaScript's (non-`u`) semantics.

#[derive(Debug)]
enum Node {
    Char(u16),
    /// Membership by canonical form, and whether the class is negated.
    Class(Box<[bool]>, bool),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, usize, Option<usize>),
    Group(Option<usize>, Box<Node>),
    Look(Box<Node>),
    Start,
    End,
}

type Caps = Vec<Option<(usize, usize)>>;

struct Regex {
    root: Node,
    groups: usize,
    ignore_case: bool,
}

/// ECMAScript's Canonicalize for a non-Unicode pattern with the `i` flag.
fn canonicalize(c: u16) -> u16 {
    let Some(ch) = char::from_u32(u32::from(c)) else {
        return c;
    };
    let mut upper = ch.to_uppercase();
    let (Some(u), None) = (upper.next(), upper.next()) else {
        return c;
    };
    let u = u as u32;
    if u > 0xFFFF || (c >= 128 && u < 128) {
        return c;
    }
    u as u16
}

struct Parser<'a> {
    p: &'a [u16],
    i: usize,
    groups: usize,
    ignore_case: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u16> {
        self.p.get(self.i).copied()
    }
    fn next(&mut self) -> u16 {
        self.i += 1;
        self.p[self.i - 1]
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c as u16) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn alt(&mut self) -> Node {
        let mut alternatives = vec![self.seq()];
        while self.eat('|') {
            alternatives.push(self.seq());
        }
        if alternatives.len() == 1 {
            alternatives.pop().unwrap()
        } else {
            Node::Alt(alternatives)
        }
    }
    fn seq(&mut self) -> Node {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' as u16 || c == ')' as u16 {
                break;
            }
            let atom = self.atom();
            let atom = if self.eat('*') {
                Node::Repeat(Box::new(atom), 0, None)
            } else if self.eat('+') {
                Node::Repeat(Box::new(atom), 1, None)
            } else if self.eat('?') {
                Node::Repeat(Box::new(atom), 0, Some(1))
            } else {
                atom
            };
            items.push(atom);
        }
        Node::Seq(items)
    }
    fn hex(&mut self, digits: usize) -> u16 {
        let s = String::from_utf16(&self.p[self.i..self.i + digits]).unwrap();
        self.i += digits;
        u16::from_str_radix(&s, 16).unwrap()
    }
    fn escape(&mut self) -> u16 {
        match self.next() {
            c if c == 'u' as u16 => self.hex(4),
            c if c == 'x' as u16 => self.hex(2),
            c if (c as u8 as char).is_ascii_alphanumeric() => {
                panic!("unsupported escape \\{}", c as u8 as char)
            }
            c => c,
        }
    }
    fn atom(&mut self) -> Node {
        let c = self.next();
        match char::from_u32(u32::from(c)).unwrap_or('\u{FFFD}') {
            '(' => {
                let node = if self.eat('?') {
                    if self.eat(':') {
                        Node::Group(None, Box::new(self.alt()))
                    } else {
                        assert!(self.eat('='), "unsupported group");
                        Node::Look(Box::new(self.alt()))
                    }
                } else {
                    self.groups += 1;
                    let index = self.groups;
                    Node::Group(Some(index), Box::new(self.alt()))
                };
                assert!(self.eat(')'), "unclosed group");
                node
            }
            '[' => self.class(),
            '\\' => {
                let c = self.escape();
                self.literal(c)
            }
            '^' => Node::Start,
            '$' => Node::End,
            '.' => panic!("`.` is not used"),
            _ => self.literal(c),
        }
    }
    fn literal(&self, c: u16) -> Node {
        Node::Char(if self.ignore_case { canonicalize(c) } else { c })
    }
    fn class(&mut self) -> Node {
        let negated = self.eat('^');
        let mut members = vec![false; 0x10000];
        loop {
            let c = self.next();
            if c == ']' as u16 {
                break;
            }
            let lo = if c == '\\' as u16 { self.escape() } else { c };
            let hi = if self.peek() == Some('-' as u16)
                && self.p.get(self.i + 1) != Some(&(']' as u16))
            {
                self.i += 1;
                let c = self.next();
                if c == '\\' as u16 { self.escape() } else { c }
            } else {
                lo
            };
            for m in lo..=hi {
                let m = if self.ignore_case { canonicalize(m) } else { m };
                members[usize::from(m)] = true;
            }
        }
        Node::Class(members.into_boxed_slice(), negated)
    }
}

impl Regex {
    fn new(source: &str, ignore_case: bool) -> Regex {
        let units: Vec<u16> = source.encode_utf16().collect();
        let mut parser = Parser {
            p: &units,
            i: 0,
            groups: 0,
            ignore_case,
        };
        let root = parser.alt();
        assert_eq!(parser.i, units.len(), "trailing pattern");
        Regex {
            root,
            groups: parser.groups,
            ignore_case,
        }
    }

    fn unit(&self, c: u16) -> u16 {
        if self.ignore_case { canonicalize(c) } else { c }
    }

    fn m(
        &self,
        node: &Node,
        t: &[u16],
        i: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(usize, &mut Caps) -> bool,
    ) -> bool {
        match node {
            Node::Char(c) => i < t.len() && self.unit(t[i]) == *c && k(i + 1, caps),
            Node::Class(members, negated) => {
                i < t.len() && members[usize::from(self.unit(t[i]))] != *negated && k(i + 1, caps)
            }
            Node::Seq(items) => self.seq(items, t, i, caps, k),
            Node::Alt(alternatives) => alternatives.iter().any(|a| self.m(a, t, i, caps, k)),
            Node::Repeat(inner, min, max) => self.repeat(inner, *min, *max, 0, t, i, caps, k),
            Node::Group(index, inner) => self.m(inner, t, i, caps, &mut |j, caps: &mut Caps| {
                let Some(index) = *index else {
                    return k(j, caps);
                };
                let before = caps[index];
                caps[index] = Some((i, j));
                k(j, caps) || {
                    caps[index] = before;
                    false
                }
            }),
            Node::Look(inner) => {
                let mut scratch = caps.clone();
                self.m(inner, t, i, &mut scratch, &mut |_, _| true) && k(i, caps)
            }
            Node::Start => i == 0 && k(i, caps),
            Node::End => i == t.len() && k(i, caps),
        }
    }

    fn seq(
        &self,
        items: &[Node],
        t: &[u16],
        i: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(usize, &mut Caps) -> bool,
    ) -> bool {
        match items.split_first() {
            None => k(i, caps),
            Some((first, rest)) => self.m(first, t, i, caps, &mut |j, caps: &mut Caps| {
                self.seq(rest, t, j, caps, k)
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        inner: &Node,
        min: usize,
        max: Option<usize>,
        count: usize,
        t: &[u16],
        i: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(usize, &mut Caps) -> bool,
    ) -> bool {
        if max.is_none_or(|max| count < max)
            && self.m(inner, t, i, caps, &mut |j, caps: &mut Caps| {
                // An iteration that matches nothing once the minimum is met fails.
                !(j == i && count >= min) && self.repeat(inner, min, max, count + 1, t, j, caps, k)
            })
        {
            return true;
        }
        count >= min && k(i, caps)
    }

    /// `exec` with `lastIndex = from`: the first match and its captures.
    fn exec(&self, t: &[u16], from: usize) -> Option<Caps> {
        (from..=t.len()).find_map(|start| {
            let mut caps = vec![None; self.groups + 1];
            let mut found = None;
            if self.m(&self.root, t, start, &mut caps, &mut |end, caps| {
                found = Some((end, caps.clone()));
                true
            }) {
                let (end, mut caps) = found.unwrap();
                caps[0] = Some((start, end));
                Some(caps)
            } else {
                None
            }
        })
    }
}

// ---------------------------------------------------------------------
// twitter-text's expressions, built from their sources.

/// `regexSupplant`/`stringSupplant`: `#{name}` replaced by `map[name]`.
fn supplant(source: &str, map: &HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("#{") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap() + at;
        out.push_str(&map[&rest[at + 2..end]]);
        rest = &rest[end + 1..];
    }
    out + rest
}

struct TwitterText {
    extract_url: Regex,
    valid_ascii_domain: Regex,
    valid_tco_url: Regex,
}

fn twitter_text() -> &'static TwitterText {
    static TT: std::sync::OnceLock<TwitterText> = std::sync::OnceLock::new();
    TT.get_or_init(|| {
        let tlds: Value = serde_yaml::from_str(
            &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/twitter-text/tlds.yml"))
                .unwrap(),
        )
        .unwrap();
        let list = |group: &str| {
            tlds["tests"][group]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|case| case["text"].as_str().unwrap().split_once("twitter.").unwrap().1.to_owned())
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut m: HashMap<&str, String> = HashMap::new();
        let def = |m: &mut HashMap<&str, String>, name: &'static str, source: &str| {
            let built = supplant(source, m);
            m.insert(name, built);
        };
        def(&mut m, "punct", r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$");
        def(&mut m, "spacesGroup", r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000");
        def(&mut m, "invalidCharsGroup", r"\uFFFE\uFEFF\uFFFF");
        def(&mut m, "directionalMarkersGroup", r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069");
        def(
            &mut m,
            "latinAccentChars",
            r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF",
        );
        def(&mut m, "cyrillicLettersAndMarks", r"\u0400-\u04FF");
        // stringSupplant interpolates RegExp objects as `/source/`.
        let slashed = |m: &HashMap<&str, String>, name: &str| format!("/{}/", m[name]);
        let invalid_domain_chars = ["punct", "spacesGroup", "invalidCharsGroup", "directionalMarkersGroup"]
            .iter()
            .map(|name| slashed(&m, name))
            .collect::<String>();
        m.insert("invalidDomainChars", invalid_domain_chars);
        def(&mut m, "validDomainChars", r"[^#{invalidDomainChars}]");
        def(&mut m, "validSubdomain", r"(?:(?:#{validDomainChars}(?:[_-]|#{validDomainChars})*)?#{validDomainChars}\.)");
        def(&mut m, "validDomainName", r"(?:(?:#{validDomainChars}(?:-|#{validDomainChars})*)?#{validDomainChars}\.)");
        m.insert("validGTLD", format!("(?:(?:{})(?=[^0-9a-zA-Z@+-]|$))", list("generic")));
        m.insert("validCCTLD", format!("(?:(?:{})(?=[^0-9a-zA-Z@+-]|$))", list("country")));
        def(&mut m, "validPunycode", r"(?:xn--[\-0-9a-z]+)");
        def(
            &mut m,
            "validDomain",
            r"(?:#{validSubdomain}*#{validDomainName}(?:#{validGTLD}|#{validCCTLD}|#{validPunycode}))",
        );
        def(&mut m, "validPortNumber", r"[0-9]+");
        def(
            &mut m,
            "validGeneralUrlPathChars",
            r"[a-z#{cyrillicLettersAndMarks}0-9!\*';:=\+,\.\$\/%#\[\]\-\u2013_~@\|&#{latinAccentChars}]",
        );
        def(
            &mut m,
            "validUrlBalancedParens",
            &[
                r"\(",
                "(?:",
                "#{validGeneralUrlPathChars}+",
                "|",
                "(?:",
                "#{validGeneralUrlPathChars}*",
                r"\(",
                "#{validGeneralUrlPathChars}+",
                r"\)",
                "#{validGeneralUrlPathChars}*",
                ")",
                ")",
                r"\)",
            ]
            .concat(),
        );
        def(
            &mut m,
            "validUrlPathEndingChars",
            r"[\+\-a-z#{cyrillicLettersAndMarks}0-9=_#\/#{latinAccentChars}]|(?:#{validUrlBalancedParens})",
        );
        def(
            &mut m,
            "validUrlPath",
            &[
                "(?:",
                "(?:",
                "#{validGeneralUrlPathChars}*",
                "(?:#{validUrlBalancedParens}#{validGeneralUrlPathChars}*)*",
                "#{validUrlPathEndingChars}",
                ")|(?:@#{validGeneralUrlPathChars}+/)",
                ")",
            ]
            .concat(),
        );
        def(
            &mut m,
            "validUrlPrecedingChars",
            r"(?:[^A-Za-z0-9@＠$#＃#{invalidCharsGroup}]|[#{directionalMarkersGroup}]|^)",
        );
        def(&mut m, "validUrlQueryChars", r"[a-z0-9!?\*'@\(\);:&=\+\$\/%#\[\]\-_\.,~|]");
        def(&mut m, "validUrlQueryEndingChars", r"[a-z0-9\-_&=#\/]");
        let extract_url = supplant(
            &[
                "(",
                "(#{validUrlPrecedingChars})",
                "(",
                r"(https?:\/\/)?",
                "(#{validDomain})",
                "(?::(#{validPortNumber}))?",
                r"(\/#{validUrlPath}*)?",
                r"(\?#{validUrlQueryChars}*#{validUrlQueryEndingChars})?",
                ")",
                ")",
            ]
            .concat(),
            &m,
        );
        let valid_ascii_domain = supplant(
            r"(?:(?:[\-a-z0-9#{latinAccentChars}]+)\.)+(?:#{validGTLD}|#{validCCTLD}|#{validPunycode})",
            &m,
        );
        let valid_tco_url =
            supplant(r"^https?:\/\/t\.co\/([a-z0-9]+)(?:\?#{validUrlQueryChars}*#{validUrlQueryEndingChars})?", &m);
        TwitterText {
            extract_url: Regex::new(&extract_url, true),
            valid_ascii_domain: Regex::new(&valid_ascii_domain, true),
            valid_tco_url: Regex::new(&valid_tco_url, true),
        }
    })
}

// ---------------------------------------------------------------------
// punycode.js 1.4.1's toASCII, transcribed.

fn punycode_to_ascii(label: &[u16]) -> String {
    label
        .split(|&c| matches!(c, 0x2E | 0x3002 | 0xFF0E | 0xFF61))
        .map(|part| {
            if part.iter().any(|&c| !(0x20..=0x7E).contains(&c)) {
                format!("xn--{}", punycode_encode(part))
            } else {
                String::from_utf16(part).unwrap()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn punycode_encode(units: &[u16]) -> String {
    // ucs2decode
    let mut input = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let v = u32::from(units[i]);
        i += 1;
        if (0xD800..=0xDBFF).contains(&v) && i < units.len() && (units[i] & 0xFC00) == 0xDC00 {
            input.push(((v & 0x3FF) << 10) + (u32::from(units[i]) & 0x3FF) + 0x10000);
            i += 1;
        } else {
            input.push(v);
        }
    }
    let digit = |d: u32| {
        char::from(if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        })
    };
    let adapt = |mut delta: u32, num: u32, first: bool| {
        let mut k = 0;
        delta = if first { delta / 700 } else { delta >> 1 };
        delta += delta / num;
        while delta > (35 * 26) >> 1 {
            delta /= 35;
            k += 36;
        }
        k + 36 * delta / (delta + 38)
    };
    let mut output: String = input
        .iter()
        .filter(|&&c| c < 0x80)
        .map(|&c| char::from_u32(c).unwrap())
        .collect();
    let basic = output.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        output.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (handled as usize) < input.len() {
        let m = *input.iter().filter(|&&c| c >= n).min().unwrap();
        delta += (m - n) * (handled + 1);
        n = m;
        for &c in &input {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = 36;
                loop {
                    let t = if k <= bias {
                        1
                    } else if k >= bias + 26 {
                        26
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (36 - t)));
                    q = (q - t) / (36 - t);
                    k += 36;
                }
                output.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    output
}

// ---------------------------------------------------------------------
// extractUrlsWithIndices.js, transcribed.

fn index_of(haystack: &[u16], needle: &[u16], from: usize) -> Option<usize> {
    (from..=haystack.len().saturating_sub(needle.len()))
        .find(|&i| haystack[i..].starts_with(needle))
}

fn idna_to_ascii_ok(domain: &[u16]) -> bool {
    let tt = twitter_text();
    if domain.starts_with(&[0x78, 0x6E, 0x2D, 0x2D])
        && tt.valid_ascii_domain.exec(domain, 0).is_none()
    {
        return false;
    }
    domain
        .split(|&c| c == 0x2E)
        .all(|label| (1..=63).contains(&punycode_to_ascii(label).len()))
}

fn is_valid_url(url: &[u16], protocol_length: usize, domain: &[u16]) -> bool {
    idna_to_ascii_ok(domain) && protocol_length + url.len() <= 4096
}

fn reference_extract(text: &str) -> Vec<(String, usize, usize)> {
    let tt = twitter_text();
    let t: Vec<u16> = text.encode_utf16().collect();
    if !t.contains(&0x2E) {
        return Vec::new();
    }
    let cap = |caps: &Caps, i: usize| caps[i].map(|(s, e)| t[s..e].to_vec());
    let mut urls: Vec<(Vec<u16>, usize, usize)> = Vec::new();
    let mut last_index = 0;
    while let Some(caps) = tt.extract_url.exec(&t, last_index) {
        last_index = caps[0].unwrap().1;
        let before = cap(&caps, 2).unwrap_or_default();
        let mut url = cap(&caps, 3).unwrap();
        let protocol = cap(&caps, 4);
        let domain = cap(&caps, 5).unwrap();
        let path = cap(&caps, 7);
        let mut end_position = last_index;
        let start_position = end_position - url.len();
        if !is_valid_url(&url, protocol.as_ref().map_or(8, Vec::len), &domain) {
            continue;
        }
        match protocol {
            None => {
                if before
                    .last()
                    .is_some_and(|&c| matches!(c, 0x2D | 0x5F | 0x2E | 0x2F))
                {
                    continue;
                }
                let mut last_url: Option<usize> = None;
                let mut ascii_end_position = 0;
                let mut from = 0;
                while let Some(m) = tt.valid_ascii_domain.exec(&domain, from) {
                    let (s, e) = m[0].unwrap();
                    from = if e == s { e + 1 } else { e };
                    let ascii_domain = domain[s..e].to_vec();
                    let ascii_start_position =
                        index_of(&domain, &ascii_domain, ascii_end_position).unwrap();
                    ascii_end_position = ascii_start_position + ascii_domain.len();
                    urls.push((
                        ascii_domain,
                        start_position + ascii_start_position,
                        start_position + ascii_end_position,
                    ));
                    last_url = Some(urls.len() - 1);
                }
                let Some(last) = last_url else {
                    continue;
                };
                if path.is_some() {
                    // url.replace(domain, lastUrl.url): url starts with domain.
                    let mut replaced = urls[last].0.clone();
                    replaced.extend_from_slice(&url[domain.len()..]);
                    urls[last].0 = replaced;
                    urls[last].2 = end_position;
                }
            }
            Some(_) => {
                if let Some(m) = tt
                    .valid_tco_url
                    .exec(&url, 0)
                    .filter(|m| m[0].unwrap().0 == 0)
                {
                    let (s, e) = m[1].unwrap();
                    if e - s > 40 {
                        continue;
                    }
                    url = url[..m[0].unwrap().1].to_vec();
                    end_position = start_position + url.len();
                }
                urls.push((url, start_position, end_position));
            }
        }
    }
    urls.into_iter()
        .map(|(u, s, e)| (String::from_utf16(&u).unwrap(), s, e))
        .collect()
}

fn fast_extract(text: &str) -> Vec<(String, usize, usize)> {
    x_text::extract_urls(text)
        .into_iter()
        .map(|u| (u.url, u.start, u.end))
        .collect()
}

// ---------------------------------------------------------------------
// The reference agrees with X's data, and the extractor with the reference.

#[test]
fn the_reference_itself_extracts_what_x_expects() {
    // Arrange: cases of extract.yml with X's expected URLs and places.
    let cases = [
        ("text http://google.com", vec![("http://google.com", 5, 22)]),
        (
            "t.co/abcde bit.ly/abcde",
            vec![("t.co/abcde", 0, 10), ("bit.ly/abcde", 11, 23)],
        ),
        (
            "http://t.co/pbY2NfTZ's",
            vec![("http://t.co/pbY2NfTZ", 0, 20)],
        ),
        (
            "test http://foobar.みんな/",
            vec![("http://foobar.みんな/", 5, 23)],
        ),
        (
            "twitter.comこれは日本語です。example.com",
            vec![("twitter.com", 0, 11), ("example.com", 20, 31)],
        ),
        ("john.doe.gov@mail.com", vec![]),
        (
            "text http://domain.com-that-you-should-have-put-a-space-after",
            vec![],
        ),
        (
            "Email me at name.al-lastname@foo.com or name.al+lastname@foo.com",
            vec![],
        ),
    ];
    for (text, expected) in cases {
        // Act
        let actual = reference_extract(text);
        // Assert
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(u, s, e)| (u.to_owned(), s, e))
            .collect();
        assert_eq!(actual, expected, "{text}");
    }
}

#[test]
fn the_reference_has_javascripts_quirks() {
    // Outputs of twitter-text 3.1.0 under Node.js 20.
    assert_eq!(
        reference_extract("b.comz中b.com"),
        [("b.com".to_owned(), 0, 5)]
    );
    assert_eq!(
        reference_extract("https://x.com/-.(_!))+"),
        [("https://x.com/-".to_owned(), 0, 15)]
    );
    assert_eq!(
        reference_extract("\u{399}.com"),
        [("\u{399}.com".to_owned(), 0, 5)]
    );
    assert_eq!(
        reference_extract("x.com/a(b)(c)!(d)"),
        [("x.com/a(b)(c)".to_owned(), 0, 13)]
    );
}

/// Pieces of URL-ish text: labels, dots, TLDs (some non-ASCII, some that
/// prefix others), `_`, `-`, non-ASCII letters (one that the `i` flag
/// folds into the Latin range), paths, queries, parentheses, `@`, digits,
/// spaces, protocols, a character outside the BMP.
const PIECES: &[&str] = &[
    "a",
    "b",
    "x",
    "ab",
    "co",
    "com",
    "COM",
    "jp",
    "io",
    "t",
    "org",
    "xn--",
    "p1ai",
    "xn--p1ai",
    "中国",
    "рф",
    "РФ",
    "भारत",
    "म्",
    "嘉里",
    "大酒店",
    "onion",
    "llc",
    ".",
    ".",
    ".",
    "..",
    "-",
    "_",
    "/",
    "/",
    "?",
    "#",
    "=",
    "&",
    "(",
    ")",
    "@",
    "+",
    ":",
    "80",
    "1",
    " ",
    "http://",
    "https://",
    "HTTP://",
    "t.co/",
    "中",
    "é",
    "ι",
    "Ι",
    "ß",
    "!",
    ",",
    "'",
    "~",
    "$",
    "\u{202A}",
    "\u{3002}",
    "\u{1F600}",
    "\u{2013}",
    "a.com",
    "b.co",
    ".com",
    ".jp",
];

fn url_ish_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..14).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_extractor_finds_what_the_regex_finds(text in url_ish_text()) {
        prop_assert_eq!(fast_extract(&text), reference_extract(&text), "text {:?}", text);
    }

    #[test]
    fn paths_and_queries_end_where_the_regex_ends_them(
        host in prop::sample::select(&["x.com", "https://x.com", "t.co", "https://t.co", "x.com:80"][..]),
        pieces in prop::collection::vec(prop::sample::select(&[
            "a", "Z", "1", "(", ")", "(", ")", "!", ".", "-", "_", "é", "ι", "ж", "@", "/", "?", "=", "#", ",", "&", "+",
            "b(c)", "(d)", "((e))", "\u{2013}", "%", "~", " ",
        ][..]), 0..16),
    ) {
        let text = format!("{host}/{}", pieces.concat());
        prop_assert_eq!(fast_extract(&text), reference_extract(&text), "text {:?}", text);
    }

    #[test]
    fn runs_of_labels_are_split_as_the_regex_splits_them(
        labels in prop::collection::vec(prop::sample::select(&["a", "b-c", "d_e", "com", "co", "jp", "中", "xn--a", "-", ""][..]), 1..12),
        lead in prop::sample::select(&["", " ", "http://", "@", "-", "中"][..]),
        tail in prop::sample::select(&["", "/", "/p(q)", "?a=1", ":8/x", "_", "-", "@"][..]),
    ) {
        let text = format!("{lead}{}{tail}", labels.join("."));
        prop_assert_eq!(fast_extract(&text), reference_extract(&text), "text {:?}", text);
    }
}
