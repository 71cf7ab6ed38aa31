//! URL extraction: twitter-text's `extractUrlsWithIndices`
//! (js/src/extractUrlsWithIndices.js) with its default options, in linear
//! time.
//!
//! twitter-text runs the global regex `extractUrl` (js/src/regexp/
//! extractUrl.js) with `exec` in a loop and checks each match. Its
//! backtracking costs time quadratic in a run of labels such as `a.a.a…`:
//! at each start the regex reads every following label before it backs
//! off. This module computes the same matches without backtracking:
//!
//! * Which domain the regex matches from each position is computed once
//!   for all positions, right to left ([`domain_ends`]).
//! * The path and query that follow are scanned forward once, with what
//!   the regex's backtracking would settle on worked out in closed form
//!   ([`path_end`], [`query_end`]).
//! * The search then moves left to right as `exec` does, resuming after
//!   each match, accepted or not.
//!
//! Everything works on UTF-16 code units, as JavaScript's regexes without
//! the `u` flag do, and every index is a UTF-16 index.
//!
//! twitter-text's Java library has a different URL regex (non-ASCII
//! domains only after a protocol, an atomic subdomain group, no split of a
//! protocol-less domain into its ASCII parts) and checks hosts with
//! `java.net.IDN`. X's figures come from the JavaScript library, so this
//! follows JavaScript throughout.

use crate::classes::{
    ascii_domain_char, digit, domain_char, label_char, path_char, path_ending_char, preceding,
    query_char, query_ending_char, starts_with_ignore_case, tco_slug_char,
};
use crate::{punycode, tld};
use std::ops::Range;

/// The longest URL, with its protocol, that twitter-text extracts.
const MAX_URL_LENGTH: usize = 4096;
/// The longest t.co slug it accepts.
const MAX_TCO_SLUG_LENGTH: usize = 40;
/// The protocol assumed for a URL written without one: `https://`.
const DEFAULT_PROTOCOL_LENGTH: usize = 8;
/// "No domain from here".
const NONE: u32 = u32::MAX;

const DOT: u16 = b'.' as u16;
const SLASH: u16 = b'/' as u16;
const COLON: u16 = b':' as u16;
const QUESTION: u16 = b'?' as u16;
const UNDERSCORE: u16 = b'_' as u16;
const OPEN: u16 = b'(' as u16;
const CLOSE: u16 = b')' as u16;

/// A URL found in a text, as twitter-text's `extractUrlsWithIndices`
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlEntity {
    /// The URL as X reads it: the text's characters from `start`, except
    /// where a URL without a protocol has a domain of which only parts are
    /// ASCII domains (`中国.example.com`, `日本語example.jp`): each ASCII
    /// part is then a URL of its own, and the last one takes the port,
    /// path and query, if there is a path.
    pub url: String,
    /// Where it starts in the text, in UTF-16 code units, as X reports it.
    /// (For such an ASCII part twitter-text looks its text up again with
    /// `indexOf`, which can find it earlier in the domain: in
    /// `b.comz中b.com` the regex finds `b.com` at 7, and X reports it at 0,
    /// and counts 23 from there; so does this.)
    pub start: usize,
    /// Where it ends (exclusive), in UTF-16 code units.
    pub end: usize,
}

/// A URL found in UTF-16 text: `t[head] + t[tail]` is its text (the tail
/// being the path after an ASCII domain cut out of a longer domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    head: Range<usize>,
    tail: Range<usize>,
}

impl Found {
    /// The length of its text in UTF-16 code units (what parseTweet skips).
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn entity(&self, t: &[u16]) -> UrlEntity {
        let units: Vec<u16> = t[self.head.clone()]
            .iter()
            .chain(&t[self.tail.clone()])
            .copied()
            .collect();
        UrlEntity {
            url: String::from_utf16_lossy(&units),
            start: self.start,
            end: self.end,
        }
    }
}

/// The URLs in `text` that X recognises, with and without a protocol, in
/// the order and with the UTF-16 indices that twitter-text's
/// `extractUrlsWithIndices` gives. Each of them weighs 23 in a post
/// whatever its length. The text is taken as it is (X normalises a post to
/// NFC before it looks for URLs; [`crate::count`] does so).
pub fn extract_urls(text: &str) -> Vec<UrlEntity> {
    let t: Vec<u16> = text.encode_utf16().collect();
    find_urls(&t).iter().map(|found| found.entity(&t)).collect()
}

/// [`extract_urls`] on UTF-16 text.
pub(crate) fn find_urls(t: &[u16]) -> Vec<Found> {
    let mut urls = Vec::new();
    // extractUrlsWithIndices's shortcut: no dot, no URL.
    if !t.contains(&DOT) {
        return urls;
    }
    let domains = domain_ends(t);
    let mut from = 0;
    while let Some(found) = next_match(t, &domains, from) {
        // `exec` resumes where its match ended, whatever became of it.
        from = found.end;
        accept(t, &found, &mut urls);
    }
    urls
}

/// One match of the `extractUrl` regex.
struct Match {
    /// `$2`, the character before the URL, or `None` where it matched `^`.
    before: Option<u16>,
    /// Where `$3`, the URL, starts.
    start: usize,
    /// The length of `$4`, the protocol, if any.
    protocol: Option<usize>,
    /// `$5`, the domain.
    domain: Range<usize>,
    /// Whether `$7`, the path, matched.
    path: bool,
    /// Where the match ends.
    end: usize,
}

/// For each position `p` of `t` (and `t.len()`), where the regex's
/// `validDomain` ends if tried at `p`, or [`NONE`].
///
/// validDomain is `validSubdomain* validDomainName (gTLD | ccTLD |
/// punycode)`. A label cannot hold a `.`, so a subdomain at `p` can only
/// end at the first `.` after it; the greedy star takes the whole chain of
/// such labels `p0 = p, p1, … pK` and then gives them back one by one,
/// trying a domain name (a subdomain without `_`) at `pm` and a TLD at
/// `pm+1` for `m = K-1` down to 0. The first that matches is the match.
/// So the domain from `p` ends where the domain from the next label
/// (`p1`) ends, if that exists, and otherwise where the TLD after `p`'s
/// label ends if `p`'s label is a domain name.
fn domain_ends(t: &[u16]) -> Vec<u32> {
    let n = t.len();
    let mut ends = vec![NONE; n + 1];
    // The end of the run of label characters from p, and the first `_`
    // at or after p.
    let (mut run_end, mut underscore) = (n, n);
    // The last TLD looked up: every position of a label shares its next.
    let mut memo: Option<(usize, u32)> = None;
    for p in (0..n).rev() {
        let c = t[p];
        if !label_char(c) {
            run_end = p;
        }
        if c == UNDERSCORE {
            underscore = p;
        }
        let subdomain = run_end > p
            && run_end < n
            && t[run_end] == DOT
            && domain_char(c)
            && domain_char(t[run_end - 1]);
        if !subdomain {
            continue;
        }
        let next = run_end + 1;
        ends[p] = if ends[next] != NONE {
            ends[next]
        } else if underscore >= run_end {
            match memo {
                Some((at, end)) if at == next => end,
                _ => {
                    let end = tld::match_at(t, next, n).map_or(NONE, |end| end as u32);
                    memo = Some((next, end));
                    end
                }
            }
        } else {
            NONE
        };
    }
    ends
}

/// The first match of the regex at or after `from`, as `exec` with
/// `lastIndex = from` finds it. At each start `i` the regex's preceding
/// character alternatives are tried in order: the character at `i` (the
/// URL then starts at `i + 1`), then `^` (only at 0, the URL starting
/// there).
fn next_match(t: &[u16], domains: &[u32], from: usize) -> Option<Match> {
    for i in from..t.len() {
        if preceding(t[i])
            && let Some(found) = url_at(t, domains, i + 1, Some(t[i]))
        {
            return Some(found);
        }
        if i == 0
            && let Some(found) = url_at(t, domains, 0, None)
        {
            return Some(found);
        }
    }
    None
}

/// `$3` of the regex tried at `start`: `(https?:\/\/)?`, the domain, then
/// the optional port, path and query. Everything after the domain is
/// optional, so the first domain that matches makes the match, and each
/// optional part then takes what its greedy match settles on.
fn url_at(t: &[u16], domains: &[u32], start: usize, before: Option<u16>) -> Option<Match> {
    let protocol = if starts_with_ignore_case(&t[start..], b"https://") {
        Some(8)
    } else if starts_with_ignore_case(&t[start..], b"http://") {
        Some(7)
    } else {
        None
    };
    let (protocol, domain_start) = match protocol {
        Some(length) if domains[start + length] != NONE => (Some(length), start + length),
        // Without the protocol the domain would start at `http`, which is
        // followed by `:`, not a label's `.`: this fails, as the regex's
        // backtracking does, but is tried for fidelity.
        _ => (None, start),
    };
    let domain_end = domains[domain_start];
    if domain_end == NONE {
        return None;
    }
    let n = t.len();
    let mut end = domain_end as usize;
    // (?::([0-9]+))?
    if end < n && t[end] == COLON {
        let digits = t[end + 1..].iter().take_while(|&&c| digit(c)).count();
        if digits > 0 {
            end += 1 + digits;
        }
    }
    // (\/validUrlPath*)?
    let path = end < n && t[end] == SLASH;
    if path {
        end = path_end(t, end + 1);
    }
    // (\?validUrlQueryChars*validUrlQueryEndingChars)?
    if end < n
        && t[end] == QUESTION
        && let Some(query) = query_end(t, end, n)
    {
        end = query;
    }
    Some(Match {
        before,
        start,
        protocol,
        domain: domain_start..domain_end as usize,
        path,
        end,
    })
}

/// Where `validUrlPath*` ends from `q` (just after the path's `/`).
///
/// validUrlPath.js reads `GP* (BP GP*)* END | @GP+/` with GP the general
/// path characters, BP a balanced parenthesis group (one level of
/// nesting) and END validUrlPathEndingChars.js — but that file's source,
/// `[endChars]|(?:BP)`, is pasted into the group without parentheses of
/// its own, so the regex is really `GP* (BP GP*)* [endChars] | BP |
/// @GP+/`. Where a BP starts it has one possible extent. So one
/// repetition from `p`: the greedy parts take the whole chain of GP runs
/// and BPs from `p`, and backtracking gives them back until an ending
/// character can match: the repetition ends after the chain's last ending
/// character outside the groups; failing that, it is a lone BP at `p`
/// (`@GP+/` could only match where the first alternative does). The
/// chain from any point of it is the rest of the same chain, so the
/// repetitions take the chain up to its last ending character, then every
/// BP that follows it directly, one per repetition.
fn path_end(t: &[u16], q: usize) -> usize {
    let n = t.len();
    let (mut pos, mut end) = (q, q);
    loop {
        while pos < n && path_char(t[pos]) {
            if path_ending_char(t[pos]) {
                end = pos + 1;
            }
            pos += 1;
        }
        match balanced_parens_end(t, pos) {
            Some(group_end) => {
                if pos == end {
                    end = group_end;
                }
                pos = group_end;
            }
            None => return end,
        }
    }
}

/// Where validUrlBalancedParens, `\((?:GP+|GP*\(GP+\)GP*)\)`, ends if it
/// matches at `pos`. Each GP run can only be taken whole (a shorter one
/// leaves a path character where a parenthesis must be), so there is one
/// possible extent.
fn balanced_parens_end(t: &[u16], pos: usize) -> Option<usize> {
    let n = t.len();
    let run_end = |from: usize| from + t[from..].iter().take_while(|&&c| path_char(c)).count();
    if pos >= n || t[pos] != OPEN {
        return None;
    }
    let inner = run_end(pos + 1);
    if inner > pos + 1 && inner < n && t[inner] == CLOSE {
        return Some(inner + 1);
    }
    if inner < n && t[inner] == OPEN {
        let nested = run_end(inner + 1);
        if nested > inner + 1 && nested < n && t[nested] == CLOSE {
            let after = run_end(nested + 1);
            if after < n && t[after] == CLOSE {
                return Some(after + 1);
            }
        }
    }
    None
}

/// Where `\?QC*QE` ends from the `?` at `pos`, within `t[..limit]`: after
/// the last query-ending character of the run of query characters, the
/// greedy `QC*` having given back the rest.
fn query_end(t: &[u16], pos: usize, limit: usize) -> Option<usize> {
    let mut end = None;
    for (i, &c) in t[pos + 1..limit].iter().enumerate() {
        if !query_char(c) {
            break;
        }
        if query_ending_char(c) {
            end = Some(pos + 1 + i + 1);
        }
    }
    end
}

/// The checks extractUrlsWithIndices makes of a match before it keeps
/// it, and the URLs it then records.
fn accept(t: &[u16], m: &Match, urls: &mut Vec<Found>) {
    let domain = &t[m.domain.clone()];
    let ascii = || ascii_domains(domain);
    // isValidUrl (in extractUrlsWithIndices.js): idna.toAscii, then the
    // length. idna.toAscii returns the domain unchanged (it only checks
    // the labels), so the length compared is the URL's own plus the
    // protocol's (or `https://`'s) length once more: a URL with a
    // protocol may have 4096 - 2 × its protocol's length characters in
    // all. (Java counts the punycode-encoded host and the protocol once;
    // this follows JavaScript.)
    if !domain_fits_dns(domain, ascii) {
        return;
    }
    let url_length = m.end - m.start;
    if m.protocol.unwrap_or(DEFAULT_PROTOCOL_LENGTH) + url_length > MAX_URL_LENGTH {
        return;
    }
    match m.protocol {
        None => {
            // invalidUrlWithoutProtocolPrecedingChars: /[-_.\/]$/ on `$2`.
            if m.before
                .is_some_and(|c| matches!(c, 0x2D | 0x5F | 0x2E | 0x2F))
            {
                return;
            }
            // Only the ASCII domains within the domain are URLs:
            // `domain.replace(validAsciiDomain, …)`, each placed with
            // `domain.indexOf(asciiDomain, asciiEndPosition)`, which can
            // find the same text earlier than the regex did; X reports
            // that place, and so does this.
            let found = ascii();
            let mut search_from = 0;
            let first_new = urls.len();
            for &(start, end) in &found {
                let needle = &domain[start..end];
                let at = index_of(domain, needle, search_from).unwrap_or(start);
                search_from = at + needle.len();
                urls.push(Found {
                    start: m.start + at,
                    end: m.start + search_from,
                    head: m.domain.start + start..m.domain.start + end,
                    tail: 0..0,
                });
            }
            // The last one gets the port, path and query, if there is a
            // path: `url.replace(domain, lastUrl.url)`.
            if m.path
                && let Some(last) = urls[first_new..].last_mut()
            {
                last.tail = m.domain.end..m.end;
                last.end = m.end;
            }
        }
        Some(protocol) => {
            let mut end = m.end;
            // validTcoUrl: a t.co URL keeps only its slug and query.
            let slug = m.start + protocol + 5;
            if starts_with_ignore_case(&t[m.start + protocol..m.end], b"t.co/") {
                let slug_length = t[slug..m.end]
                    .iter()
                    .take_while(|&&c| tco_slug_char(c))
                    .count();
                if slug_length > 0 {
                    if slug_length > MAX_TCO_SLUG_LENGTH {
                        return;
                    }
                    end = slug + slug_length;
                    if end < m.end
                        && t[end] == QUESTION
                        && let Some(query) = query_end(t, end, m.end)
                    {
                        end = query;
                    }
                }
            }
            urls.push(Found {
                start: m.start,
                end,
                head: m.start..end,
                tail: 0..0,
            });
        }
    }
}

/// idna.toAscii's checks: a domain starting `xn--` must hold an ASCII
/// domain, and every label must be 1 to 63 characters long once
/// punycode-encoded.
fn domain_fits_dns(domain: &[u16], ascii: impl FnOnce() -> Vec<(usize, usize)>) -> bool {
    if domain.starts_with(&[0x78, 0x6E, 0x2D, 0x2D]) && ascii().is_empty() {
        return false;
    }
    domain.split(|&c| c == DOT).all(punycode::label_fits)
}

/// The matches of the global regex validAsciiDomain.js,
/// `(?:(?:[\-a-z0-9latin]+)\.)+(?:gTLD|ccTLD|punycode)` with the `i`
/// flag, in `domain` (the TLD lookahead's `$` being the domain's end), as
/// `[start, end)` pairs, by the same right-to-left reckoning as
/// [`domain_ends`]: the labels from a start must each end at the next
/// `.`, and the greedy `+` backs off from the last label to the first.
fn ascii_domains(domain: &[u16]) -> Vec<(usize, usize)> {
    let n = domain.len();
    // run_end[p]: the end of the run of ASCII-domain label characters at p.
    let mut run_end = vec![0u32; n + 1];
    run_end[n] = n as u32;
    for p in (0..n).rev() {
        run_end[p] = if ascii_domain_char(domain[p]) {
            run_end[p + 1]
        } else {
            p as u32
        };
    }
    // The position after the label at p and its `.`, if there is one.
    let next = |p: usize| {
        let end = run_end[p] as usize;
        (end > p && end < n && domain[end] == DOT).then_some(end + 1)
    };
    // ends[a], for a just after a `.`: where the match ends if its
    // labels run up to a (at least), or NONE.
    let mut ends = vec![NONE; n + 1];
    for a in (1..=n).rev() {
        if domain[a - 1] != DOT {
            continue;
        }
        let deeper = next(a).map_or(NONE, |b| ends[b]);
        ends[a] = if deeper != NONE {
            deeper
        } else {
            tld::match_at(domain, a, n).map_or(NONE, |end| end as u32)
        };
    }
    let mut found = Vec::new();
    let mut p = 0;
    while p < n {
        match next(p).map(|a| ends[a]) {
            Some(end) if end != NONE => {
                found.push((p, end as usize));
                p = end as usize;
            }
            _ => p += 1,
        }
    }
    found
}

/// JavaScript's `haystack.indexOf(needle, from)`, in linear time
/// (Knuth–Morris–Pratt).
fn index_of(haystack: &[u16], needle: &[u16], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from.min(haystack.len()));
    }
    let mut failure = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = failure[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        failure[i] = k;
    }
    let mut k = 0;
    for (i, &c) in haystack.iter().enumerate().skip(from) {
        while k > 0 && c != needle[k] {
            k = failure[k - 1];
        }
        if c == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<(String, usize, usize)> {
        extract_urls(text)
            .into_iter()
            .map(|u| (u.url, u.start, u.end))
            .collect()
    }

    fn one(url: &str, start: usize, end: usize) -> Vec<(String, usize, usize)> {
        vec![(url.to_owned(), start, end)]
    }

    #[test]
    fn the_domain_is_the_longest_chain_of_labels_that_ends_in_a_tld() {
        assert_eq!(urls("a.b.com"), one("a.b.com", 0, 7));
        assert_eq!(urls("a.com.b"), one("a.com", 0, 5));
        assert_eq!(urls("a.com_foo"), one("a.com", 0, 5));
        assert_eq!(urls("a.comx"), vec![]);
        assert_eq!(urls("x a_b.com"), vec![]);
        // Without a protocol only the ASCII domain in it is a URL.
        assert_eq!(urls("x a_b.c.com"), one("b.c.com", 4, 11));
        assert_eq!(urls("http://a_b.c.com"), one("http://a_b.c.com", 0, 16));
    }

    #[test]
    fn an_ascii_domain_found_again_earlier_is_placed_where_index_of_finds_it() {
        // The regex finds b.com at 6; indexOf finds it at 0.
        assert_eq!(urls("b.comz中b.com"), one("b.com", 0, 5));
    }

    #[test]
    fn paths_end_on_their_last_ending_character_or_parenthesis_group() {
        assert_eq!(urls("x.com/a!"), one("x.com/a", 0, 7));
        assert_eq!(urls("x.com/(a)!"), one("x.com/(a)", 0, 9));
        assert_eq!(urls("x.com/a(b(c)d)e!"), one("x.com/a(b(c)d)e", 0, 15));
        assert_eq!(urls("x.com/a(b(c(d)))"), one("x.com/a", 0, 7));
        // A group counts as an end only right after the last ending
        // character (validUrlPathEndingChars.js's `|` is unparenthesised).
        assert_eq!(
            urls("https://x.com/-.(_!))+"),
            one("https://x.com/-", 0, 15)
        );
        assert_eq!(urls("x.com/a(b)(c)!(d)"), one("x.com/a(b)(c)", 0, 13));
        assert_eq!(urls("x.com/!!"), one("x.com/", 0, 6));
    }

    #[test]
    fn index_of_finds_the_first_occurrence_from_a_place() {
        let h: Vec<u16> = "abcabcab".encode_utf16().collect();
        let n: Vec<u16> = "cab".encode_utf16().collect();
        assert_eq!(index_of(&h, &n, 0), Some(2));
        assert_eq!(index_of(&h, &n, 3), Some(5));
        assert_eq!(index_of(&h, &n, 6), None);
    }
}
